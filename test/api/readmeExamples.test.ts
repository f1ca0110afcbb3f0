/** The dialplans the README shows compile and run: documentation that has drifted is a bug. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { signUp, type ApiClient } from '../helpers/api.ts';
import { startTestSwitch, type TestSwitch } from '../helpers/switch.ts';

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
const section = readme.slice(readme.indexOf('## Writing a dialplan'), readme.indexOf('## Configuration'));
const examples = [...section.matchAll(/### (.+)\n\n```js\n([\s\S]*?)```/g)].map((m) => ({ title: m[1]!, source: m[2]! }));

describe('README dialplan examples', () => {
  let sw: TestSwitch;
  let api: ApiClient;
  before(async () => {
    sw = await startTestSwitch('sqlite');
    api = await signUp(sw.httpUrl);
  });
  after(async () => {
    await sw.close();
  });

  test('the README has the four examples the issue asks for', () => {
    assert.deepEqual(
      examples.map((e) => e.title),
      ['Ring my phones', 'Fall back to a mobile number through my provider', 'Time-of-day routing', 'A blocklist kept in `store`'],
    );
  });

  for (const { title, source } of examples) {
    test(`"${title}" saves and runs to a dial or an answer`, async () => {
      const name = title
        .toLowerCase()
        .replace(/[^a-z0-9]+/g, '-')
        .replace(/^-|-$/g, '')
        .slice(0, 60);
      const saved = await api.request('PUT', `/dialplans/${name}`, { source });
      assert.ok([200, 201].includes(saved.status), JSON.stringify(saved.body));
      const r = await api.post(`/dialplans/${name}/simulate`, { call: { from: { user: '+15551234' } }, outcomes: {} });
      assert.equal(r.status, 200);
      assert.ok(['completed', 'responded'].includes(r.body.outcome), JSON.stringify(r.body));
      assert.ok(
        r.body.actions.some((a: { type: string }) => a.type === 'dial' || a.type === 'respond'),
        JSON.stringify(r.body.actions),
      );
    });
  }
});
