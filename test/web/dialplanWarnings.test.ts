/**
 * The editor's warnings (web/src/dialplans/warnings.ts), read against the real dialplan API
 * (contract/dialplan-api.d.ts): each kind at its line, and none for the starter and the gallery's
 * examples, which are correct dialplans.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { javascriptLanguage } from '@codemirror/lang-javascript';
import { DIALPLAN_EXAMPLES } from '../../contract/dialplanExamples.ts';
import { STARTER_DIALPLAN } from '../../contract/starterDialplan.ts';
import { buildApiModel } from '../../web/src/dialplans/apiModelBuilder.ts';
import { dialplanWarnings, lineOf } from '../../web/src/dialplans/warnings.ts';

const model = buildApiModel(readFileSync(new URL('../../contract/dialplan-api.d.ts', import.meta.url), 'utf8'));
const warningsOf = (source: string) =>
  dialplanWarnings(source, javascriptLanguage.parser.parse(source), model).map((w) => ({ line: lineOf(source, w.from), at: source.slice(w.from, w.to), message: w.message }));

describe('dialplan warnings', () => {
  test('correct dialplans get none: the starter and every example of the gallery', () => {
    assert.deepEqual(warningsOf(STARTER_DIALPLAN), []);
    for (const example of DIALPLAN_EXAMPLES) assert.deepEqual(warningsOf(example.source), [], example.id);
  });

  test('each kind of mistake, at its line', () => {
    const source = [
      /* 1 */ 'const seen = new Map();',
      /* 2 */ 'export default async function (call) {',
      /* 3 */ '  log(call.form.user, call.to.user, call.headers["x-a"], seen.size);',
      /* 4 */ "  dial('alice');",
      /* 5 */ "  const r = dial('bob');",
      /* 6 */ '  if (r.answered) return;',
      /* 7 */ "  if (!dial('carol')) return;",
      /* 8 */ "  const ok = await dial('dave', { timeout: 5 });",
      /* 9 */ "  await Promise.all([registrations('eve')]);",
      /* 10 */ "  dail('frank');",
      /* 11 */ "  switch (ok.result) { case 'busy': return; case 'answered': log('up'); break; }",
      /* 12 */ '  function helper(store) { return store.anything; }',
      /* 13 */ '  await hangup();',
      /* 14 */ "  log('bye');",
      /* 15 */ '  await respond(404);',
      /* 16 */ '  return;',
      /* 17 */ "  log('never');",
      /* 18 */ '  function hoisted() { return helper; }',
      /* 19 */ '}',
    ].join('\n');
    const found = warningsOf(source).map((w) => [w.line, w.at]);
    assert.deepEqual(found, [
      [3, 'form'],
      [4, "dial('alice')"],
      [6, 'r.answered'],
      [7, "dial('carol')"],
      [10, 'dail'],
      [15, 'await respond(404);'],
      [17, "log('never');"],
    ]);
    const messages = warningsOf(source).map((w) => w.message);
    assert.match(messages[0]!, /`call` has no `form` \(it has id, channelId, direction, from, to/);
    assert.match(messages[1]!, /dial\(\) is not awaited/);
    assert.match(messages[2]!, /r holds the promise of dial\(\), which has no `answered`/);
    assert.match(messages[3]!, /always true in a condition/);
    assert.match(messages[4]!, /`dail` is not defined.*did you mean `dial`\?/);
    assert.match(messages[5]!, /after hangup\(\) on line 13/);
    assert.match(messages[6]!, /^Unreachable code: this never runs, it follows a return on line 16\.$/);
  });
});
