/**
 * A Vite plugin that prints the portal's size after a build: everything in web/dist, and what a
 * browser loads before the first page shows (the entry chunk, its static imports and their CSS);
 * the rest (the dialplan editor) loads on demand.
 */
import { gzipSync } from 'node:zlib';
import type { Plugin } from 'vite';

interface Output {
  type: 'chunk' | 'asset';
  fileName: string;
  isEntry?: boolean;
  imports?: string[];
  code?: string;
  source?: string | Uint8Array;
  viteMetadata?: { importedCss: Set<string> };
}

const kB = (n: number) => `${(n / 1024).toFixed(1)} kB`;

function sizes(files: Output[]): { raw: number; gzip: number } {
  let raw = 0;
  let gzip = 0;
  for (const f of files) {
    const bytes = Buffer.from(f.type === 'chunk' ? (f.code ?? '') : (f.source ?? ''));
    raw += bytes.length;
    gzip += gzipSync(bytes).length;
  }
  return { raw, gzip };
}

/** The files loaded before the first paint: index.html, the entry chunk, its static imports, their CSS. */
function firstLoad(bundle: Record<string, Output>): Output[] {
  const seen = new Set<string>();
  const visit = (name: string) => {
    const f = bundle[name];
    if (!f || seen.has(name)) return;
    seen.add(name);
    for (const css of f.viteMetadata?.importedCss ?? []) seen.add(css);
    for (const i of f.imports ?? []) visit(i);
  };
  for (const f of Object.values(bundle)) if (f.type === 'chunk' && f.isEntry) visit(f.fileName);
  if (bundle['index.html']) seen.add('index.html');
  return [...seen].map((n) => bundle[n]).filter((f): f is Output => Boolean(f));
}

export function bundleSize(): Plugin {
  return {
    name: 'sipswitch-bundle-size',
    apply: 'build',
    writeBundle(_options, bundle) {
      const all = Object.values(bundle as unknown as Record<string, Output>);
      const total = sizes(all);
      const first = sizes(firstLoad(bundle as unknown as Record<string, Output>));
      console.log(
        `\nportal bundle: ${all.length} files, ${kB(total.raw)} (${kB(total.gzip)} gzip); ` +
          `loaded first: ${kB(first.raw)} (${kB(first.gzip)} gzip); the dialplan editor loads on demand\n`,
      );
    },
  };
}
