/** Running sipp and reading its output. */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { teeInto, track } from './processes.ts';

/** sipp's version; throws, saying how to install it, when sipp is not on PATH. */
export function requireSipp(bench: string): string {
  if (spawnSync('sipp', ['-v']).error) throw new Error(`the ${bench} bench needs sipp on PATH (apt-get install sip-tester)`);
  return /SIPp (v\S+)/.exec(spawnSync('sipp', ['-v'], { encoding: 'utf8' }).stdout)?.[1] ?? '?';
}

/**
 * Starts sipp with `args` followed by the flags every run shares (as ../shared/anchors/kamailio/run.sh):
 * timeout, 4 MB socket buffers, statistics every second into `<tag>.csv`, errors into `<tag>.err`,
 * both output streams into `<tag>.log`, all in `outDir`.
 */
export function spawnSipp(args: string[], outDir: string, tag: string, timeoutS: number): { child: ChildProcess; stf: string } {
  const stf = path.join(outDir, `${tag}.csv`);
  const child = track(
    spawn(
      'sipp',
      [
        ...args,
        '-timeout',
        `${timeoutS}s`,
        '-nostdin',
        '-buff_size',
        '4194304',
        '-max_recv_loops',
        '10000',
        '-trace_stat',
        '-fd',
        '1',
        '-stf',
        stf,
        '-trace_err',
        '-error_file',
        path.join(outDir, `${tag}.err`),
      ],
      {
        cwd: outDir,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    ),
  );
  teeInto(child, createWriteStream(path.join(outDir, `${tag}.log`)));
  return { child, stf };
}

/** The last row of a sipp -trace_stat file by column name, and the most calls in flight at any sample. */
export function sippStats(file: string): { last: Record<string, string>; peakInFlight: number } {
  if (!existsSync(file)) return { last: {}, peakInFlight: 0 };
  const rows = readFileSync(file, 'latin1')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => l.split(';'));
  const header = rows[0] ?? [];
  const current = header.indexOf('CurrentCall');
  const peakInFlight = Math.max(0, ...rows.slice(1).map((r) => Number(r[current] ?? 0)));
  const lastRow = rows.length > 1 ? rows.at(-1)! : [];
  return { last: Object.fromEntries(header.map((h, i) => [h, lastRow[i] ?? ''])), peakInFlight };
}

/** sipp's "hh:mm:ss:uuuuuu" as milliseconds. */
export function sippMs(v: string | undefined): number | null {
  const p = v?.split(':').map(Number);
  if (!p || p.length !== 4 || p.some(Number.isNaN)) return null;
  return (p[0]! * 3600 + p[1]! * 60 + p[2]!) * 1000 + p[3]! / 1000;
}
