/**
 * The dialplan's audio verbs on real calls, on both engines: a test switch, a caller whose SIP is
 * played by hand and whose audio is real RTP (sipRtpPhone.ts), a tenant's prompt uploaded through
 * the API. A menu answers, plays the prompt (the caller hears it) and collects a digit sent as an
 * RFC 4733 event or as SIP INFO; choice 2 dials a second phone, and audio then flows between the
 * caller and it. Voicemail records what the caller says until it hangs up, and the recording is
 * listed and downloadable; a # sent as SIP INFO ends it too, and the dialplan, over with the caller
 * on the line, hangs up. hangup() before answer() declines the call with 603; after it, the
 * caller gets the switch's BYE. Each call's record says who ended it. A restart under a dialplan
 * that answered hangs the caller up. Under direct media the verbs refuse (the caller gets 500).
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { decodeG711, encodeG711 } from '../../server/media/audio/g711.ts';
import { readSwitchWav } from '../../server/media/audio/wav.ts';
import { dialplanSource, EventLog, newTenant, recordOf, type Account, type Tenant } from '../calls/harness.ts';
import { startTestSwitch, type TestSwitch } from '../helpers/switch.ts';
import { eventually } from '../helpers/time.ts';
import { tone, toneShare, toneWav } from './audioSignal.ts';
import { ENGINES, skipEngine } from './engines.ts';
import { PCMU } from './rtpPhone.ts';
import { SipRtpPhone } from './sipRtpPhone.ts';

const PROMPT_HZ = 1000;
const VOICE_HZ = 600;

/** The menu: choice 2 reaches `bob`, any other ends the call; the choice is kept in the tenant's store. */
const menu = (bob: string) =>
  dialplanSource(`  await answer();
  const choice = await collect({ digits: 1, timeout: 8, prompt: 'menu' });
  await store.set('choice:' + call.id, choice);
  if (choice === '2') {
    const r = await dial(${JSON.stringify(bob)}, { timeout: 10 });
    log('dialled', r.result);
    return;
  }
  await hangup();`);

const voicemail = dialplanSource(`  await answer();
  const rec = await record({ maxSeconds: 20, beep: true });
  log('recorded', rec.durationMs);`);

const declines = dialplanSource('  await hangup();');

/** Answers, then fails: the caller must not be left on the line. */
const fails = dialplanSource(`  await answer();
  await play('beep');
  throw new Error('the script broke');`);

/** The caller's audio from the switch: PCMU packets of 20 ms, decoded. */
function heardSamples(phone: SipRtpPhone, from = 0): Int16Array {
  const packets = phone.rtp.received.slice(from).filter((r) => r.pt === PCMU && r.payload.length === 160);
  return Int16Array.from(packets.flatMap((r) => [...decodeG711('PCMU', r.payload)]));
}

