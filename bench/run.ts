/**
 * `npm run bench`: the benchmarks, one after another, each bounded in time. Results go to
 * bench-results/ (not committed). `--mysql` also runs the register bench on MySQL (MYSQL_URL).
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { WORKER_EXEC_ARGV } from '../server/dialplan/workerProcess.ts';
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
await import('./cdrs.ts')
  .then((m) => m.cdrBench({ mysql: args.includes('--mysql') }))
  .catch((err: unknown) => {
    console.error(`cdr bench failed: ${(err as Error).stack ?? String(err)}`);
    process.exitCode = 1;
  });
await import('./calls.ts')
  .then((m) => m.callsBench())
  .catch((err: unknown) => {
    console.error(`calls bench failed: ${(err as Error).stack ?? String(err)}`);
    process.exitCode = 1;
  });
await import('./tls.ts')
  .then((m) => m.tlsBench())
  .catch((err: unknown) => {
    console.error(`tls bench failed: ${(err as Error).stack ?? String(err)}`);
    process.exitCode = 1;
  });
await import('./media.ts')
  .then((m) => m.mediaBench())
  .catch((err: unknown) => {
    console.error(`media bench failed: ${(err as Error).stack ?? String(err)}`);
    process.exitCode = 1;
  });

// The dialplan benches run in processes of their own, which keeps their state out of ours.
await runInOwnProcess('./dialplan.ts', ['--import', 'tsx']);
// The floor under the engine: isolated-vm alone, with the workers' V8 flags.
await runInOwnProcess('./isolateFloor.ts', WORKER_EXEC_ARGV);

/** Runs a bench file in a child process, bounded to 10 minutes; a non-zero exit fails `npm run bench`. */
async function runInOwnProcess(relative: string, execArgv: string[]): Promise<void> {
  const file = fileURLToPath(new URL(relative, import.meta.url));
  console.log(`\n# bench/${relative.slice(2)}`);
  const child = spawn(process.execPath, [...execArgv, file], { stdio: 'inherit' });
  const term = setTimeout(() => {
    child.kill('SIGTERM');
    setTimeout(() => child.kill('SIGKILL'), 5000).unref();
  }, 10 * 60_000);
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  clearTimeout(term);
  if (code !== 0) {
    console.error(`bench/${relative.slice(2)} exited with ${code}`);
    process.exitCode = 1;
  }
}
