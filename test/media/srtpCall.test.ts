/**
 * Issue 18, SRTP on TLS legs: a phone registered over TLS that insists on SRTP (baresip's
 * `srtp-mand`: it refuses any call whose audio is not SRTP with SDES keys) calls a plain UDP phone,
 * and a UDP phone calls such a TLS phone. Through rtpengine each TLS leg's SDP is RTP/SAVP with
 * the relay's own keys, each UDP leg's is plain RTP/AVP with no key in it (keys never travel in
 * clear signalling), and the tones cross both ways, decrypted and encrypted by the relay. Without
 * the per-leg profile the UDP phone gets the TLS phone's RTP/SAVP offer (and refuses it), or the
 * TLS phone gets a plain offer (and refuses that).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { CallStoryView } from '../../contract/callTrace.ts';
import { startPhone, type Phone } from '../helpers/baresipPhone.ts';
import { leaf, makeCa } from '../helpers/certificates.ts';
import { startTestSwitch, type TestSwitch } from '../helpers/switch.ts';
import { eventually } from '../helpers/time.ts';
import { detectTone, readWav } from '../helpers/tone.ts';
import { skipWithout, waitFor } from '../interop/tools.ts';
import { dialplanSource, EventLog, newTenant, recordOf, type Tenant } from '../calls/harness.ts';
import { skipEngine } from './engines.ts';

const LISTEN_SECONDS = 3;
const skip = skipWithout('baresip', 'baresip') || skipEngine('rtpengine');

/** The share of `phone`'s recording (past its first second) that holds `hz`. */
function heard(phone: Phone, hz: number): number {
  const file = phone.received();
  if (!file) return 0;
  const wav = readWav(file);
  const report = detectTone({ ...wav, samples: wav.samples.subarray(wav.sampleRate) }, hz);
  return report.windows ? report.withTone / report.windows : 0;
}

