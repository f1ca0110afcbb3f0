/**
 * A real phone: baresip, driven over its ctrl_tcp module (netstring-framed JSON commands `dial`,
 * `hangup`, `listcalls`, answered with responses and call events), headless: no audio devices, the
 * `aubridge` module stands in for both the player and the source, and G.711 is the codec.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { exitOf, freeUdpTcpPort, startTool, waitFor, type Finished } from '../interop/tools.ts';
import { setTimeout as sleep } from 'node:timers/promises';

export interface Phone {
  name: string;
  listenPort: number;
  output(): string;
  exited: Promise<Finished>;
  kill(): void;
  /** SIGTERM (baresip de-registers and quits), SIGKILL if it is still there after 5 s. */
  stop(): Promise<void>;
  /** Sends a ctrl_tcp command; resolves with its response. */
  command(command: string, params?: string): Promise<{ ok: boolean; data?: string }>;
  /** Events baresip reported over ctrl_tcp (`CALL_RINGING`, `CALL_ESTABLISHED`, `CALL_CLOSED`, …). */
  events: Array<{ type: string; param?: string }>;
  close(): void;
}

/** Netstrings: `<length>:<bytes>,`. */
function netstring(s: string): string {
  return `${Buffer.byteLength(s)}:${s},`;
}

/** A baresip phone in its own home under `dir`, with `accountLine` as its one account (baresip's accounts file syntax). */
export async function startPhone(dir: string, name: string, accountLine: string): Promise<Phone> {
  const home = mkdtempSync(path.join(dir, `${name}-`));
  const listenPort = await freeUdpTcpPort();
  const ctrlPort = await freeUdpTcpPort();
  writeFileSync(
    path.join(home, 'config'),
    [
      'poll_method\tepoll',
      `sip_listen\t127.0.0.1:${listenPort}`,
      'dns_server\t127.0.0.1:53',
      'module_path\t/usr/lib/baresip/modules',
      'module\tg711.so',
      'module\taubridge.so',
      'module_tmp\taccount.so',
      'module_app\tmenu.so',
      'module_app\tctrl_tcp.so',
      `ctrl_tcp_listen\t127.0.0.1:${ctrlPort}`,
      `audio_player\taubridge,${name}`,
      `audio_source\taubridge,${name}`,
    ].join('\n') + '\n',
  );
  writeFileSync(path.join(home, 'accounts'), `${accountLine}\n`);
  const tool = startTool('baresip', ['-4', '-f', home, '-t', '60'], home);
  const pid = tool.child.pid!;
  const exited = exitOf(tool.child, 70_000, tool.output);
  const running = () => tool.child.exitCode === null && tool.child.signalCode === null;
  const kill = () => {
    if (running()) process.kill(pid, 'SIGKILL');
  };
  const stop = async () => {
    if (!running()) return;
    process.kill(pid, 'SIGTERM');
    await Promise.race([exited, sleep(5000)]);
    kill();
  };

  const socket = await waitFor(`${name}'s ctrl_tcp on ${ctrlPort}`, 10_000, async () => {
    if (tool.child.exitCode !== null) throw new Error(`baresip ${name} exited:\n${tool.output()}`);
    return new Promise<net.Socket | undefined>((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port: ctrlPort });
      s.once('connect', () => resolve(s));
      s.once('error', () => resolve(undefined));
    });
  });
  socket.on('error', () => {});
  let buffer = '';
  const events: Phone['events'] = [];
  const pending = new Map<string, (r: { ok: boolean; data?: string }) => void>();
  socket.on('data', (d) => {
    buffer += d.toString('utf8');
    for (;;) {
      const m = /^(\d+):/.exec(buffer);
      if (!m) return;
      const len = Number(m[1]);
      const start = m[0].length;
      if (buffer.length < start + len + 1) return;
      const json = buffer.slice(start, start + len);
      buffer = buffer.slice(start + len + 1);
      try {
        const msg = JSON.parse(json) as { event?: boolean; type?: string; param?: string; response?: boolean; ok?: boolean; data?: string; token?: string };
        if (msg.event && msg.type) events.push({ type: msg.type, ...(msg.param ? { param: msg.param } : {}) });
        else if (msg.response && msg.token) pending.get(msg.token)?.({ ok: Boolean(msg.ok), ...(msg.data ? { data: msg.data } : {}) });
      } catch {
        /* not JSON: ignore */
      }
    }
  });
  let tokens = 0;
  return {
    name,
    listenPort,
    output: tool.output,
    exited,
    kill,
    stop,
    events,
    command(command, params) {
      const token = `t${++tokens}`;
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`${name}: no response to ${command}`)), 5000);
        pending.set(token, (r) => {
          clearTimeout(t);
          resolve(r);
        });
        socket.write(netstring(JSON.stringify({ command, ...(params ? { params } : {}), token })));
      });
    },
    close: () => socket.destroy(),
  };
}
