/**
 * The registration journal (server/store/locationJournal.ts) on a real file: what is appended is
 * there at the next open, a line torn by a crash is skipped with an error line and does not spoil
 * the next append, and a rewrite leaves exactly what is still pending. Its use by the location
 * overlay on both databases is in locationOverlay.test.ts.
 */
import assert from 'node:assert/strict';
import { appendFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { pino } from 'pino';
import { LOCATION_JOURNAL_FILE, openLocationJournal } from '../../server/store/locationJournal.ts';
import type { Binding, PendingWrite } from '../../server/store/registrations.ts';

const dirs: string[] = [];
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});
function scratchDir(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'journal-'));
  dirs.push(dir);
  return dir;
}

const binding = (contactHash: string, cseq = 1): Binding => ({
  id: `b-${contactHash}-${cseq}`,
  tenantId: 't',
  accountId: 'a',
  contactHash,
  contactUri: `sip:u@127.0.0.1:${5000 + cseq}`,
  callId: 'c',
  cseq,
  expiresAt: 2_000_000_000_000,
  sourceIp: '127.0.0.1',
  sourcePort: 5000 + cseq,
  transport: 'udp',
  userAgent: null,
  algorithm: 'MD5',
  nodeId: 'n',
  createdAt: 1_000,
  updatedAt: 1_000 + cseq,
});
const upsert = (contactHash: string, cseq = 1): PendingWrite => ({ kind: 'upsert', binding: binding(contactHash, cseq) });
const silent = pino({ level: 'silent' });

test('appended changes are there at the next open, in order, removals with their time', async () => {
  const dir = scratchDir();
  const journal = await openLocationJournal(dir, silent);
  assert.deepEqual(journal.leftover, []);
  const removal: PendingWrite = { kind: 'remove', binding: binding('h2'), at: 5_000 };
  await journal.append([upsert('h1')]);
  await journal.append([upsert('h1', 2), removal]);
  const again = await openLocationJournal(dir, silent);
  assert.deepEqual(again.leftover, [upsert('h1'), upsert('h1', 2), removal]);
});

test('a line torn by a crash is skipped and logged; the next append starts a line of its own', async () => {
  const dir = scratchDir();
  const journal = await openLocationJournal(dir, silent);
  await journal.append([upsert('h1')]);
  const file = path.join(dir, LOCATION_JOURNAL_FILE);
  appendFileSync(file, JSON.stringify(upsert('h-torn')).slice(0, 40)); // the crash: half a line, no newline

  const lines: Array<{ level: number; msg: string; line?: string }> = [];
  const log = pino({ level: 'trace' }, { write: (l: string) => void lines.push(JSON.parse(l)) });
  const reopened = await openLocationJournal(dir, log);
  assert.deepEqual(reopened.leftover, [upsert('h1')]);
  const logged = lines.find((l) => l.level === 50 && /unreadable line in the registration journal/.test(l.msg));
  assert.ok(logged, 'an error line names the torn line');
  assert.equal(logged.line, JSON.stringify(upsert('h-torn')).slice(0, 40));

  await reopened.append([upsert('h3')]);
  assert.deepEqual((await openLocationJournal(dir, silent)).leftover, [upsert('h1'), upsert('h3')]);
});

test('a rewrite leaves what is pending when its turn comes, after appends made before it', async () => {
  const dir = scratchDir();
  const journal = await openLocationJournal(dir, silent);
  await journal.append([upsert('h1'), upsert('h2')]);
  let pending = [upsert('h2')];
  const appended = journal.append([upsert('h3')]);
  const rewritten = journal.rewrite(() => pending);
  pending = [upsert('h2'), upsert('h3')]; // changed before the rewrite's turn: the rewrite reads it then
  await Promise.all([appended, rewritten]);
  assert.deepEqual((await openLocationJournal(dir, silent)).leftover, [upsert('h2'), upsert('h3')]);

  await journal.rewrite(() => []);
  assert.equal(existsSync(path.join(dir, LOCATION_JOURNAL_FILE)), false, 'no file once nothing is pending');
  assert.deepEqual((await openLocationJournal(dir, silent)).leftover, []);
});
