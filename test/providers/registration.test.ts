/**
 * The registration agent against sipp playing a provider's registrar that demands digest auth:
 * it registers every enabled provider that asks for it, refreshes before the registration runs
 * out, survives the provider going away and coming back, stops at 403/404 with a reason the
 * tenant sees, follows 423 Min-Expires, and acts on changes made through the API at once (a new
 * password, disabling, moving, deleting). No log line carries a provider's password.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { signUp, type ApiClient } from '../helpers/api.ts';
import { startTestSwitch, type TestSwitch } from '../helpers/switch.ts';
import { scratch } from '../calls/harness.ts';
import { elapse, eventually, silence } from '../helpers/time.ts';
import { skipWithout } from '../interop/tools.ts';
import {
  answersIn,
  cseqOf,
  FAST_SIP_TIMERS,
  header,
  inState,
  listedProvider,
  newSecret,
  PROVIDER_ENV,
  REALM,
  registersIn,
  startRegistrar,
  waitForProvider,
  waitForTrace,
  type Registrar,
  type RegistrarOptions,
} from './registrarHarness.ts';

const noSipp = skipWithout('sipp', 'sip-tester');

/** Longer than the longest back-off (2 s plus 20 % jitter): a retry would have come by then. */
const LONGER_THAN_A_RETRY_MS = 3000;

