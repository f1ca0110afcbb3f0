import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DialStringError, parseDialString, toDialSpec } from '../../server/dialplan/dialString.ts';

const targets = (s: string) => parseDialString(s).groups.map((g) => g.map((l) => l.target));

describe('dial strings', () => {
  it('parses accounts, numbers at providers and SIP URIs into parallel and sequential groups', () => {
    assert.deepEqual(targets('alice'), [['alice']]);
    assert.deepEqual(targets(' alice & bob | +4930123@mytrunk '), [['alice', 'bob'], ['+4930123@mytrunk']]);
    assert.deepEqual(targets('sip:bob@example.com;transport=tcp|*98#@pbx'), [['sip:bob@example.com;transport=tcp'], ['*98#@pbx']]);
    const [leg] = parseDialString('sips:carol@example.org').groups[0] ?? [];
    assert.deepEqual(leg, { kind: 'uri', uri: 'sips:carol@example.org', target: 'sips:carol@example.org', options: { timeout: 30, delay: 0 } });
    const [p] = parseDialString('0123@mytrunk').groups[0] ?? [];
    assert.equal(p?.kind, 'provider');
    assert.deepEqual(p?.kind === 'provider' ? [p.number, p.provider] : [], ['0123', 'mytrunk']);
  });

  it('applies per-leg options over the defaults given to dial()', () => {
    const spec = parseDialString('alice[timeout=10, callerId=+4930999] & bob [delay=5]', { timeout: 20 });
    assert.deepEqual(
      spec.groups[0]?.map((l) => l.options),
      [
        { timeout: 10, delay: 0, callerId: '+4930999' },
        { timeout: 20, delay: 5 },
      ],
    );
  });

  const invalid: Array<[string, number, RegExp]> = [
    ['', 1, /expected an account/],
    ['alice &', 8, /found end of string/],
    ['alice && bob', 8, /found '&'/],
    ['| bob', 1, /found '\|'/],
    ['alice bob', 7, /expected '&', '\|' or end/],
    ['alice@mytrunk', 1, /'alice' is not a number/],
    ['0123@', 6, /'' is not a valid provider/],
    ['alice[timeout=0]', 15, /timeout must be whole seconds from 1 to 300/],
    ['alice[timeout=ten]', 15, /not 'ten'/],
    ['alice[ring=3]', 7, /unknown option 'ring'/],
    ['alice[timeout=10', 17, /missing '\]'/],
    ['alice[timeout 10]', 15, /expected '=' after 'timeout'/],
    ['sip:', 1, /not a valid SIP URI/],
    ['al!ce', 3, /found '!'/],
  ];
  for (const [input, column, reason] of invalid) {
    it(`rejects ${JSON.stringify(input)} at column ${column}`, () => {
      assert.throws(
        () => parseDialString(input),
        (err: unknown) => err instanceof DialStringError && err.column === column && reason.test(err.message),
      );
    });
  }

  it('accepts the structured forms and validates them', () => {
    assert.deepEqual(
      toDialSpec([{ account: 'alice' }, { number: '0123', provider: 'mytrunk', timeout: 10 }, 'sip:x@example.com'], { timeout: 25 }).groups.map((g) =>
        g.map((l) => [l.target, l.options.timeout]),
      ),
      [
        [
          ['alice', 25],
          ['0123@mytrunk', 10],
          ['sip:x@example.com', 25],
        ],
      ],
    );
    const spec = toDialSpec({ groups: [[{ account: 'alice' }], [{ uri: 'sip:bob@example.com', delay: 3 }]], timeout: 20 }, null);
    assert.deepEqual(
      spec.groups.map((g) => g.map((l) => [l.target, l.options.timeout, l.options.delay])),
      [[['alice', 20, 0]], [['sip:bob@example.com', 20, 3]]],
    );
    assert.throws(() => toDialSpec([{ account: 'al ice' }], undefined), /not a valid account name/);
    assert.throws(() => toDialSpec([], undefined), /at least one leg/);
    assert.throws(() => toDialSpec(['alice & bob'], undefined), /single leg/);
    assert.throws(() => toDialSpec({ groups: [[{ account: 'a', extra: 1 }]] }, undefined), /invalid dial target/);
    assert.throws(() => toDialSpec('alice', { timeout: 1000 }), /invalid dial options/);
    assert.throws(() => toDialSpec(42, undefined), /invalid dial target/);
    assert.throws(() => toDialSpec('x'.repeat(3000), undefined), /longer than 2000/);
  });
});
