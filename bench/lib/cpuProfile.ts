/**
 * V8 CPU profiles of a process's main thread, through the inspector (open them in Chrome DevTools).
 * `profileThisProcess()` profiles the calling process. Imported into a child process with
 * `NODE_OPTIONS="--import=tsx --import=<this file>"` and CPU_PROFILE_DIR set, it lets the parent
 * drive the child: the first SIGUSR2 starts the profile, the second writes it to CPU_PROFILE_DIR
 * and ends the process (for children that are otherwise only ever SIGKILLed, such as dialplan
 * workers, which `--cpu-prof` would never get to write).
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import path from 'node:path';

export interface CpuProfiler {
  /** Writes the profile as `<dir>/<name>-<pid>.cpuprofile` and returns its path. */
  stop(): Promise<string>;
}

export function profileThisProcess(dir: string, name: string): CpuProfiler {
  const session = new Session();
  session.connect();
  const post = (method: string, params?: object) => new Promise<unknown>((resolve, reject) => session.post(method, params, (err, result) => (err ? reject(err) : resolve(result))));
  const started = post('Profiler.enable').then(() => post('Profiler.start'));
  return {
    async stop() {
      await started;
      const { profile } = (await post('Profiler.stop')) as { profile: unknown };
      session.disconnect();
      const file = path.join(dir, `${name}-${process.pid}.cpuprofile`);
      writeFileSync(file, JSON.stringify(profile));
      return file;
    },
  };
}

const childDir = process.env.CPU_PROFILE_DIR;
if (childDir) {
  let profiler: CpuProfiler | null = null;
  process.on('SIGUSR2', () => {
    if (!profiler) {
      profiler = profileThisProcess(childDir, path.basename(process.argv[1] ?? 'process', '.ts'));
      return;
    }
    void profiler.stop().finally(() => process.exit(0));
  });
}