for (const name of ENGINES) {
  describe(`a dialplan's audio verbs on live calls, on ${name}`, { skip: skipEngine(name), timeout: 180_000 }, () => {
    let sw: TestSwitch;
    let tenant: Tenant;
    const accounts: Record<string, Account> = {};
    const phones: SipRtpPhone[] = [];
    const logs: EventLog[] = [];
    let registeredBob: SipRtpPhone | undefined;

    /** An account whose received calls `source` decides. */
    async function service(dialplan: string, source: string): Promise<Account> {
      await tenant.dialplan(dialplan, source);
      const account = await tenant.account();
      const r = await tenant.api.patch(`/sip-accounts/${account.id}`, { dialplanIn: dialplan });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      return account;
    }

    async function phone(label: string, o: { formats?: string } = {}): Promise<SipRtpPhone> {
      const p = await SipRtpPhone.open(label, sw.sipPort, o);
      phones.push(p);
      return p;
    }

    function eventLog(): EventLog {
      const log = new EventLog(sw, tenant.id);
      logs.push(log);
      return log;
    }

    before(async () => {
      // Media ports from ../helpers/mediaPorts.ts (startTestSwitch); only the engine is this suite's.
      sw = await startTestSwitch('sqlite', { env: { MEDIA_ENGINE: name } });
      tenant = await newTenant(sw);
      const put = await tenant.api.request('PUT', '/prompts/menu', toneWav(PROMPT_HZ, 3000), { 'content-type': 'audio/wav' });
      assert.equal(put.status, 201, JSON.stringify(put.body));
      accounts.bob = await tenant.account();
      accounts.menu = await service('menu', menu(accounts.bob.username));
      accounts.voicemail = await service('voicemail', voicemail);
      accounts.declines = await service('declines', declines);
      accounts.fails = await service('fails', fails);
    });
    after(async () => {
      for (const p of phones) p.close();
      for (const l of logs) l.stop();
      await sw?.close();
    });

    /**
     * The caller calls the menu, hears the prompt and presses 2 (`press`); bob's phone rings and
     * answers; resolves once both are in the call, with what the caller heard before pressing.
     */
    async function menuChoice(press: (caller: SipRtpPhone) => Promise<void>, bobFormats?: string) {
      const c = await menuRings(press, bobFormats ? { formats: bobFormats } : {});
      await eventually('bob is connected', () => c.log.events.some((e) => e.type === 'bridge.created') || undefined);
      return c;
    }

    /** The menu's choice 2 until bob's phone rings. */
    async function menuRings(press: (caller: SipRtpPhone) => Promise<void>, bobOptions: { formats?: string; ringOnly?: boolean }) {
      const log = eventLog();
      // Only this test's phone answers for bob: an earlier test's would answer too.
      await registeredBob?.unregister(accounts.bob!);
      const bob = await phone('bob', bobOptions);
      await bob.register(accounts.bob!);
      registeredBob = bob;
      const caller = await phone('caller');
      const ok = await caller.call(accounts.menu!.username, sw.sipPort);
      assert.match(ok, /^SIP\/2\.0 200 /, 'the dialplan answered');
      assert.match(caller.switchSdp, /^m=audio \d+ RTP\/AVP 0 101\r$/m, "the switch's answer: PCMU and telephone-event");
      // Half a second of the 3 s prompt, then the choice.
      await eventually('the caller hears the prompt', () => heardSamples(caller).length >= 25 * 160);
      const prompt = heardSamples(caller);
      await press(caller);
      await eventually('the dialplan dials bob, whose phone rings', () => bob.invites.length === 1 || undefined, 10_000);
      const callId = log.events[0]!.callId;
      await eventually('the choice is stored', async () => (await sw.running.store.tenant(tenant.id).kv.get(`choice:${callId}`)) === '2' || undefined);
      return { log, bob, caller, callId, prompt };
    }

    /** Audio both ways between the two, through the relay: each hears the other's packets. */
    async function talk(caller: SipRtpPhone, bob: SipRtpPhone): Promise<void> {
      // The caller's re-INVITE, if the switch sends one, moves where bob's audio reaches it.
      await Promise.all([caller.rtp.sendAudio(caller.switchPort, 50, { everyMs: 20 }), bob.rtp.sendAudio(bob.switchPort, 50, { everyMs: 20 })]);
      await eventually('bob hears the caller', () => bob.rtp.numbersFrom(caller.rtp).length >= 40 || undefined, 5000);
      await eventually('the caller hears bob', () => caller.rtp.numbersFrom(bob.rtp).length >= 40 || undefined, 5000);
    }

    test('a menu: the caller hears the prompt, presses 2 as an RFC 4733 event, is connected to bob and they talk; the caller’s BYE ends both', async () => {
      const c = await menuChoice(async (caller) => caller.rtp.sendDtmf(caller.switchPort, 2));
      assert.ok(toneShare(c.prompt, PROMPT_HZ) > 0.8, `the caller heard the ${PROMPT_HZ} Hz prompt (share ${toneShare(c.prompt, PROMPT_HZ).toFixed(2)})`);
      await talk(c.caller, c.bob);
      assert.match(await c.caller.hangUp(), /^SIP\/2\.0 200 /);
      await eventually('bob gets a BYE', () => c.bob.byes.length === 1 || undefined);
      await c.log.ended();
      const cdr = await recordOf(sw, tenant, c.callId);
      assert.equal(cdr.status, 'answered');
      assert.equal(cdr.hangupBy, 'caller');
      assert.deepEqual(
        cdr.log.map((l) => l.message),
        ['dialled answered'],
      );
      assert.equal(cdr.legs.length, 2);
    });

    test('the same menu with the 2 sent as SIP INFO (dtmf-relay); bob takes no telephone-event, so the caller is re-INVITEd; bob’s BYE ends both', async () => {
      const c = await menuChoice(async (caller) => {
        assert.match(await caller.info('2', 'application/dtmf-relay'), /^SIP\/2\.0 200 /, 'the INFO is answered');
      }, '0');
      assert.ok(toneShare(c.prompt, PROMPT_HZ) > 0.8, `the caller heard the prompt (share ${toneShare(c.prompt, PROMPT_HZ).toFixed(2)})`);
      await eventually('the caller is re-INVITEd with bob’s codecs', () => c.caller.reinvites.length === 1 || undefined);
      assert.match(c.caller.switchSdp, /^m=audio \d+ RTP\/AVP 0\r$/m, 'the re-INVITE offers only what bob takes');
      await talk(c.caller, c.bob);
      assert.match(await c.bob.hangUp(), /^SIP\/2\.0 200 /);
      await eventually('the caller gets a BYE', () => c.caller.byes.length === 1 || undefined);
      await c.log.ended();
      const cdr = await recordOf(sw, tenant, c.callId);
      assert.equal(cdr.hangupBy, 'callee');
    });

    test('the caller hanging up while bob’s phone rings for its choice stops the ringing (CANCEL); the record says the caller ended it', async () => {
      const c = await menuRings(async (caller) => caller.rtp.sendDtmf(caller.switchPort, 2), { ringOnly: true });
      assert.match(await c.caller.hangUp(), /^SIP\/2\.0 200 /);
      await eventually('bob’s ringing is cancelled', () => c.bob.cancels.length === 1 || undefined);
      await c.log.ended();
      const cdr = await recordOf(sw, tenant, c.callId);
      assert.equal(cdr.hangupBy, 'caller');
      assert.deepEqual(
        cdr.log.map((l) => l.message),
        ['dialled cancelled'],
      );
    });

    test('a bare digit as application/dtmf is a choice too: 9 has no branch, the dialplan hangs up and the caller gets its BYE', async () => {
      const log = eventLog();
      const caller = await phone('caller9');
      assert.match(await caller.call(accounts.menu!.username, sw.sipPort), /^SIP\/2\.0 200 /);
      assert.match(await caller.info('9', 'application/dtmf'), /^SIP\/2\.0 200 /);
      await eventually('the dialplan hangs up', () => caller.byes.length === 1 || undefined, 10_000);
      await log.ended();
      const callId = log.events[0]!.callId;
      assert.equal(await sw.running.store.tenant(tenant.id).kv.get(`choice:${callId}`), '9');
      const cdr = await recordOf(sw, tenant, callId);
      assert.equal(cdr.status, 'answered');
      assert.equal(cdr.hangupBy, 'switch');
      assert.equal(cdr.legs.length, 1, 'nobody was dialled');
    });

    test('voicemail: a beep, what the caller says until it hangs up is recorded, listed with its length and downloadable', async () => {
      const log = eventLog();
      const caller = await phone('voice');
      assert.match(await caller.call(accounts.voicemail!.username, sw.sipPort), /^SIP\/2\.0 200 /);
      await eventually('the caller hears the beep', () => heardSamples(caller).length >= 10 * 160);
      // The beep lasts 250 ms: speak once it is over, 1.5 s of a 600 Hz tone.
      await new Promise((r) => setTimeout(r, 400));
      const voice = encodeG711('PCMU', tone(VOICE_HZ, 1500));
      for (let i = 0; i < 75; i++) {
        caller.rtp.sendRaw(caller.rtp.packet(PCMU, voice.subarray(i * 160, (i + 1) * 160)), caller.switchPort);
        await new Promise((r) => setTimeout(r, 20));
      }
      assert.match(await caller.hangUp(), /^SIP\/2\.0 200 /);
      await log.ended();
      const callId = log.events[0]!.callId;
      const list = await tenant.api.get(`/recordings?callId=${callId}`);
      assert.equal(list.status, 200);
      assert.equal(list.body.items.length, 1, JSON.stringify(list.body));
      const rec = list.body.items[0] as { id: string; durationMs: number; audioUrl: string };
      assert.ok(rec.durationMs >= 1200 && rec.durationMs <= 3000, `recorded ${rec.durationMs} ms`);
      const audio = await tenant.api.raw(`/recordings/${rec.id}/audio`);
      assert.equal(audio.status, 200);
      const samples = readSwitchWav(new Uint8Array(await audio.arrayBuffer()));
      assert.ok(toneShare(samples, VOICE_HZ) > 0.6, `the recording is what the caller said (${VOICE_HZ} Hz share ${toneShare(samples, VOICE_HZ).toFixed(2)})`);
      const cdr = await recordOf(sw, tenant, callId);
      assert.equal(cdr.hangupBy, 'caller');
      assert.equal(cdr.recordings.length, 1);
      // The leg the switch answered has its audio figures like any relayed leg: what the caller sent.
      // (rtpengine does not count the prompts it plays as sent to the phone: toPhone is not judged.)
      const figures = cdr.legs[0]?.media?.quality;
      assert.ok(figures && figures.fromPhone.packets >= 70 && figures.flowing.fromPhone, `the caller's leg: ${JSON.stringify(cdr.legs[0]?.media)}`);
      assert.deepEqual(
        cdr.log.map((l) => l.message),
        [`recorded ${rec.durationMs}`],
        'the script got the recording after the caller hung up',
      );
    });

    test('voicemail ended by # sent as SIP INFO: the recording is kept, and the dialplan, over with the caller still on the line, hangs up', async () => {
      const log = eventLog();
      const caller = await phone('hash');
      assert.match(await caller.call(accounts.voicemail!.username, sw.sipPort), /^SIP\/2\.0 200 /);
      await eventually('the caller hears the beep', () => heardSamples(caller).length >= 10 * 160);
      await new Promise((r) => setTimeout(r, 400));
      const voice = encodeG711('PCMU', tone(VOICE_HZ, 1000));
      for (let i = 0; i < 50; i++) {
        caller.rtp.sendRaw(caller.rtp.packet(PCMU, voice.subarray(i * 160, (i + 1) * 160)), caller.switchPort);
        await new Promise((r) => setTimeout(r, 20));
      }
      assert.match(await caller.info('#', 'application/dtmf-relay'), /^SIP\/2\.0 200 /);
      await eventually('the switch hangs up', () => caller.byes.length === 1 || undefined, 10_000);
      await log.ended();
      const callId = log.events[0]!.callId;
      const [rec] = (await tenant.api.get(`/recordings?callId=${callId}`)).body.items as Array<{ durationMs: number }>;
      assert.ok(rec && rec.durationMs >= 800 && rec.durationMs <= 2500, `recorded ${rec?.durationMs} ms`);
      const cdr = await recordOf(sw, tenant, callId);
      assert.equal(cdr.hangupBy, 'switch');
      assert.equal(cdr.hangupCause, 'normal');
      assert.deepEqual(
        cdr.log.map((l) => l.message),
        [`recorded ${rec.durationMs}`],
      );
    });

    test('hangup() before answer() declines the call: the caller gets 603', async () => {
      const log = eventLog();
      const caller = await phone('declined');
      assert.match(await caller.call(accounts.declines!.username, sw.sipPort), /^SIP\/2\.0 603 /);
      await log.ended();
      const cdr = await recordOf(sw, tenant, log.events[0]!.callId);
      assert.equal(cdr.sipStatus, 603);
      assert.equal(cdr.answeredAt, null);
    });

    test('a dialplan that fails after answer() does not leave the caller on the line: BYE, and the record says the dialplan failed', async () => {
      const log = eventLog();
      const caller = await phone('failed');
      assert.match(await caller.call(accounts.fails!.username, sw.sipPort), /^SIP\/2\.0 200 /);
      await eventually('the caller gets a BYE', () => caller.byes.length === 1 || undefined);
      await log.ended();
      const cdr = await recordOf(sw, tenant, log.events[0]!.callId);
      assert.equal(cdr.hangupBy, 'switch');
      assert.equal(cdr.hangupCause, 'dialplan-error');
      assert.match(cdr.dialplan?.outcome ?? '', /^error: .*the script broke/);
    });

    // Last: these restart the suite's switch.
    test('a restart while the menu’s dial rings bob: the ringing is cancelled and the caller hung up (the dialplan cannot resume)', async () => {
      const c = await menuRings(async (caller) => caller.rtp.sendDtmf(caller.switchPort, 2), { ringOnly: true });
      await eventually('the call persisted with bob ringing', async () => {
        const rows = await sw.running.store.liveCalls.forNode('test-node');
        const row = rows.find((r) => r.callId === c.callId)?.state as { channels?: Array<{ pendingInvite?: unknown }> } | undefined;
        return row?.channels?.some((ch) => ch.pendingInvite !== undefined) || undefined;
      });
      await sw.restart();
      tenant.api.baseUrl = sw.httpUrl;
      await eventually('bob’s ringing is cancelled', () => c.bob.cancels.length === 1 || undefined);
      await eventually('the caller gets a BYE', () => c.caller.byes.length === 1 || undefined);
      const cdr = await eventually('the call’s record is written', () => recordOf(sw, tenant, c.callId).catch(() => undefined));
      assert.equal(cdr.hangupBy, 'switch');
      assert.equal(cdr.hangupCause, 'switch-error');
      await eventually('the engine holds nothing of the call', async () => (await sw.running.media.stats(c.callId)) === undefined || undefined);
    });

    test('a caller the dialplan answered is hung up after a restart of the switch (its dialplan cannot resume), and the engine lets go of the call', async () => {
      const log = eventLog();
      const caller = await phone('restarted');
      assert.match(await caller.call(accounts.menu!.username, sw.sipPort), /^SIP\/2\.0 200 /);
      const callId = log.events[0]!.callId;
      await eventually('the call persisted', async () => (await sw.running.store.liveCalls.forNode('test-node')).some((r) => r.callId === callId) || undefined);
      await sw.restart();
      // The restarted switch has a bus of its own (it ends the call as it starts), and its portal a new port.
      tenant.api.baseUrl = sw.httpUrl;
      await eventually('the caller gets a BYE', () => caller.byes.length === 1 || undefined);
      const cdr = await eventually('the call’s record is written', () => recordOf(sw, tenant, callId).catch(() => undefined));
      assert.equal(cdr.status, 'answered');
      assert.equal(cdr.hangupBy, 'switch');
      assert.equal(cdr.hangupCause, 'switch-error');
      await eventually('the engine holds nothing of the call', async () => (await sw.running.media.stats(callId)) === undefined || undefined);
      // The node counts no live call any more: stopping it now keeps nothing running for one (rtpengine, rtpengine.json).
      let kept = true;
      await sw.restart(undefined, async () => void (kept = existsSync(path.join(sw.db.dir, 'rtpengine.json'))));
      tenant.api.baseUrl = sw.httpUrl;
      assert.equal(kept, false, 'a stop after the call ended keeps no daemon for live calls');
    });
  });
}

