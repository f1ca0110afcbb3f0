/**
 * The rtpengine engine's own duties: clear errors when the binary is missing, does not answer, or
 * a configured one is unreachable; the daemon it starts is stopped by PID with the engine, and one
 * a killed switch left behind is stopped at the next start; prompts play into a leg.
 */
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import { openMediaEngine } from '../../server/media/openMediaEngine.ts';
import { RtpengineProcess } from '../../server/media/rtpengine/rtpengineProcess.ts';
import { mediaSettings, skipEngine, startEngine, type TestEngine } from './engines.ts';
import { mediaTarget, RtpPhone, until } from './rtpPhone.ts';

const log = pino({ level: 'silent' });
const dirs: string[] = [];
const tempDir = () => {
  const d = mkdtempSync(path.join(tmpdir(), 'rtpengine-test-'));
  dirs.push(d);
  return d;
};
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const alive = (pid: number) => existsSync(`/proc/${pid}`) && !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));

describe('starting rtpengine fails clearly', { timeout: 30_000 }, () => {
  test('when the binary is missing: the error says what to install and what else to do', async () => {
    await assert.rejects(
      openMediaEngine(mediaSettings({ engine: 'rtpengine', rtpengine: { binary: '/nonexistent/rtpengine', ng: null } }), { log, dataDir: tempDir() }),
      /\/nonexistent\/rtpengine not found.*apt-get install rtpengine-daemon.*MEDIA_ENGINE=embedded/s,
    );
  });

  test('when a configured rtpengine does not answer its control port', async () => {
    const started = Date.now();
    await assert.rejects(
      openMediaEngine(mediaSettings({ engine: 'auto', rtpengine: { binary: 'rtpengine', ng: { host: '127.0.0.1', port: 9 } } }), { log, dataDir: tempDir() }),
      /rtpengine at 127\.0\.0\.1:9 \(RTPENGINE_NG\) does not answer/,
    );
    assert.ok(Date.now() - started < 10_000, 'bounded in time');
  });

  test('when the program started never answers ng: it is stopped, and the error shows its output', async () => {
    const dir = tempDir();
    const fake = path.join(dir, 'fake-rtpengine');
    const ownPid = path.join(dir, 'fake.pid');
    writeFileSync(fake, `#!/bin/sh\necho $$ > ${ownPid}\necho "fake daemon up, ng ignored"\nexec sleep 60\n`);
    chmodSync(fake, 0o755);
    const pidFile = path.join(dir, 'rtpengine.pid');
    await assert.rejects(
      RtpengineProcess.start({ binary: fake, bindAddress: '127.0.0.1', advertisedAddress: '127.0.0.1', portMin: 31600, portMax: 31699, pidFile, log, startTimeoutMs: 1000 }),
      /did not answer on its control port 127\.0\.0\.1:\d+.*fake daemon up/s,
    );
    assert.equal(alive(Number(readFileSync(ownPid, 'utf8'))), false, 'the program was stopped');
    assert.equal(existsSync(pidFile), false, 'no PID file is left');
  });
});

