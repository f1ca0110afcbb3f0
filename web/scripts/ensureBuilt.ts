/**
 * Builds the portal when web/dist is missing or older than its sources, so `npm start` (its
 * prestart) and the browser tests serve what the sources say, and an up-to-date build costs only a
 * few file stats. Run directly: `tsx web/scripts/ensureBuilt.ts`.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const WEB = fileURLToPath(new URL('..', import.meta.url));
const REPO = path.dirname(WEB);
export const PORTAL_INDEX = path.join(WEB, 'dist', 'index.html');

/** Everything the build reads besides node_modules. */
const INPUTS = [
  path.join(WEB, 'src'),
  path.join(WEB, 'public'),
  path.join(WEB, 'scripts'),
  path.join(WEB, 'index.html'),
  path.join(WEB, 'vite.config.ts'),
  path.join(REPO, 'contract'),
  path.join(REPO, 'package-lock.json'),
];

function newestMtime(p: string): number {
  if (!existsSync(p)) return 0;
  const s = statSync(p);
  if (!s.isDirectory()) return s.mtimeMs;
  let newest = s.mtimeMs;
  for (const entry of readdirSync(p)) newest = Math.max(newest, newestMtime(path.join(p, entry)));
  return newest;
}

export function portalIsStale(): boolean {
  if (!existsSync(PORTAL_INDEX)) return true;
  const built = statSync(PORTAL_INDEX).mtimeMs;
  return INPUTS.some((p) => newestMtime(p) > built);
}

/** Builds with web/vite.config.ts if the build is stale; resolves true when it built. */
export async function ensurePortalBuilt(): Promise<boolean> {
  if (!portalIsStale()) return false;
  const { build } = await import('vite');
  await build({ configFile: path.join(WEB, 'vite.config.ts'), logLevel: 'warn' });
  return true;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  if (await ensurePortalBuilt()) console.log('portal built into web/dist');
}
