/**
 * `npm run bench`: the benchmarks, one after another, each bounded in time. Results go to
 * bench-results/ (not committed). `--mysql` also runs the register bench on MySQL (MYSQL_URL).
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { registerBench } from './register.ts';

const args = process.argv.slice(2);

// One bench failing must not keep the others from running; the exit code still reports it.
try {
  await registerBench({ mysql: args.includes('--mysql') });
} catch (err) {
  console.error(`register bench failed: ${(err as Error).stack ?? String(err)}`);
  process.exitCode = 1;
}

// Further benchmarks go here, each bounded like the ones above.
await import('./cdrs.ts').then((m) => m.cdrBench({ mysql: args.includes('--mysql') })).catch((err: unknown) => { console.error(`cdr bench failed: ${(err as Error).stack ?? String(err)}`); process.exitCode = 1; });
await import('./calls.ts').then((m) => m.callsBench()).catch((err: unknown) => { console.error(`calls bench failed: ${(err as Error).stack ?? String(err)}`); process.exitCode = 1; });

// Owned and run on its own by the dialplan work; a process of its own keeps its state out of ours.
const dialplan = fileURLToPath(new URL('./dialplan.ts', import.meta.url));
if (existsSync(dialplan)) {
  console.log('\n# bench/dialplan.ts');
  const child = spawn(process.execPath, ['--import', 'tsx', dialplan], { stdio: 'inherit' });
  const term = setTimeout(() => {
    child.kill('SIGTERM');
    setTimeout(() => child.kill('SIGKILL'), 5000).unref();
  }, 10 * 60_000);
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  clearTimeout(term);
  if (code !== 0) {
    console.error(`bench/dialplan.ts exited with ${code}`);
    process.exitCode = 1;
  }
}
