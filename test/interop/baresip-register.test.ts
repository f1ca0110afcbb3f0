/**
 * A real phone: baresip registers to an account created through the API with the switch's
 * defaults, and the binding shows up in GET /registrations. Also pins down how baresip 1.0.0
 * (Debian 12) handles our challenges: its libre rejects the whole 401 when any WWW-Authenticate
 * names an algorithm other than MD5, even after an MD5 one; that is why the default is MD5 alone.
 * SQLite only: the storage paths are covered on both dialects elsewhere.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createSipAccount, signUp, type ApiClient } from '../helpers/api.ts';
import { startTestSwitch, type TestSwitch } from '../helpers/switch.ts';
import { exitOf, freeUdpTcpPort, skipWithout, startTool, waitFor } from './tools.ts';

const noBaresip = skipWithout('baresip', 'baresip');

interface Binding {
  username: string;
  contact: string;
  source: { address: string; port: number; transport: string };
  userAgent: string | null;
  digestAlgorithm: string;
}

/**
 * A headless baresip: no audio, video, console or NAT modules, only the account loader. Nothing
 * in it resolves names (every URI is an IP literal); the DNS server is pinned to loopback anyway
 * so a surprise lookup cannot leave the machine.
 */
function writeBaresipConfig(dir: string, listenPort: number, account: { username: string; password: string }, sipPort: number, transport: 'udp' | 'tcp' | 'tls') {
  writeFileSync(
    path.join(dir, 'config'),
    [
      'poll_method\tepoll',
      `sip_listen\t127.0.0.1:${listenPort}`,
      'dns_server\t127.0.0.1:53',
      'module_path\t/usr/lib/baresip/modules',
      'module_tmp\taccount.so',
      // The switch's generated certificate is self-signed; baresip 1.0 checks no server certificate anyway.
      'sip_verify_server\tno',
    ].join('\n') + '\n',
  );
  writeFileSync(
    path.join(dir, 'accounts'),
    `<sip:${account.username}@127.0.0.1>;auth_pass=${account.password};outbound="sip:127.0.0.1:${sipPort};transport=${transport}";regint=60\n`,
  );
}

describe('baresip registers to the switch (sqlite)', { skip: noBaresip, timeout: 120_000 }, () => {
  let sw: TestSwitch;
  let api: ApiClient;
  const dirs: string[] = [];

  before(async () => {
    sw = await startTestSwitch('sqlite');
    api = await signUp(sw.httpUrl);
  });
  after(async () => {
    await sw?.close();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  async function bindingOf(username: string): Promise<Binding | undefined> {
    const r = await api.get<{ items: Binding[] }>('/registrations');
    assert.equal(r.status, 200);
    return r.body.items.find((b) => b.username === username);
  }

  /** Runs baresip for one account; `-t` makes it quit by itself should this test lose track of it. */
  async function startPhone(account: { username: string; password: string }, transport: 'udp' | 'tcp' | 'tls') {
    const dir = mkdtempSync(path.join(tmpdir(), 'sipswitch-baresip-'));
    dirs.push(dir);
    const listenPort = await freeUdpTcpPort();
    writeBaresipConfig(dir, listenPort, account, transport === 'tls' ? sw.running.tlsPort! : sw.sipPort, transport);
    const phone = startTool('baresip', ['-4', '-f', dir, '-t', '60'], dir);
    const exited = exitOf(phone.child, 70_000, phone.output);
    return { ...phone, exited, listenPort };
  }

  for (const transport of ['udp', 'tcp', 'tls'] as const) {
    test(`over ${transport.toUpperCase()}: binding appears with its user agent and source, and goes on de-registration`, async () => {
      const account = await createSipAccount(api);
      const phone = await startPhone(account, transport);
      try {
        const b = await waitFor(`baresip's binding for ${account.username}`, 15_000, async () => {
          if (phone.child.exitCode !== null) throw new Error(`baresip exited early:\n${phone.output()}`);
          return bindingOf(account.username);
        });
        assert.match(b.userAgent ?? '', /baresip/);
        assert.equal(b.digestAlgorithm, 'MD5');
        assert.equal(b.source.address, '127.0.0.1');
        assert.equal(b.source.transport, transport);
        // Over TLS baresip names its TLS listener (the listen port + 1) in its Contact.
        const contactPort = transport === 'tls' ? phone.listenPort + 1 : phone.listenPort;
        assert.match(b.contact, new RegExp(`^sip:${account.username}-[^@]+@127\\.0\\.0\\.1:${contactPort}\\b`));
        // Over UDP baresip sends from its listening socket; a TCP connection has an ephemeral source port.
        if (transport === 'udp') assert.equal(b.source.port, phone.listenPort);
        assert.match(phone.output(), /200 OK \(sipswitch\)/);
      } finally {
        // SIGTERM makes baresip de-register (Expires: 0) before it exits.
        phone.child.kill('SIGTERM');
      }
      const end = await phone.exited;
      assert.equal(end.signal, null, `baresip needed SIGKILL:\n${end.output}`);
      await waitFor(`the binding of ${account.username} to go`, 10_000, async () => ((await bindingOf(account.username)) ? undefined : true));
    });
  }

  test('offering MD5 and SHA-256 defeats baresip 1.0.0 (it rejects any non-MD5 challenge)', async () => {
    const account = await createSipAccount(api, { digestAlgorithms: ['MD5', 'SHA-256'] });
    const phone = await startPhone(account, 'udp');
    try {
      await waitFor('baresip to report its failed REGISTER', 15_000, async () => (/Register: Function not implemented/.test(phone.output()) ? true : undefined));
      assert.equal(await bindingOf(account.username), undefined);
    } finally {
      phone.child.kill('SIGTERM');
      await phone.exited;
    }
  });
});
