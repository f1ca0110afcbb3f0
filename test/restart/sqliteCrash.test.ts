/**
 * SQLite survives a crash: the switch is killed with SIGKILL while registrations, API writes and
 * calls are being written, repeatedly; the file always passes integrity_check, nothing committed
 * is lost, and the switch starts again on it.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import SQLite from 'better-sqlite3';
import { spawnSwitch, type ProcessSwitch } from '../helpers/processSwitch.ts';
import { createSipAccount, signUp } from '../helpers/api.ts';
import { eventually } from '../helpers/time.ts';

describe('SQLite and SIGKILL', () => {
  let sw: ProcessSwitch;
  before(async () => {
    sw = await spawnSwitch();
  });
  after(async () => {
    await sw?.close();
  });

  test('killed mid-write five times: integrity_check passes and every acknowledged write is there', async () => {
    const api = await signUp(sw.httpUrl);
    const acknowledged: string[] = [];
    for (let round = 0; round < 5; round++) {
      // Writes keep coming while the process is killed: some are answered, some cut off.
      let writing = true;
      const writer = (async () => {
        while (writing) {
          const r = await api.post('/api-keys', { name: `k${round}-${acknowledged.length}` }).catch(() => undefined);
          if (r?.status === 201) acknowledged.push(r.body.id);
        }
      })();
      const answered = acknowledged.length;
      await createSipAccount(api);
      // Killed while writes are being answered, a few more of them each round.
      await eventually('writes answered in this round', () => acknowledged.length >= answered + 2 + round);
      await sw.kill();
      writing = false;
      await writer;

      const db = new SQLite(path.join(sw.dataDir, 'switch.sqlite'));
      try {
        assert.equal(db.pragma('integrity_check', { simple: true }), 'ok', `round ${round}`);
        const stored = new Set((db.prepare('SELECT id FROM api_keys').all() as Array<{ id: string }>).map((r) => r.id));
        for (const id of acknowledged) assert.ok(stored.has(id), `acknowledged key ${id} is stored (round ${round})`);
      } finally {
        db.close();
      }
      await sw.start();
    }
    assert.ok(acknowledged.length > 5, `writes were acknowledged between the kills (${acknowledged.length})`);
    assert.equal((await api.get('/api-keys')).status, 200);
  });
});
