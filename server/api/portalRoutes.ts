/**
 * The portal's static files (web/dist, built by `npm run build`). Its pages carry a content
 * security policy that allows only our own scripts, styles and connections: no inline script can
 * run even if some text slipped into the page unescaped. The portal routes on the client, so any
 * GET outside /api that names no file gets index.html.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import express, { Router, type Response } from 'express';

export const PORTAL_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

const setPageHeaders = (res: Response) => {
  res.set('Content-Security-Policy', PORTAL_CSP);
  res.set('Referrer-Policy', 'same-origin');
};

export function portalRoutes(dir: string): Router {
  const r = Router();
  const index = path.join(dir, 'index.html');

  // Vite names assets by content hash, so they never change under the same name.
  r.use('/assets', express.static(path.join(dir, 'assets'), { immutable: true, maxAge: '1y', index: false }));
  r.use('/assets', (_req, res) => void res.status(404).type('text/plain').send('no such asset\n'));
  r.use(express.static(dir, { index: false, setHeaders: setPageHeaders }));

  r.use((req, res, next) => {
    if ((req.method !== 'GET' && req.method !== 'HEAD') || req.path === '/api' || req.path.startsWith('/api/')) return next();
    if (!existsSync(index)) {
      res.type('text/plain').send('The switch is running. The portal has not been built (npm run build); the JSON API is at /api/v1.\n');
      return;
    }
    setPageHeaders(res);
    // The page names the current asset hashes: always revalidate it.
    res.set('Cache-Control', 'no-cache');
    res.sendFile(index);
  });
  return r;
}