describe('without a media path through the switch, the verbs refuse and the call fails', { timeout: 60_000 }, () => {
  let sw: TestSwitch;
  let tenant: Tenant;
  let account: Account;
  const phones: SipRtpPhone[] = [];
  before(async () => {
    sw = await startTestSwitch('sqlite', { env: { MEDIA_ENGINE: 'direct' } });
    tenant = await newTenant(sw);
    await tenant.dialplan('voicemail', voicemail);
    account = await tenant.account();
    assert.equal((await tenant.api.patch(`/sip-accounts/${account.id}`, { dialplanIn: 'voicemail' })).status, 200);
  });
  after(async () => {
    for (const p of phones) p.close();
    await sw?.close();
  });

  test('direct media: answer() refuses, the caller gets 500, and the record tells why', async () => {
    const log = new EventLog(sw, tenant.id);
    const caller = await SipRtpPhone.open('direct', sw.sipPort);
    phones.push(caller);
    try {
      assert.match(await caller.call(account.username, sw.sipPort), /^SIP\/2\.0 500 /);
      await log.ended();
      const cdr = await recordOf(sw, tenant, log.events[0]!.callId);
      assert.equal(cdr.answeredAt, null);
      assert.match(cdr.dialplan?.outcome ?? '', /^error: .*answer: this call has no media path through the switch \(direct media\)/);
    } finally {
      log.stop();
    }
  });
});
