/** Builds the portal (web/) into web/dist, which the switch serves. `npm run build`. */
import { fileURLToPath } from 'node:url';
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';
import { bundleSize } from './scripts/bundleSize.ts';

const webDir = fileURLToPath(new URL('.', import.meta.url));
const repoDir = fileURLToPath(new URL('..', import.meta.url));

export default defineConfig({
  root: webDir,
  plugins: [react(), bundleSize()],
  // The server puts a fresh nonce here in every page it serves (server/api/portalRoutes.ts); the
  // dialplan editor's style elements carry it, as the page's content security policy demands.
  html: { cspNonce: 'SIPSWITCH_CSP_NONCE' },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    // The dialplan editor (CodeMirror) is one lazily loaded chunk of about 400 kB.
    chunkSizeWarningLimit: 600,
  },
  server: {
    // `npx vite --config web/vite.config.ts` for development, against a switch on the default port.
    proxy: { '/api': 'http://127.0.0.1:8080' },
    // The editor imports the dialplan API's declaration file from server/.
    fs: { allow: [repoDir] },
  },
});