describe('the rtpengine daemon the switch starts', { skip: skipEngine('rtpengine'), timeout: 60_000 }, () => {
  test('is stopped by its PID when the engine closes', async () => {
    const t = await startEngine('rtpengine', { portMin: 31700, portMax: 31749 });
    const pidFile = path.join(t.dataDir, 'rtpengine.pid');
    const pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
    assert.ok(alive(pid));
    await t.engine.ping();
    await t.close();
    assert.equal(alive(pid), false, 'the daemon is gone');
    assert.equal(existsSync(pidFile), false);
  });

  test('goes with a switch that exits without stopping it', async () => {
    const dir = tempDir();
    const script = path.join(dir, 'exits.mts');
    const module = new URL('../../server/media/rtpengine/rtpengineProcess.ts', import.meta.url).href;
    writeFileSync(
      script,
      `import { pino } from '${import.meta.resolve('pino')}';\nimport { RtpengineProcess } from '${module}';\n` +
        `const p = await RtpengineProcess.start({ binary: 'rtpengine', bindAddress: '127.0.0.1', advertisedAddress: '127.0.0.1', portMin: 31740, portMax: 31749, pidFile: '${path.join(dir, 'rtpengine.pid')}', log: pino({ level: 'silent' }) });\n` +
        `console.log(p.pid);\nprocess.exit(0);\n`,
    );
    const { execFileSync } = await import('node:child_process');
    const pid = Number(execFileSync(process.execPath, ['--import', 'tsx', script], { cwd: process.cwd(), encoding: 'utf8', timeout: 30_000 }).trim());
    assert.ok(pid > 1);
    await until('the daemon is gone', () => !alive(pid), 5000);
  });

  test('left behind by a switch that was killed is stopped at the next start', async () => {
    const dir = tempDir();
    const pidFile = path.join(dir, 'rtpengine.pid');
    const opts = { binary: 'rtpengine', bindAddress: '127.0.0.1', advertisedAddress: '127.0.0.1', portMin: 31750, portMax: 31799, pidFile, log };
    const orphan = await RtpengineProcess.start(opts); // never stopped: as if the switch died
    const orphanPid = orphan.pid;
    const next = await RtpengineProcess.start(opts);
    try {
      await until('the orphan is gone', () => !alive(orphanPid), 5000);
      assert.ok(next.running);
      assert.equal(Number(readFileSync(pidFile, 'utf8').split('\n')[0]), next.pid);
    } finally {
      await next.stop();
      await orphan.stop();
    }
  });
});

describe('prompts played by rtpengine', { skip: skipEngine('rtpengine'), timeout: 60_000 }, () => {
  let t: TestEngine;
  before(async () => {
    t = await startEngine('rtpengine', { portMin: 31800, portMax: 31899 });
  });
  after(async () => t?.close());

  test('a WAV file plays into one leg as RTP in its codec', async () => {
    const [a, b] = [await RtpPhone.open('caller'), await RtpPhone.open('callee')];
    try {
      const wav = path.join(tempDir(), 'prompt.wav');
      writeFileSync(wav, sineWav(8000, 1));
      const callId = 'prompt-call';
      const offer = await t.engine.offer({ callId, fromTag: 'A', toTag: 'B', sdp: a.sdp() });
      const answer = await t.engine.answer({ callId, fromTag: 'A', toTag: 'B', sdp: b.sdp() });
      // Both phones send until each hears the other: the relay knows where they really are.
      await until('latched', async () => {
        await Promise.all([a.sendAudio(mediaTarget(answer).port, 1), b.sendAudio(mediaTarget(offer).port, 1)]);
        return a.received.length >= 1 && b.received.length >= 1;
      });
      const played = await t.engine.play({ callId, tag: 'A', file: wav });
      assert.ok(played.durationMs !== null && Math.abs(played.durationMs - 1000) <= 40, `duration ${played.durationMs}`);
      await until('the caller heard 40+ packets of the prompt', () => a.received.filter((r) => r.pt === 0 && r.payload.length === 160).length >= 40);
      await t.engine.delete({ callId });
    } finally {
      a.close();
      b.close();
    }
  });
});

/** A mono 16-bit PCM WAV of a 440 Hz tone. */
function sineWav(rate: number, seconds: number): Buffer {
  const samples = rate * seconds;
  const data = Buffer.alloc(samples * 2);
  for (let i = 0; i < samples; i++) data.writeInt16LE(Math.round(8000 * Math.sin((2 * Math.PI * 440 * i) / rate)), i * 2);
  const h = Buffer.alloc(44);
  h.write('RIFF', 0);
  h.writeUInt32LE(36 + data.length, 4);
  h.write('WAVEfmt ', 8);
  h.writeUInt32LE(16, 16);
  h.writeUInt16LE(1, 20);
  h.writeUInt16LE(1, 22);
  h.writeUInt32LE(rate, 24);
  h.writeUInt32LE(rate * 2, 28);
  h.writeUInt16LE(2, 32);
  h.writeUInt16LE(16, 34);
  h.write('data', 36);
  h.writeUInt32LE(data.length, 40);
  return Buffer.concat([h, data]);
}
