/**
 * The registration agent when a provider's host name is the trouble, against a loopback DNS
 * server the test controls: a failure that may pass (SERVFAIL, no answer) never stops the
 * registration, however long it lasts; only a name that keeps answering NXDOMAIN for the whole
 * window (PROVIDER_NXDOMAIN_DISABLE_HOURS, 3.6 s here) stops it, with a reason naming the host.
 * A name that starts to exist within the window is registered.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { signUp, type ApiClient, type UncheckedJson } from '../helpers/api.ts';
import { startDnsServer, type DnsFailure, type TestDnsServer } from '../helpers/dnsServer.ts';
import { startTestSwitch, type TestSwitch } from '../helpers/switch.ts';
import { scratch, sleep } from '../calls/harness.ts';
import { silence } from '../helpers/time.ts';
import { skipWithout } from '../interop/tools.ts';
import { answersIn, FAST_SIP_TIMERS, inState, listedProvider, newSecret, PROVIDER_ENV, registersIn, startRegistrar, waitForProvider, type Registrar } from './registrarHarness.ts';

const noSipp = skipWithout('sipp', 'sip-tester');
const NXDOMAIN_WINDOW_MS = 3600;

describe('provider registration when DNS fails', { skip: noSipp, timeout: 90_000 }, () => {
  let dns: TestDnsServer;
  let sw: TestSwitch;
  let api: ApiClient;
  const tmp = scratch();
  const registrars: Registrar[] = [];

  before(async () => {
    dns = await startDnsServer();
    sw = await startTestSwitch('sqlite', {
      env: { ...PROVIDER_ENV, DNS_SERVERS: dns.address, DNS_TIMEOUT_MS: '300', PROVIDER_NXDOMAIN_DISABLE_HOURS: String(NXDOMAIN_WINDOW_MS / 3_600_000) },
      sipTimers: FAST_SIP_TIMERS,
    });
    api = await signUp(sw.httpUrl);
  });
  after(async () => {
    for (const r of registrars) r.kill();
    await sw?.close();
    await dns?.close();
    tmp.remove();
  });

  const createProvider = async (name: string, host: string, port: number, password: string) => {
    const r = await api.post('/providers', { name, host, port, username: 'alice', password, register: true, registerExpires: 60 });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    return r.body.id as string;
  };

  /** Watches a provider for `ms`: it must keep failing and retrying, never be stopped. */
  async function assertKeepsRetrying(id: string, host: string, ms: number): Promise<UncheckedJson> {
    const queriesBefore = dns.queries(host, 'A');
    const until = Date.now() + ms;
    let last: UncheckedJson;
    while (Date.now() < until) {
      last = await listedProvider(api, id);
      assert.notEqual(last.status.state, 'disabled', `a passing DNS failure stopped the registration: ${JSON.stringify(last.status)}`);
      assert.notEqual(last.status.state, 'registered');
      await sleep(100);
    }
    // Back-off of 1-2 s: at least three more attempts, each asking for the host's addresses.
    assert.ok(dns.queries(host, 'A') - queriesBefore >= 3, `retried: ${dns.queries(host, 'A') - queriesBefore} more A queries`);
    return last;
  }

  for (const [failure, words] of [
    ['servfail', /ESERVFAIL/],
    ['drop', /ETIMEOUT|timed out/],
  ] as Array<[DnsFailure, RegExp]>) {
    test(`DNS ${failure === 'drop' ? 'that does not answer' : 'answering SERVFAIL'}: the provider keeps retrying, longer than the NXDOMAIN window, and is never stopped`, async () => {
      const host = `${failure}.provider.test`;
      dns.set(host, 'A', failure);
      dns.set(host, 'AAAA', failure);
      const id = await createProvider(`dns-${failure}`, host, 5060, newSecret());
      const failed = await waitForProvider(api, id, 'the DNS failure', 10_000, inState('failed'));
      assert.match(failed.status.lastError, new RegExp(`DNS lookup of ${host.replace(/\./g, '\\.')} failed`));
      assert.match(failed.status.lastError, words);
      assert.match(failed.status.lastError, /retrying/);
      assert.ok(failed.status.nextAttemptAt, 'the next attempt is shown');
      const last = await assertKeepsRetrying(id, host, NXDOMAIN_WINDOW_MS + 2500);
      assert.equal(last.enabled, true);
      assert.equal((await api.delete(`/providers/${id}`)).status, 204);
    });
  }

  test('a name answering NXDOMAIN for the whole window stops the registration with a reason naming it; fixing DNS and saving registers', async () => {
    const host = 'gone.provider.test';
    const password = newSecret();
    const createdAt = Date.now();
    const id = await createProvider('dns-gone', host, 5060, password);
    const first = await waitForProvider(api, id, 'the first NXDOMAIN', 10_000, (p) => p.status.lastError !== null);
    assert.equal(first.status.state, 'failed', 'one NXDOMAIN is not enough to stop');
    assert.match(first.status.lastError, /gone\.provider\.test does not exist \(NXDOMAIN\); retrying/);

    const stopped = await waitForProvider(api, id, 'stopped after the window', 15_000, inState('disabled'));
    assert.ok(Date.now() - createdAt >= NXDOMAIN_WINDOW_MS, 'not stopped before the window passed');
    assert.match(stopped.status.lastError, /the name gone\.provider\.test does not exist \(NXDOMAIN since \d{4}-\d\d-\d\dT/);
    assert.match(stopped.status.lastError, /fix the host and save the provider/);
    assert.equal(stopped.status.nextAttemptAt, null);
    const asked = dns.queries(host, 'A');
    await silence(3000);
    assert.equal(dns.queries(host, 'A'), asked, 'no lookups once stopped');

    // The name is set up; saving the provider (here with the port its registrar listens on) retries.
    const registrar = await startRegistrar({ dir: tmp.dir, user: 'alice', password });
    registrars.push(registrar);
    dns.set(host, 'A', ['127.0.0.1']);
    assert.equal((await api.patch(`/providers/${id}`, { port: registrar.port })).status, 200);
    await waitForProvider(api, id, 'registered once the name exists', 10_000, inState('registered'));
    assert.equal((await api.delete(`/providers/${id}`)).status, 204);
  });

  test('a name answering NXDOMAIN that gets its address within the window is registered', async () => {
    const host = 'new.provider.test';
    const password = newSecret();
    const registrar = await startRegistrar({ dir: tmp.dir, user: 'alice', password });
    registrars.push(registrar);
    const id = await createProvider('dns-new', host, registrar.port, password);
    const first = await waitForProvider(api, id, 'the first NXDOMAIN', 10_000, (p) => p.status.lastError !== null);
    assert.match(first.status.lastError, /new\.provider\.test does not exist \(NXDOMAIN\); retrying/);
    dns.set(host, 'A', ['127.0.0.1']);
    const registered = await waitForProvider(api, id, 'registered', 10_000, inState('registered'));
    assert.equal(registered.status.lastError, null);
    const trace = registrar.trace();
    assert.ok(answersIn(trace).includes('200'));
    assert.match(registersIn(trace)[0]!.text, new RegExp(`^REGISTER sip:new\\.provider\\.test:${registrar.port} SIP/2\\.0`), 'the registrar is addressed by its name');
    assert.equal((await api.delete(`/providers/${id}`)).status, 204);
  });
});