describe('SRTP (SDES) on TLS legs, plain RTP on the others [rtpengine, baresip]', { skip, timeout: 120_000 }, () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'sipswitch-srtp-'));
  const cleanups: Array<() => Promise<unknown>> = [];
  let sw: TestSwitch;
  let tenant: Tenant;
  let caFile: string;

  before(async () => {
    const ca = await makeCa();
    const pair = await leaf(ca, ['127.0.0.1']);
    caFile = path.join(dir, 'ca.crt');
    writeFileSync(caFile, ca.cert);
    writeFileSync(path.join(dir, 'switch.crt'), pair.cert);
    writeFileSync(path.join(dir, 'switch.key'), pair.key);
    sw = await startTestSwitch('sqlite', { env: { MEDIA_ENGINE: 'rtpengine', TLS_CERTIFICATES: `${path.join(dir, 'switch.crt')}:${path.join(dir, 'switch.key')}` } });
    cleanups.push(() => sw.close());
    tenant = await newTenant(sw);
    await tenant.dialplan('default', dialplanSource('  await dial(call.to.user, { timeout: 15 });'));
  });
  after(async () => {
    for (const c of cleanups.reverse()) await c().catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  });

  /** A registered phone: over TLS with mandatory SRTP, or over UDP with plain RTP. */
  async function phone(name: string, secure: boolean, tone: number): Promise<{ phone: Phone; username: string }> {
    const account = await tenant.account();
    const p = await startPhone(dir, name, account, {
      answer: 'auto',
      outboundPort: sw.sipPort,
      tone,
      ...(secure ? { tls: { port: sw.running.tlsPort!, caFile, srtp: true } } : {}),
    });
    cleanups.push(async () => {
      p.close();
      await p.stop();
    });
    await waitFor(`${name} registered`, 15_000, async () => {
      const items = (await tenant.api.get('/registrations')).body.items as Array<{ username: string; source: { transport: string } }>;
      return items.some((r) => r.username === account.username && r.source.transport === (secure ? 'tls' : 'udp')) || undefined;
    });
    return { phone: p, username: account.username };
  }

  /** `caller` calls `callee`; both hear each other's tone; the call's record and SIP messages are returned. */
  async function callAndListen(caller: { phone: Phone; hz: number }, callee: { phone: Phone; username: string; hz: number }) {
    const log = new EventLog(sw, tenant.id);
    cleanups.push(async () => log.stop());
    assert.ok((await caller.phone.command('dial', `sip:${callee.username}@127.0.0.1`)).ok);
    const up = (p: Phone) => waitFor(`${p.name}: call established`, 15_000, async () => (p.events.some((e) => e.type === 'CALL_ESTABLISHED') ? true : undefined));
    await Promise.all([up(caller.phone), up(callee.phone)]).catch((err: Error) => {
      throw new Error(
        `${err.message}\nswitch events:\n${log.summary().join('\n')}\n${caller.phone.name}:\n${caller.phone.output().slice(-2500)}\n${callee.phone.name}:\n${callee.phone.output().slice(-2500)}`,
      );
    });
    await eventually(
      `${LISTEN_SECONDS + 1} s recorded by both phones`,
      () => caller.phone.recordedSeconds() > LISTEN_SECONDS + 1 && callee.phone.recordedSeconds() > LISTEN_SECONDS + 1,
      20_000,
      200,
    ).catch((err: Error) => {
      throw new Error(
        `${err.message}: ${caller.phone.recordedSeconds()} / ${callee.phone.recordedSeconds()}\n${caller.phone.output().slice(-3000)}\n${callee.phone.output().slice(-3000)}`,
      );
    });
    const callerHeard = heard(caller.phone, callee.hz);
    const calleeHeard = heard(callee.phone, caller.hz);
    assert.ok(callerHeard > 0.8, `${caller.phone.name} heard ${callee.hz} Hz in ${Math.round(callerHeard * 100)} % of the call`);
    assert.ok(calleeHeard > 0.8, `${callee.phone.name} heard ${caller.hz} Hz in ${Math.round(calleeHeard * 100)} % of the call`);
    assert.ok((await caller.phone.command('hangup')).ok);
    await log.ended();
    const callId = log.events[0]!.callId;
    const record = await recordOf(sw, tenant, callId);
    // The trace is saved a moment after the record.
    const story = await waitFor('the call story saved', 10_000, async () => {
      const r = await tenant.api.get<CallStoryView>(`/cdrs/${record.id}/story`);
      return r.body.entries.some((e) => e.kind === 'sip') ? r.body : undefined;
    });
    return { record, story };
  }

  /** The SDP bodies the switch sent, each with the transport of the leg it went on. */
  function sdpsSent(story: CallStoryView): Array<{ firstLine: string; transport: string; sdp: string }> {
    const out: Array<{ firstLine: string; transport: string; sdp: string }> = [];
    for (const e of story.entries) {
      if (e.kind !== 'sip' || e.message.direction !== 'out') continue;
      const text = e.message.text;
      const body = text.slice(text.indexOf('\r\n\r\n') + 4);
      if (/^m=audio/m.test(body)) out.push({ firstLine: e.message.firstLine, transport: e.message.peer.transport, sdp: body });
    }
    return out;
  }

  function assertProfiles(story: CallStoryView): void {
    const sent = sdpsSent(story);
    assert.ok(
      sent.some((s) => s.transport === 'tls') && sent.some((s) => s.transport === 'udp'),
      `SDP sent on both legs: ${JSON.stringify(sent.map((s) => [s.transport, s.firstLine]))}`,
    );
    for (const s of sent) {
      if (s.transport === 'tls') {
        assert.match(s.sdp, /^m=audio \d+ RTP\/SAVP /m, `${s.firstLine} over TLS offers or answers SRTP`);
        assert.match(s.sdp, /^a=crypto:/m, `${s.firstLine} over TLS carries the relay's keys`);
      } else {
        assert.match(s.sdp, /^m=audio \d+ RTP\/AVP /m, `${s.firstLine} over UDP is plain RTP`);
        assert.doesNotMatch(s.sdp, /^a=crypto:/m, `${s.firstLine} over UDP carries no key`);
      }
    }
  }

  test('a TLS phone that insists on SRTP calls a UDP phone: both hear each other, keys only on the TLS leg', async () => {
    const alice = { ...(await phone('alice', true, 440)), hz: 440 };
    const bob = { ...(await phone('bob', false, 880)), hz: 880 };
    const { record, story } = await callAndListen(alice, bob);
    assertProfiles(story);
    const inbound = record.legs.find((l) => l.direction === 'inbound');
    assert.equal(inbound?.transport, 'tls');
    assert.equal(inbound?.encrypted, true);
  });

  test('a UDP phone calls a TLS phone that insists on SRTP: the TLS phone is offered SRTP and both hear each other', async () => {
    const carol = { ...(await phone('carol', false, 660)), hz: 660 };
    const dave = { ...(await phone('dave', true, 1000)), hz: 1000 };
    const { record, story } = await callAndListen(carol, dave);
    assertProfiles(story);
    const outbound = record.legs.find((l) => l.direction === 'outbound');
    assert.equal(outbound?.transport, 'tls');
    assert.equal(outbound?.encrypted, true);
  });
});
