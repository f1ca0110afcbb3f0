/**
 * Where the key that seals provider passwords comes from: CREDENTIALS_KEY, else a key file that a
 * first start writes (owner-only) and later starts reuse. A bad key stops the start with an error
 * that names the setting at fault and does not repeat the key's text.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { pino } from 'pino';
import { ConfigError, loadConfig } from '../../server/config.ts';
import { loadCredentialCipher } from '../../server/credentialKey.ts';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function setup(env: Record<string, string> = {}) {
  const dir = mkdtempSync(path.join(tmpdir(), 'sipswitch-key-'));
  dirs.push(dir);
  const lines: string[] = [];
  const log = pino({ level: 'trace' }, { write: (line: string) => void lines.push(line) });
  const config = loadConfig({ DATA_DIR: dir, DATABASE_URL: `sqlite://${path.join(dir, 'db.sqlite')}`, ...env });
  return { dir, lines, load: () => loadCredentialCipher(config, log) };
}

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    return err;
  }
  assert.fail('no error');
}

test('without CREDENTIALS_KEY a first start writes an owner-only key file, says where, and later starts reuse it', () => {
  const { dir, lines, load } = setup();
  const first = load();
  const file = path.join(dir, 'credentials.key');
  assert.equal(statSync(file).mode & 0o777, 0o600);
  const key = readFileSync(file, 'utf8').trim();
  assert.match(key, /^[0-9a-f]{64}$/);
  assert.equal(lines.length, 1);
  assert.match(lines[0]!, /generated a credentials key/);
  assert.ok(lines[0]!.includes(file), 'the warning names the file');
  assert.ok(!lines[0]!.includes(key), 'but not the key');

  const again = load();
  assert.equal(again.keyId, first.keyId, 'the same key on the next start');
  assert.equal(again.open(first.seal('pw', 'row'), 'row'), 'pw');
  assert.equal(lines.length, 1, 'nothing generated the second time');
});

test('CREDENTIALS_KEY is used as given (hex or base64), and no key file is written', () => {
  const raw = Buffer.alloc(32, 9);
  const hex = setup({ CREDENTIALS_KEY: raw.toString('hex') });
  const base64 = setup({ CREDENTIALS_KEY: raw.toString('base64') });
  assert.equal(hex.load().keyId, base64.load().keyId);
  assert.throws(() => statSync(path.join(hex.dir, 'credentials.key')), /ENOENT/);
  assert.deepEqual(hex.lines, []);
});

test('a malformed CREDENTIALS_KEY stops the start naming the setting, without repeating it', () => {
  const text = 'my-trunk-key-with-a-typo';
  const err = configError(setup({ CREDENTIALS_KEY: text }).load);
  assert.match(err.message, /CREDENTIALS_KEY: the credentials key must be 32 bytes/);
  assert.ok(!err.message.includes(text));
});

test('a key file that does not hold a key stops the start naming the file, not CREDENTIALS_KEY', () => {
  const { dir, load } = setup();
  const file = path.join(dir, 'credentials.key');
  writeFileSync(file, 'short\n', { mode: 0o600 });
  const err = configError(load);
  assert.match(err.message, /CREDENTIALS_KEY_FILE: /);
  assert.ok(err.message.includes(file), err.message);
  assert.match(err.message, /32 bytes/);
  assert.doesNotMatch(err.message, /CREDENTIALS_KEY:/);

  rmSync(file);
  mkdirSync(file);
  const unreadable = configError(load);
  assert.match(unreadable.message, /CREDENTIALS_KEY_FILE: .*credentials\.key: EISDIR/);
});