describe('provider registration against a sipp registrar', { skip: noSipp, timeout: 120_000 }, () => {
  let sw: TestSwitch;
  let api: ApiClient;
  const tmp = scratch();
  const registrars: Registrar[] = [];
  const logLines: string[] = [];
  /** Every password a test gave the switch: none may reach a log line. */
  const secrets: string[] = [];

  before(async () => {
    sw = await startTestSwitch('sqlite', { env: PROVIDER_ENV, sipTimers: FAST_SIP_TIMERS, logLines });
    api = await signUp(sw.httpUrl);
  });
  after(async () => {
    for (const r of registrars) r.kill();
    await sw?.close();
    tmp.remove();
  });

  const registrar = async (o: Omit<RegistrarOptions, 'dir'>) => {
    const r = await startRegistrar({ dir: tmp.dir, ...o });
    registrars.push(r);
    return r;
  };
  const secret = () => {
    const s = newSecret();
    secrets.push(s);
    return s;
  };
  const createProvider = async (body: Record<string, unknown>) => {
    const r = await api.post('/providers', { host: '127.0.0.1', register: true, registerExpires: 60, ...body });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    return r.body as { id: string; contactUri: string; status: { state: string } };
  };

  test('registers with digest auth, refreshes before expiry, and recovers after the provider was down', async () => {
    const password = secret();
    const up = await registrar({ user: 'alice', password });
    const created = await createProvider({ name: 'main', port: up.port, username: 'alice', password });
    const lineToken = /;line=([^;>]+)/.exec(created.contactUri)?.[1];
    assert.ok(lineToken, `the contactUri carries the line token: ${created.contactUri}`);
    assert.equal(created.status.state, 'registering', 'a new provider that registers is on its way, not idle');

    const first = await waitForProvider(api, created.id, 'registered', 10_000, inState('registered'));
    assert.equal(first.status.lastStatus, 200);
    assert.equal(first.status.lastError, null);
    const firstUntil = Date.parse(first.status.registeredUntil);
    // The registrar granted 4 s (the Contact's expires), not the 60 s asked for.
    assert.ok(firstUntil - Date.now() <= 4000, `registeredUntil follows the granted expiry: ${first.status.registeredUntil}`);
    const refreshed = await waitForProvider(api, created.id, 'a refresh', 8000, (p) => Date.parse(p.status.registeredUntil) > firstUntil);
    assert.equal(refreshed.status.state, 'registered');
    // Granted 4 s before its registeredUntil: the refresh was answered before the first one ran out.
    assert.ok(Date.parse(refreshed.status.registeredUntil) - 4000 < firstUntil, 'refreshed before expiry');
    await waitForTrace(up, 'three registrations', 8000, (m) => answersIn(m).filter((a) => a === '200').length >= 3);

    up.kill();
    await up.done;
    const trace = up.trace();
    const regs = registersIn(trace);
    // Each registration is a challenge answered once: 401, then 200 for the verified Authorization.
    const answers = answersIn(trace);
    assert.deepEqual(answers.slice(0, 6), ['401', '200', '401', '200', '401', '200'], `what the registrar answered: ${answers.join(' ')}`);
    assert.ok(!answers.includes('403'), 'every Authorization verified');
    for (const [i, reg] of regs.entries()) {
      assert.equal(header(reg, 'Contact'), `<${created.contactUri}>`, 'the Contact is the one the API shows');
      assert.equal(header(reg, 'Call-ID'), header(regs[0]!, 'Call-ID'), 'one Call-ID across refreshes');
      if (i > 0) assert.ok(cseqOf(reg) > cseqOf(regs[i - 1]!), 'CSeq increases');
      assert.equal(header(reg, 'Expires'), '60');
      const authorization = header(reg, 'Authorization');
      if (i % 2 === 0) assert.equal(authorization, '', 'a fresh exchange starts without credentials');
      else {
        assert.match(authorization, /^Digest /);
        assert.match(authorization, /username="alice"/);
        assert.match(authorization, new RegExp(`realm="${REALM}"`));
        assert.match(authorization, /qop=auth/);
      }
    }

    // The provider is gone: the refresh goes unanswered. "registered" must not outlive the
    // registration, and the failure is then told in words with the time of the next attempt.
    const killedAt = Date.now();
    const lapsed = await waitForProvider(api, created.id, 'the registration to lapse', 15_000, (p) => {
      if (p.status.state === 'registered') {
        // (A second of slack for a busy machine; without the expiry check it stays "registered" 3.4 s longer.)
        assert.ok(Date.parse(p.status.registeredUntil) > Date.now() - 1000, `still "registered" after registeredUntil: ${JSON.stringify(p.status)}`);
        return false;
      }
      return true;
    });
    assert.match(lapsed.status.lastError ?? '', /127\.0\.0\.1/, `a reason once no longer registered: ${JSON.stringify(lapsed.status)}`);
    assert.equal(lapsed.status.registeredUntil, null);
    const failed = await waitForProvider(api, created.id, 'the unanswered REGISTER to fail', 15_000, (p) => p.status.state === 'failed' && p.status.nextAttemptAt !== null);
    assert.match(failed.status.lastError, /127\.0\.0\.1 did not answer \(408 Request Timeout\)/);
    assert.equal(failed.status.lastStatus, 408);
    assert.ok(Date.parse(failed.status.nextAttemptAt) > killedAt, `nextAttemptAt after the failure: ${failed.status.nextAttemptAt}`);
    assert.equal(failed.status.registeredUntil, null);

    // It comes back on the same address: the agent's retries find it.
    const back = await registrar({ user: 'alice', password, port: up.port });
    const again = await waitForProvider(api, created.id, 'registered again', 15_000, inState('registered'));
    assert.equal(again.status.lastError, null);
    const backRegs = registersIn(back.trace());
    assert.equal(header(backRegs[0]!, 'Call-ID'), header(regs[0]!, 'Call-ID'), 'the same registration loop carried on');

    assert.equal((await api.delete(`/providers/${created.id}`)).status, 204);
  });

  test('a 403 stops the registration with a reason; saving the provider with the right password registers it', async () => {
    const right = secret();
    const wrong = secret();
    const refusing = await registrar({ user: 'bob', password: right });
    const created = await createProvider({ name: 'refused', port: refusing.port, username: 'bob', password: wrong });

    const stopped = await waitForProvider(api, created.id, 'stopped by the 403', 10_000, inState('disabled'));
    assert.equal(stopped.status.lastStatus, 403);
    assert.match(stopped.status.lastError, /127\.0\.0\.1 refused bob \(403 Forbidden\)/);
    assert.match(stopped.status.lastError, /save the provider to retry/);
    assert.equal(stopped.status.nextAttemptAt, null);
    assert.equal(stopped.enabled, true, 'the entry stays enabled (calls may still use it); only registering stopped');
    await silence(LONGER_THAN_A_RETRY_MS);
    assert.deepEqual(answersIn(refusing.trace()), ['401', '403'], 'no REGISTER after the 403');
    refusing.kill();
    await refusing.done;

    // A change takes effect without a restart: the new password is used at once.
    const accepting = await registrar({ user: 'bob', password: right, port: refusing.port });
    const saved = await api.patch(`/providers/${created.id}`, { password: right });
    assert.equal(saved.status, 200, JSON.stringify(saved.body));
    assert.equal(saved.body.status.state, 'registering', 'saved: trying again, no longer stopped');
    const registered = await waitForProvider(api, created.id, 'registered with the new password', 10_000, inState('registered'));
    assert.equal(registered.status.lastError, null);
    // sipp's verifyauth accepted the new credentials (a wrong answer gets 403).
    assert.deepEqual(answersIn(accepting.trace()).slice(0, 2), ['401', '200']);
    assert.equal((await api.delete(`/providers/${created.id}`)).status, 204);
  });

  test('a 404 stops the registration with a reason that names the account, also across a restart of the switch', async () => {
    const password = secret();
    const unknown = await registrar({ file: 'provider_registrar_404.xml', user: 'carol', password });
    const created = await createProvider({ name: 'unknown', port: unknown.port, username: 'carol', password });
    const stopped = await waitForProvider(api, created.id, 'stopped by the 404', 10_000, inState('disabled'));
    assert.equal(stopped.status.lastStatus, 404);
    assert.match(stopped.status.lastError, /does not know carol \(404 Not Found\)/);
    await silence(LONGER_THAN_A_RETRY_MS);
    assert.deepEqual(answersIn(unknown.trace()), ['401', '404'], 'no REGISTER after the 404');

    // A restart does not retry it either (a new agent loop would come with a new Call-ID: a new registrar sees it).
    unknown.kill();
    await unknown.done;
    const watching = await registrar({ file: 'provider_registrar_404.xml', user: 'carol', password, port: unknown.port });
    await sw.restart();
    api.baseUrl = sw.httpUrl;
    await silence(LONGER_THAN_A_RETRY_MS);
    assert.deepEqual(watching.trace(), [], 'no REGISTER after the restart');
    const after = await listedProvider(api, created.id);
    assert.equal(after.status.state, 'disabled');
    assert.equal(after.status.lastError, stopped.status.lastError);
    assert.equal((await api.delete(`/providers/${created.id}`)).status, 204);
  });

  test('the stored status is the last one even when an earlier write is slow', async () => {
    const password = secret();
    const unknown = await registrar({ file: 'provider_registrar_404.xml', user: 'ivan', password });
    // Slow every write but the final "disabled" one, as a busy connection of a pool may be.
    const store = sw.running.store.providers;
    const writeStatus = store.writeStatus;
    let writing = 0;
    store.writeStatus = async (s) => {
      writing++;
      try {
        if (s.state !== 'disabled') await elapse(300);
        return await writeStatus.call(store, s);
      } finally {
        writing--;
      }
    };
    try {
      const created = await createProvider({ name: 'slow-store', port: unknown.port, username: 'ivan', password });
      await waitForProvider(api, created.id, 'stopped by the 404', 10_000, inState('disabled'));
      await eventually('the slow writes to finish', () => writing === 0, 10_000);
      const stored = await store.status(created.id);
      assert.equal(stored?.state, 'disabled', `stored: ${JSON.stringify(stored)}`);
      assert.equal(stored?.lastStatus, 404);
      assert.equal((await api.delete(`/providers/${created.id}`)).status, 204);
    } finally {
      store.writeStatus = writeStatus;
    }
  });

  test('423 Interval Too Brief after authentication: the agent asks again with the Min-Expires value and a fresh answer, and keeps the value', async () => {
    const password = secret();
    const strict = await registrar({ file: 'provider_registrar_423.xml', user: 'dave', password, keys: { min_expires: '120' } });
    const created = await createProvider({ name: 'strict', port: strict.port, username: 'dave', password, registerExpires: 60 });
    await waitForProvider(api, created.id, 'registered', 10_000, inState('registered'));
    const trace = await waitForTrace(strict, 'a refresh', 8000, (m) => answersIn(m).filter((a) => a === '200').length >= 2);
    assert.deepEqual(answersIn(trace).slice(0, 5), ['401', '423', '200', '401', '200'], 'verifyauth accepted the REGISTER after the 423');
    const regs = registersIn(trace);
    const expires = regs.map((r) => header(r, 'Expires'));
    assert.deepEqual(expires.slice(0, 2), ['60', '60']);
    assert.deepEqual(new Set(expires.slice(2)), new Set(['120']), `Expires of each REGISTER: ${expires.join(' ')}`);
    // The same nonce answered again: a repeated nonce count would be a replay to a registrar that checks.
    const nonceCount = (r: (typeof regs)[number]) => /nc=([0-9a-f]{8})/.exec(header(r, 'Authorization'))?.[1];
    assert.equal(nonceCount(regs[1]!), '00000001');
    assert.equal(nonceCount(regs[2]!), '00000002');
    assert.equal((await api.delete(`/providers/${created.id}`)).status, 204);
  });

  test('an expiry longer than asked for is not believed: the agent refreshes on its own interval', async () => {
    const password = secret();
    // 2^32 - 1 s: beyond what a timer can wait, and more than the 60 s asked for (RFC 3261 §10.3).
    const generous = await registrar({ user: 'heidi', password, expires: 4294967295 });
    const created = await createProvider({ name: 'generous', port: generous.port, username: 'heidi', password });
    const registered = await waitForProvider(api, created.id, 'registered', 10_000, inState('registered'));
    assert.ok(Date.parse(registered.status.registeredUntil) <= Date.now() + 60_000, `registeredUntil within the 60 s asked for: ${registered.status.registeredUntil}`);
    await silence(1500);
    assert.deepEqual(answersIn(generous.trace()), ['401', '200'], 'one registration, no refresh storm');
    assert.equal((await listedProvider(api, created.id)).status.state, 'registered');
    assert.equal((await api.delete(`/providers/${created.id}`)).status, 204);
  });

  test('disabling a registered provider removes its binding (Expires: 0) and sends nothing more; enabling registers it again', async () => {
    const password = secret();
    const reg = await registrar({ user: 'erin', password });
    const created = await createProvider({ name: 'switched-off', port: reg.port, username: 'erin', password });
    await waitForProvider(api, created.id, 'registered', 10_000, inState('registered'));

    const off = await api.patch(`/providers/${created.id}`, { enabled: false });
    assert.equal(off.status, 200);
    assert.equal(off.body.status.state, 'disabled');
    const trace = await waitForTrace(reg, 'the binding removed', 5000, (m) => unregistered(m));
    const count = registersIn(trace).length;
    const listed = await listedProvider(api, created.id);
    assert.equal(listed.status.state, 'disabled');
    assert.equal(listed.status.registeredUntil, null);
    await silence(LONGER_THAN_A_RETRY_MS);
    assert.equal(registersIn(reg.trace()).length, count, 'nothing sent after the unREGISTER');

    reg.kill();
    await reg.done;
    const again = await registrar({ user: 'erin', password, port: reg.port });
    const on = await api.patch(`/providers/${created.id}`, { enabled: true });
    assert.equal(on.status, 200);
    assert.equal(on.body.status.state, 'registering');
    await waitForProvider(api, created.id, 'registered again', 10_000, inState('registered'));
    assert.deepEqual(answersIn(again.trace()).slice(0, 2), ['401', '200']);
    assert.equal((await api.delete(`/providers/${created.id}`)).status, 204);
  });

  test('deleting a registered provider removes its binding at the provider', async () => {
    const password = secret();
    const reg = await registrar({ user: 'frank', password });
    const created = await createProvider({ name: 'deleted', port: reg.port, username: 'frank', password });
    await waitForProvider(api, created.id, 'registered', 10_000, inState('registered'));
    assert.equal((await api.delete(`/providers/${created.id}`)).status, 204);
    await waitForTrace(reg, 'the binding removed', 5000, (m) => unregistered(m));
    assert.equal((await api.get(`/providers/${created.id}`)).status, 404);
  });

  test('moving a provider to another address unregisters at the old one and registers at the new one', async () => {
    const password = secret();
    const old = await registrar({ user: 'grace', password });
    const created = await createProvider({ name: 'moving', port: old.port, username: 'grace', password });
    await waitForProvider(api, created.id, 'registered', 10_000, inState('registered'));
    const moved = await registrar({ user: 'grace', password });
    const saved = await api.patch(`/providers/${created.id}`, { port: moved.port });
    assert.equal(saved.status, 200);
    await waitForTrace(old, 'the old binding removed', 5000, (m) => unregistered(m));
    await waitForTrace(moved, 'a registration at the new address', 10_000, (m) => answersIn(m).includes('200'));
    await waitForProvider(api, created.id, 'registered at the new address', 10_000, inState('registered'));
    assert.equal((await api.delete(`/providers/${created.id}`)).status, 204);
  });

  test('no log line carries a provider password, through registrations, refusals, outages and API calls', async () => {
    assert.ok(secrets.length >= 8, 'the tests above gave passwords');
    assert.ok(
      logLines.some((l) => l.includes('provider registration failed')),
      'failures were logged (the logs were captured)',
    );
    assert.ok(
      logLines.some((l) => l.includes('provider registration stopped')),
      'refusals were logged',
    );
    for (const s of secrets) {
      const leaks = logLines.filter((l) => l.includes(s));
      assert.deepEqual(leaks, [], 'a log line carries a password');
    }
  });
});

/** The registrar accepted a REGISTER with Expires: 0 that answered its challenge. */
function unregistered(messages: ReturnType<Registrar['trace']>): boolean {
  const i = messages.findIndex((m) => m.dir === 'received' && m.kind === 'REGISTER' && header(m, 'Expires') === '0' && header(m, 'Authorization') !== '');
  return i >= 0 && messages.slice(i + 1).some((m) => m.dir === 'sent' && m.kind === '200' && header(m, 'CSeq') === header(messages[i]!, 'CSeq'));
}
