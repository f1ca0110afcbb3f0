/**
 * Loaded before every file of the fast tier (`npm run test:fast`, listed in test/fast-tier.txt):
 * those start no process (no switch, no dialplan worker, no SIP tool, no database server), which
 * is what keeps the tier fast. A file that starts one anyway fails at once, naming the command,
 * instead of slowing the tier down unnoticed.
 */
import childProcess from 'node:child_process';
import { syncBuiltinESMExports } from 'node:module';

const STARTERS = ['spawn', 'spawnSync', 'exec', 'execSync', 'execFile', 'execFileSync', 'fork'] as const;

for (const name of STARTERS) {
  Object.assign(childProcess, {
    [name]: (command: string) => {
      throw new Error(`the fast tier starts no process, and this test ran ${name}(${command}): it belongs to the full suite, not test/fast-tier.txt`);
    },
  });
}
syncBuiltinESMExports();
