/**
 * A call between two real phones (baresip, ../helpers/baresipPhone.ts) through a test switch,
 * each phone behind a NAT of its own (../helpers/sipNat.ts): alice's microphone a 440 Hz tone,
 * bob's 880 Hz, each recording what it hears. Set up until both phones are in the call.
 */
import assert from 'node:assert/strict';
import { startPhone, type Phone } from '../helpers/baresipPhone.ts';
import { startSipNat, type SipNat } from '../helpers/sipNat.ts';
import { startTestSwitch, type TestSwitch, type TestSwitchOptions } from '../helpers/switch.ts';
import { waitFor } from '../interop/tools.ts';
import { dialplanSource, EventLog, newTenant, type Tenant } from '../calls/harness.ts';

export const ALICE_HZ = 440;
export const BOB_HZ = 880;

export interface NatCall {
  sw: TestSwitch;
  alice: Phone;
  bob: Phone;
  /** The call's events. */
  log: EventLog;
  tenant: Tenant;
  nats: SipNat[];
}

export interface NatCallOptions {
  engine: string;
  /** The switch's media ports. */
  ports: readonly [number, number];
  /** Where the phones keep their configuration and recordings. */
  dir: string;
  /** What to stop afterwards, in reverse order. */
  cleanups: Array<() => Promise<void>>;
  env?: Record<string, string>;
  switchOptions?: TestSwitchOptions;
}

/** Two phones behind NATs, registered; alice calls bob, bob answers; resolves once both are in the call. */
export async function natCall(o: NatCallOptions): Promise<NatCall> {
  const { cleanups } = o;
  const env = { MEDIA_ENGINE: o.engine, MEDIA_PORT_MIN: String(o.ports[0]), MEDIA_PORT_MAX: String(o.ports[1]), ...o.env };
  const sw = await startTestSwitch('sqlite', { ...o.switchOptions, env });
  cleanups.push(() => sw.close());
  const tenant = await newTenant(sw);
  const log = new EventLog(sw, tenant.id);
  cleanups.push(async () => log.stop());
  await tenant.dialplan('default', dialplanSource('  await dial(call.to.user, { timeout: 15 });'));
  const [aliceAccount, bobAccount] = [await tenant.account(), await tenant.account()];
  const nats = [await startSipNat(sw.sipPort), await startSipNat(sw.sipPort)];
  cleanups.push(async () => void (await Promise.all(nats.map((n) => n.close()))));
  const alice = await startPhone(o.dir, 'alice', aliceAccount, { answer: 'manual', outboundPort: nats[0]!.port, tone: ALICE_HZ });
  const bob = await startPhone(o.dir, 'bob', bobAccount, { answer: 'auto', outboundPort: nats[1]!.port, tone: BOB_HZ });
  for (const p of [alice, bob])
    cleanups.push(async () => {
      p.close();
      await p.stop();
    });
  const registered = async () => {
    const names = ((await tenant.api.get('/registrations')).body.items as Array<{ username: string }>).map((x) => x.username);
    return names.includes(aliceAccount.username) && names.includes(bobAccount.username);
  };
  await waitFor('both phones registered', 15_000, async () => (await registered()) || undefined);
  const dialled = await alice.command('dial', `sip:${bobAccount.username}@127.0.0.1`);
  assert.ok(dialled.ok, `dial accepted: ${JSON.stringify(dialled)}`);
  const up = (p: Phone) => waitFor(`${p.name}: call established`, 15_000, async () => (p.events.some((e) => e.type === 'CALL_ESTABLISHED') ? true : undefined));
  await Promise.all([up(alice), up(bob)]).catch((err: Error) => {
    throw new Error(`${err.message}\nswitch events:\n${log.summary().join('\n')}\nalice:\n${alice.output().slice(-2000)}\nbob:\n${bob.output().slice(-2000)}`);
  });
  return { sw, alice, bob, log, tenant, nats };
}
