import assert from 'node:assert/strict';
import { test } from 'node:test';
import { renderTemplate, templateProblems } from '../../server/providers/templates.ts';

const values = { caller: '+15550100', callerName: 'Alice', number: '18005551234', username: 'acct42' };

test('placeholders are filled from the call; text around them is kept', () => {
  assert.equal(renderTemplate('{caller}', values), '+15550100');
  assert.equal(renderTemplate('acct={username};to={number}', values), 'acct=acct42;to=18005551234');
  assert.equal(renderTemplate('Main line', values), 'Main line');
});

test('unknown variables and line breaks are refused when saved; control characters in values never reach a header', () => {
  assert.deepEqual(templateProblems('{caller} {callerName}'), []);
  assert.match(templateProblems('{calller}')[0]!, /unknown variable \{calller\}/);
  assert.match(templateProblems('a\r\nX-Evil: 1')[0]!, /one line/);
  assert.equal(renderTemplate('{callerName}', { ...values, callerName: 'Eve\r\nX-Evil: 1' }), 'Eve X-Evil: 1');
  assert.equal(renderTemplate('{caller}', { ...values, caller: 'a\u0000b\u007f' }), 'a b ');
});
