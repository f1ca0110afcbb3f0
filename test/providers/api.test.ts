/**
 * /api/v1/providers on SQLite and MySQL: a tenant's trunks are created, listed, read, changed and
 * deleted; bad input is a 400 naming the field; names are unique per tenant; another tenant's
 * entries do not exist for it. Passwords are write-only: no response carries one, the database
 * row holds it only sealed, and a switch started with another credentials key says so in the
 * provider's status (and recovers when the password is entered again) instead of failing.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { signUp, type ApiClient, type ApiResponse } from '../helpers/api.ts';
import { DIALECTS, skipUnless } from '../helpers/databases.ts';
import { startDnsServer, type TestDnsServer } from '../helpers/dnsServer.ts';
import { startTestSwitch, type TestSwitch } from '../helpers/switch.ts';
import { scratch } from '../calls/harness.ts';
import { skipWithout } from '../interop/tools.ts';
import { FAST_SIP_TIMERS, inState, newSecret, PROVIDER_ENV, startRegistrar, waitForProvider, type Registrar } from './registrarHarness.ts';

const noSipp = skipWithout('sipp', 'sip-tester');
const OTHER_KEY = Buffer.alloc(32, 7).toString('base64');

for (const dialect of DIALECTS) {
  describe(`providers API [${dialect}]`, { skip: skipUnless(dialect), timeout: 90_000 }, () => {
    let sw: TestSwitch;
    let api: ApiClient;
    /** Provider names here resolve on loopback only (to nothing): no query leaves the machine. */
    let dns: TestDnsServer;
    const tmp = scratch();
    const registrars: Registrar[] = [];
    const logLines: string[] = [];
    /** Every password given to the switch: none may come back or reach a log line. */
    const secrets: string[] = [];
    /** Every response this suite received. */
    const responses: Array<ApiResponse & { what: string }> = [];

    before(async () => {
      dns = await startDnsServer();
      sw = await startTestSwitch(dialect, { env: { ...PROVIDER_ENV, DNS_SERVERS: dns.address, DNS_TIMEOUT_MS: '300' }, sipTimers: FAST_SIP_TIMERS, logLines });
      api = await signUp(sw.httpUrl);
    });
    after(async () => {
      for (const r of registrars) r.kill();
      await sw?.close();
      await dns?.close();
      tmp.remove();
    });

    const secret = () => {
      const s = newSecret();
      secrets.push(s);
      return s;
    };
    /** Sends a request as `client` and keeps the response for the leak check. */
    const call = async (client: ApiClient, method: string, path: string, body?: unknown) => {
      const r = await client.request(method, path, body);
      responses.push({ ...r, what: `${method} ${path}` });
      return r;
    };
    const rawRow = (id: string) => sw.running.store.kysely.selectFrom('providers').selectAll().where('id', '=', id).executeTakeFirst();

    test('create, list, read, change and delete a provider; the password is write-only', async () => {
      const password = secret();
      const created = await call(api, 'POST', '/providers', {
        name: 'acme',
        host: 'sip.acme.example',
        port: 5080,
        transport: 'tcp',
        outboundProxy: 'proxy.acme.example:5061',
        username: 'acct-1',
        authUsername: 'auth-1',
        password,
        realm: 'acme.example',
        fromUser: '{caller}',
        fromDisplay: '{callerName}',
        headers: { 'X-Account': '{username}' },
        register: true,
        registerExpires: 600,
        sourceAddresses: ['192.0.2.0/24', '2001:db8::1'],
      });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const p = created.body;
      assert.equal(p.name, 'acme');
      assert.equal(p.host, 'sip.acme.example');
      assert.equal(p.port, 5080);
      assert.equal(p.transport, 'tcp');
      assert.equal(p.outboundProxy, 'proxy.acme.example:5061');
      assert.equal(p.authUsername, 'auth-1');
      assert.deepEqual(p.headers, { 'X-Account': '{username}' });
      assert.deepEqual(p.sourceAddresses, ['192.0.2.0/24', '2001:db8::1']);
      assert.equal(p.enabled, true);
      assert.equal(p.hasPassword, true);
      assert.ok(!('password' in p), 'no password field');
      assert.match(p.contactUri, new RegExp(`^sip:acct-1@127\\.0\\.0\\.1:${sw.sipPort};transport=tcp;line=[A-Za-z0-9_-]{16}$`));
      assert.ok(['registering', 'failed'].includes(p.status.state), `status of a new registering provider: ${p.status.state}`);

      const listed = await call(api, 'GET', '/providers');
      assert.equal(listed.status, 200);
      assert.deepEqual(
        listed.body.items.map((i: { id: string }) => i.id),
        [p.id],
      );
      const read = await call(api, 'GET', `/providers/${p.id}`);
      assert.equal(read.status, 200);
      assert.equal(read.body.contactUri, p.contactUri);
      assert.equal(read.body.hasPassword, true);

      const newPassword = secret();
      const changed = await call(api, 'PATCH', `/providers/${p.id}`, {
        port: null,
        transport: 'udp',
        password: newPassword,
        register: false,
        headers: {},
        fromUser: '+4930{number}',
      });
      assert.equal(changed.status, 200, JSON.stringify(changed.body));
      assert.equal(changed.body.port, null);
      assert.equal(changed.body.transport, 'udp');
      assert.equal(changed.body.register, false);
      assert.equal(changed.body.fromUser, '+4930{number}');
      assert.deepEqual(changed.body.headers, {});
      assert.equal(changed.body.username, 'acct-1', 'fields not in the PATCH stay');
      assert.equal(changed.body.hasPassword, true);
      assert.equal(changed.body.status.state, 'idle', 'a provider that does not register is idle');
      const sealed = (await rawRow(p.id))!.password_enc;
      assert.equal(typeof sealed, 'string');

      const unchanged = await call(api, 'PATCH', `/providers/${p.id}`, { realm: null });
      assert.equal(unchanged.status, 200);
      assert.equal((await rawRow(p.id))!.password_enc, sealed, 'a PATCH without password keeps it');

      const removed = await call(api, 'PATCH', `/providers/${p.id}`, { password: null });
      assert.equal(removed.body.hasPassword, false);
      assert.equal((await rawRow(p.id))!.password_enc, null);

      assert.equal((await call(api, 'DELETE', `/providers/${p.id}`)).status, 204);
      assert.equal((await call(api, 'GET', `/providers/${p.id}`)).status, 404);
      assert.equal((await call(api, 'DELETE', `/providers/${p.id}`)).status, 404);
      assert.deepEqual((await call(api, 'GET', '/providers')).body.items, []);
    });

    test('the database row holds the password only sealed under the configured key', async () => {
      const password = secret();
      const r = await call(api, 'POST', '/providers', { name: 'sealed', host: '192.0.2.5', username: 'u1', password });
      assert.equal(r.status, 201);
      const row = await rawRow(r.body.id);
      assert.ok(row);
      assert.ok(!JSON.stringify(row).includes(password), 'the row does not contain the password');
      assert.ok(!row.password_enc!.includes(Buffer.from(password).toString('base64')), 'nor its base64');
      assert.match(row.password_enc!, /^v1:[0-9a-f]{8}:/, 'sealed, with the id of the key');
      const status = await sw.running.store.kysely.selectFrom('provider_status').selectAll().execute();
      assert.ok(!JSON.stringify(status).includes(password));
      // What the agent and the dialer get back is the password itself.
      const provider = (await sw.running.store.providers.byId(r.body.id))!;
      assert.equal(await sw.running.store.providers.password(provider), password);
      assert.equal((await call(api, 'DELETE', `/providers/${r.body.id}`)).status, 204);
    });

    test('bad input is refused with a 400 that names the field, and nothing is stored', async () => {
      assert.equal((await call(api, 'PUT', '/dialplans/inbound', { source: 'export default async function (call) {}\n' })).status, 201);
      const base = { name: 'valid', host: 'sip.example.com' };
      const cases: Array<[string, Record<string, unknown>, string, RegExp]> = [
        ['a host with a space', { host: 'bad host' }, 'host', /host name or an IP address/],
        ['a host with a port', { host: 'sip.example.com:5060' }, 'host', /put the port in "port"/],
        ['port 0', { port: 0 }, 'port', /./],
        ['port 65536', { port: 65536 }, 'port', /./],
        ['a port as text', { port: '5060' }, 'port', /./],
        ['an unknown template variable', { fromUser: '{foo}' }, 'fromUser', /unknown variable \{foo\}; known: \{caller\}/],
        ['a template in a header with an unknown variable', { headers: { 'X-Id': '{bar}' } }, 'headers.X-Id', /unknown variable \{bar\}/],
        ['a header the switch writes (Via)', { headers: { Via: 'SIP/2.0/UDP evil' } }, 'headers.Via', /Via is set by the switch/],
        ['a header the switch writes (Contact, any case)', { headers: { contact: 'x' } }, 'headers.contact', /contact is set by the switch/],
        ['a header name with a space', { headers: { 'X Id': 'x' } }, 'headers.X Id', /letters, digits and "-"/],
        ['a CIDR with too many bits', { sourceAddresses: ['10.0.0.0/33'] }, 'sourceAddresses.0', /CIDR/],
        ['a source that is a name', { sourceAddresses: ['pbx.example.com'] }, 'sourceAddresses.0', /IP address/],
        ['registering without a username', { register: true }, 'username', /registers needs a username/],
        ['an unknown dialplan', { dialplan: 'nope' }, 'dialplan', /no dialplan named nope/],
        ['a name with a space', { name: 'my trunk' }, 'name', /letters, digits/],
        ['a registration interval under a minute', { username: 'u', register: true, registerExpires: 30 }, 'registerExpires', /./],
        ['an outbound proxy with a bad port', { outboundProxy: 'proxy.example.com:99999' }, 'outboundProxy', /host or host:port/],
        ['a line break in the realm', { realm: 'a\r\nVia: x' }, 'realm', /line breaks/],
        ['an unknown field', { secret: 'x' }, '', /secret/],
      ];
      for (const [what, body, field, message] of cases) {
        const r = await call(api, 'POST', '/providers', { ...base, ...body });
        assert.equal(r.status, 400, `${what}: ${r.status} ${JSON.stringify(r.body)}`);
        if (field) {
          assert.equal(r.body.field, field, `${what}: field of ${JSON.stringify(r.body)}`);
          assert.ok(r.body.error.startsWith(`${field}: `), `${what}: the message names the field: ${r.body.error}`);
        }
        assert.match(r.body.error, message, what);
      }
      assert.deepEqual((await call(api, 'GET', '/providers')).body.items, [], 'nothing stored');

      const ok = await call(api, 'POST', '/providers', { ...base, dialplan: 'inbound' });
      assert.equal(ok.status, 201, JSON.stringify(ok.body));
      const id = ok.body.id;
      const badPatch = await call(api, 'PATCH', `/providers/${id}`, { headers: { 'Max-Forwards': '1' } });
      assert.equal(badPatch.status, 400);
      assert.equal(badPatch.body.field, 'headers.Max-Forwards');
      const noUser = await call(api, 'PATCH', `/providers/${id}`, { register: true });
      assert.equal(noUser.status, 400, 'turning registration on needs the username the entry lacks');
      assert.equal(noUser.body.field, 'username');
      const noDialplan = await call(api, 'PATCH', `/providers/${id}`, { dialplan: 'nope' });
      assert.equal(noDialplan.status, 400);
      assert.equal(noDialplan.body.field, 'dialplan');
      const read = await call(api, 'GET', `/providers/${id}`);
      assert.equal(read.body.register, false, 'a refused PATCH changes nothing');
      assert.equal(read.body.dialplan, 'inbound');
      assert.equal((await call(api, 'DELETE', `/providers/${id}`)).status, 204);
    });

    test('names are unique per tenant and case-insensitive on every database', async () => {
      const first = await call(api, 'POST', '/providers', { name: 'Carrier', host: '192.0.2.10' });
      assert.equal(first.status, 201);
      assert.equal(first.body.name, 'carrier', 'kept in lower case');
      const again = await call(api, 'POST', '/providers', { name: 'carrier', host: '192.0.2.11' });
      assert.equal(again.status, 409);
      assert.equal(again.body.field, 'name');
      assert.match(again.body.error, /^name: a provider named carrier already exists/);
      const otherCase = await call(api, 'POST', '/providers', { name: 'CARRIER', host: '192.0.2.12' });
      assert.equal(otherCase.status, 409, `a name differing only in case: ${JSON.stringify(otherCase.body)}`);
      // dial('number@Carrier') finds it whatever the case.
      const tenantId = (await call(api, 'GET', '/me')).body.tenant.id;
      assert.equal((await sw.running.store.providers.byTenantName(tenantId, 'CarRier'))?.id, first.body.id);

      const second = await call(api, 'POST', '/providers', { name: 'backup', host: '192.0.2.13' });
      assert.equal(second.status, 201);
      const rename = await call(api, 'PATCH', `/providers/${second.body.id}`, { name: 'Carrier' });
      assert.equal(rename.status, 409);
      assert.equal((await call(api, 'GET', `/providers/${second.body.id}`)).body.name, 'backup');
      assert.equal((await call(api, 'PATCH', `/providers/${second.body.id}`, { name: 'Backup-2' })).body.name, 'backup-2');

      // Another tenant may use the same name.
      const other = await signUp(sw.httpUrl);
      assert.equal((await call(other, 'POST', '/providers', { name: 'Carrier', host: '192.0.2.14' })).status, 201);
      for (const id of [first.body.id, second.body.id]) assert.equal((await call(api, 'DELETE', `/providers/${id}`)).status, 204);
    });

    test('a tenant may have PROVIDERS_PER_TENANT providers; one more is refused with a message saying so', async () => {
      const tenant = await signUp(sw.httpUrl);
      const limit = sw.running.config.providers.perTenant;
      for (let i = 0; i < limit; i++) assert.equal((await call(tenant, 'POST', '/providers', { name: `p${i}`, host: '192.0.2.1' })).status, 201);
      const refused = await call(tenant, 'POST', '/providers', { name: 'one-more', host: '192.0.2.1' });
      assert.equal(refused.status, 409);
      assert.match(refused.body.error, new RegExp(`at most ${limit} providers`));
      assert.equal((await tenant.get('/providers')).body.items.length, limit);
    });

    test("another tenant's provider does not exist for a tenant", async () => {
      const password = secret();
      const mine = await call(api, 'POST', '/providers', { name: 'private', host: '192.0.2.20', username: 'u', password });
      assert.equal(mine.status, 201);
      const id = mine.body.id;
      const stranger = await signUp(sw.httpUrl);
      assert.equal((await call(stranger, 'GET', `/providers/${id}`)).status, 404);
      assert.equal((await call(stranger, 'PATCH', `/providers/${id}`, { host: '203.0.113.66', password: 'attacker' })).status, 404);
      assert.equal((await call(stranger, 'DELETE', `/providers/${id}`)).status, 404);
      assert.ok(!(await call(stranger, 'GET', '/providers')).body.items.some((p: { id: string }) => p.id === id), 'absent from its list');
      const still = await call(api, 'GET', `/providers/${id}`);
      assert.equal(still.status, 200);
      assert.equal(still.body.host, '192.0.2.20');
      const provider = (await sw.running.store.providers.byId(id))!;
      assert.equal(await sw.running.store.providers.password(provider), password, 'the password is untouched');
      assert.equal((await call(api, 'DELETE', `/providers/${id}`)).status, 204);
    });

    test('a switch started with another credentials key says the password cannot be opened, and recovers when it is entered again', { skip: noSipp }, async () => {
      const password = secret();
      const first = await startRegistrar({ dir: tmp.dir, user: 'keyed', password });
      registrars.push(first);
      const created = await call(api, 'POST', '/providers', {
        name: 'keyed',
        host: '127.0.0.1',
        port: first.port,
        username: 'keyed',
        password,
        register: true,
        registerExpires: 60,
      });
      assert.equal(created.status, 201);
      const id = created.body.id;
      await waitForProvider(api, id, 'registered', 10_000, inState('registered'));
      first.kill();

      await sw.restart({ CREDENTIALS_KEY: OTHER_KEY });
      api.baseUrl = sw.httpUrl;
      const stuck = await waitForProvider(
        api,
        id,
        'the key problem in the status',
        15_000,
        (p) => p.status.state === 'failed' && /cannot be opened/.test(p.status.lastError ?? ''),
      );
      assert.match(stuck.status.lastError, /sealed with key [0-9a-f]{8}, but the configured key is [0-9a-f]{8}/);
      assert.match(stuck.status.lastError, /CREDENTIALS_KEY .*or enter the password again/);
      assert.doesNotMatch(stuck.status.lastError, /internal error/);
      assert.ok(stuck.status.nextAttemptAt, 'it retries (the right key may come back with a restart)');
      assert.equal(stuck.hasPassword, true);
      assert.equal((await call(api, 'GET', '/providers')).status, 200, 'the API works on');

      // Entering the password again seals it under the key now configured.
      const second = await startRegistrar({ dir: tmp.dir, user: 'keyed', password, port: first.port });
      registrars.push(second);
      assert.equal((await call(api, 'PATCH', `/providers/${id}`, { password })).status, 200);
      await waitForProvider(api, id, 'registered under the new key', 10_000, inState('registered'));
      assert.equal((await call(api, 'DELETE', `/providers/${id}`)).status, 204);
    });

    test('no response and no log line carried a password', () => {
      assert.ok(responses.length > 40, 'the suite made its requests');
      assert.ok(logLines.length > 0, 'logs were captured');
      for (const s of secrets) {
        for (const r of responses) assert.ok(!JSON.stringify(r.body ?? '').includes(s), `${r.what} returned a password`);
        assert.deepEqual(
          logLines.filter((l) => l.includes(s)),
          [],
          'a log line carries a password',
        );
      }
    });
  });
}
