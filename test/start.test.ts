/** `npm start` as a user runs it: the real entry point in a child process. */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { TestPhone } from './helpers/sipPhone.ts';

const children: ChildProcess[] = [];
after(() => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
});

function start(env: Record<string, string>) {
  const child = spawn(process.execPath, ['--import', 'tsx', 'server/main.ts'], {
    env: { ...process.env, LOG_PRETTY: 'false', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  const waitFor = async (re: RegExp, ms = 15000) => {
    const end = Date.now() + ms;
    while (!re.test(out)) {
      if (Date.now() > end || child.exitCode !== null) throw new Error(`did not see ${re}; output:\n${out}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  return { child, exited, waitFor, output: () => out };
}

test('starts, says where the data lives, answers SIP and HTTP, and stops cleanly on SIGTERM', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'sw-start-'));
  const sipPort = 20000 + Math.floor(Math.random() * 20000);
  // TLS and HTTPS on ports of their own choosing: the defaults (5061, 8443) may be another test's.
  const s = start({ DATA_DIR: dir, SIP_PORT: String(sipPort), HTTP_PORT: String(sipPort + 1), SIP_TLS_PORT: '0', HTTPS_PORT: '0', SIP_DOMAIN: '127.0.0.1' });
  await s.waitFor(/switch ready/);
  assert.match(s.output(), new RegExp(`data lives in SQLite file ${path.join(dir, 'switch.sqlite').replace(/[/.]/g, '\\$&')}`));
  const health = await fetch(`http://127.0.0.1:${sipPort + 1}/healthz`);
  assert.equal(health.status, 200);
  const p = await TestPhone.open('udp', sipPort);
  assert.equal((await p.request({ method: 'OPTIONS' })).status, 200);
  p.close();
  s.child.kill('SIGTERM');
  assert.equal(await s.exited, 0);
  assert.match(s.output(), /stopped/);
  rmSync(dir, { recursive: true, force: true });
});

test('refuses to start when the data directory is not writable', async () => {
  const s = start({ DATA_DIR: '/etc/hostname/sipswitch-data', SIP_PORT: '0', HTTP_PORT: '0' });
  assert.notEqual(await s.exited, 0);
  assert.match(s.output(), /DATA_DIR: \/etc\/hostname\/sipswitch-data is not writable/);
});

test('refuses to start with invalid configuration, naming the setting', async () => {
  const s = start({ SIP_PORT: 'seventy', SIP_DIGEST_ALGORITHMS: 'SHA-1' });
  assert.equal(await s.exited, 2);
  assert.match(s.output(), /SIP_PORT/);
  assert.match(s.output(), /SIP_DIGEST_ALGORITHMS/);
});
