import assert from 'node:assert/strict';
import { test } from 'node:test';
import { digestUriNames, sameSipUri } from '../../server/sip/uriMatch.ts';

test('the same resource however phones write it', () => {
  for (const [a, b] of [
    ['sip:example.com', 'sip:example.com'],
    ['sip:example.com', 'sip:EXAMPLE.com'],
    ['sip:example.com', 'sip:example.com:5060'],
    ['sips:example.com', 'sips:example.com:5061'],
    ['sip:example.com;transport=udp', 'sip:example.com'],
    ['sip:example.com;transport=UDP', 'sip:example.com;transport=udp'],
    ['sip:alice@example.com', 'sip:%61lice@example.com'],
    ['sip:alice@example.com;lr', 'sip:alice@example.com'],
    ['sip:127.0.0.1:5070', 'sip:127.0.0.1:5070'],
  ]) {
    assert.ok(sameSipUri(a!, b!), `${a} = ${b}`);
    assert.ok(sameSipUri(b!, a!), `${b} = ${a}`);
  }
});

test('another resource', () => {
  for (const [a, b] of [
    ['sip:example.com', 'sips:example.com'],
    ['sip:example.com', 'sip:example.org'],
    ['sip:example.com', 'sip:example.com:5070'],
    ['sip:alice@example.com', 'sip:Alice@example.com'],
    ['sip:alice@example.com', 'sip:example.com'],
    ['sip:example.com;transport=tcp', 'sip:example.com;transport=udp'],
    ['sip:example.com;maddr=10.0.0.1', 'sip:example.com'],
    ['sip:example.com;user=phone', 'sip:example.com'],
    ['sip:example.com;method=INVITE', 'sip:example.com;method=REGISTER'],
    ['sip:example.com?subject=a', 'sip:example.com'],
    ['sip:example.com', 'tel:+15551234'],
    ['not a uri', 'sip:example.com'],
  ]) {
    assert.equal(sameSipUri(a!, b!), false, `${a} ≠ ${b}`);
    assert.equal(sameSipUri(b!, a!), false, `${b} ≠ ${a}`);
  }
});

test('URIs the parser does not read compare as text', () => {
  assert.ok(sameSipUri('tel:+15551234', 'TEL:+15551234'));
  assert.equal(sameSipUri('tel:+15551234', 'tel:+15551235'), false);
});

test("digest credentials without a user stand for the request's host (sipp's habit); with a user they must name the Request-URI's", () => {
  assert.ok(digestUriNames('sip:127.0.0.1:5070', 'sip:bob@127.0.0.1:5070'));
  assert.ok(digestUriNames('sip:bob@127.0.0.1:5070', 'sip:bob@127.0.0.1:5070'));
  assert.equal(digestUriNames('sip:alice@127.0.0.1:5070', 'sip:bob@127.0.0.1:5070'), false);
  assert.equal(digestUriNames('sip:bob@127.0.0.1:5070', 'sip:127.0.0.1:5070'), false);
  assert.equal(digestUriNames('sip:127.0.0.1:5071', 'sip:bob@127.0.0.1:5070'), false);
  assert.equal(digestUriNames('sip:evil.example', 'sip:bob@127.0.0.1:5070'), false);
  assert.equal(digestUriNames('sip:127.0.0.1:5070;maddr=10.0.0.1', 'sip:bob@127.0.0.1:5070'), false);
});
