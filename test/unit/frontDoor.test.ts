/** Where a request really came from when the front door forwards it (server/sip/frontDoor.ts), and where a Path leads. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FrontDoors, pathHop } from '../../server/sip/frontDoor.ts';
import type { SipRequest } from '../../server/sip/message.ts';

const request = (source?: string): SipRequest => ({
  method: 'INVITE',
  uri: 'sip:bob@example.com',
  version: '2.0',
  headers: source === undefined ? {} : { 'x-sipswitch-source': source },
  content: '',
});
const door = { transport: 'udp' as const, address: '10.0.0.5', port: 5060 };
const doors = new FrontDoors(['10.0.0.5:5060']);

test("a listed front door's X-Sipswitch-Source is the request's origin; the transport stays the front door's", () => {
  assert.deepEqual(doors.originOf(request('203.0.113.7:40112;tcp'), door), { transport: 'udp', address: '203.0.113.7', port: 40112 });
  assert.deepEqual(doors.originOf(request('[2001:db8::7]:5062;udp'), door), { transport: 'udp', address: '2001:db8::7', port: 5062 });
});

test('anyone else saying where a request came from is not believed, nor is a front door saying nonsense', () => {
  for (const sender of [
    { ...door, port: 5061 },
    { ...door, address: '10.0.0.6' },
  ])
    assert.deepEqual(doors.originOf(request('203.0.113.7:40112;udp'), sender), sender);
  for (const said of [undefined, '', 'evil.example.com:5060', '203.0.113.7', '203.0.113.7:0', '203.0.113.7:99999', '999.1.1.1:5060', '203.0.113.7:5060, 10.0.0.1:5060'])
    assert.deepEqual(doors.originOf(request(said), door), door, String(said));
  assert.deepEqual(new FrontDoors([]).originOf(request('203.0.113.7:40112;udp'), door), door, 'no front doors: nobody is believed');
});

test("a Path's first hop is where requests to the phone go", () => {
  assert.deepEqual(pathHop(['sip:10.0.0.5:5060;lr;received=sip:203.0.113.7:40112', 'sip:10.0.0.9;lr']), { transport: 'udp', address: '10.0.0.5', port: 5060 });
  assert.deepEqual(pathHop(['sip:10.0.0.5;lr;transport=tcp']), { transport: 'tcp', address: '10.0.0.5', port: 5060 });
  assert.equal(pathHop(['sip:proxy.example.com;lr']), undefined, 'a name is not resolved here: the binding keeps its own address');
  assert.equal(pathHop([]), undefined);
});
