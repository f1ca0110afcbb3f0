/**
 * The portal's static files (web/dist, built by `npm run build`). Its pages carry a content
 * security policy that allows only our own scripts, styles and connections: no inline script can
 * run even if some text slipped into the page unescaped. Style elements must carry the page's
 * nonce, fresh for every response: the dialplan editor (CodeMirror) writes its styles that way. The portal routes on the client, so any GET outside /api that names no file
 * gets index.html.
 */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import express, { Router, type RequestHandler, type Response } from 'express';

/** What Vite writes where the nonce goes (web/vite.config.ts, `html.cspNonce`). */
export const CSP_NONCE_PLACEHOLDER = 'SIPSWITCH_CSP_NONCE';

export const portalCsp = (nonce?: string) =>
  [
    "default-src 'self'",
    "script-src 'self'",
    nonce ? `style-src 'self' 'nonce-${nonce}'` : "style-src 'self'",
    // Chromium's own editing writes style attributes into the editor when a selection across lines
    // is replaced; refused, they only fill the console. A style attribute can load nothing from
    // elsewhere (img-src and font-src are 'self').
    "style-src-attr 'unsafe-inline'",
    "img-src 'self' data:",
    "font-src 'self'",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join('; ');

const setPageHeaders = (res: Response, nonce?: string) => {
  res.set('Content-Security-Policy', portalCsp(nonce));
  res.set('Referrer-Policy', 'same-origin');
};

export function portalRoutes(dir: string): Router {
  const r = Router();
  const index = path.join(dir, 'index.html');

  const servePage: RequestHandler = async (_req, res) => {
    let page: string;
    try {
      page = await readFile(index, 'utf8');
    } catch {
      res.type('text/plain').send('The switch is running. The portal has not been built (npm run build); the JSON API is at /api/v1.\n');
      return;
    }
    const nonce = randomBytes(16).toString('base64');
    setPageHeaders(res, nonce);
    // A fresh nonce per response: the page must never come from a cache.
    res.set('Cache-Control', 'no-store');
    res.type('html').send(page.replaceAll(CSP_NONCE_PLACEHOLDER, nonce));
  };

  // Vite names assets by content hash, so they never change under the same name.
  r.use('/assets', express.static(path.join(dir, 'assets'), { immutable: true, maxAge: '1y', index: false }));
  r.use('/assets', (_req, res) => void res.status(404).type('text/plain').send('no such asset\n'));
  r.get('/index.html', servePage);
  r.use(express.static(dir, { index: false, setHeaders: (res) => setPageHeaders(res) }));
  r.use((req, res, next) => {
    if ((req.method !== 'GET' && req.method !== 'HEAD') || req.path === '/api' || req.path.startsWith('/api/')) return next();
    return servePage(req, res, next);
  });
  return r;
}
