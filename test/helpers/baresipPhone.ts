/**
 * A real phone for tests: baresip, headless, driven over its ctrl_tcp module (netstring-framed
 * JSON commands `dial`, `hangup`, `listcalls`, answered with responses and call events). Without
 * `tone` it carries no audio of its own (the `aubridge` module stands in for player and source);
 * with `tone` its microphone is a sine of that frequency (`ausine`) and what it hears is written
 * to a WAV file by the `sndfile` module (`received()`), for a tone detector (tone.ts). Its SDP
 * names loopback (`net_interface 127.0.0.1`); G.711 is the codec.
 */
import { mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { exitOf, freeUdpTcpPort, startTool, waitFor, type Finished } from '../interop/tools.ts';
import { elapse } from './time.ts';
import { readWav } from './tone.ts';

export interface PhoneAccount {
  username: string;
  password: string;
}

export interface PhoneOptions {
  answer: 'manual' | 'auto';
  /** The switch's SIP port, or where the phone's SIP goes instead (a NAT in between: sipNat.ts). */
  outboundPort: number;
  /** A sine of this many Hz as the microphone, and what the phone hears recorded. */
  tone?: number;
  /**
   * Registers and calls over TLS to this port of 127.0.0.1 instead of UDP, trusting the CA in
   * `caFile`; `srtp`: its calls must be SRTP with keys in the SDP (baresip's `srtp-mand`).
   */
  tls?: { port: number; caFile: string; srtp?: boolean };
}

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
  /** With `tone`: the WAV file of what the phone heard in its call (written as it goes), once there is one. */
  received(): string | undefined;
  /** Seconds of audio in that file so far. */
  recordedSeconds(): number;
  /** SIGSTOP: the phone freezes (sends nothing, SIP nor RTP) until `resume`. */
  freeze(): void;
  resume(): void;
}

/** Netstrings: `<length>:<bytes>,`. */
function netstring(s: string): string {
  return `${Buffer.byteLength(s)}:${s},`;
}

/**
 * `account`: a username and password (the phone registers at 127.0.0.1 through `outboundPort`), or
 * an accounts line as baresip reads it, used as it is (e.g. the one the portal's setup guide gives).
 */
export async function startPhone(dir: string, name: string, account: PhoneAccount | string, o: PhoneOptions): Promise<Phone> {
  const home = mkdtempSync(path.join(dir, `${name}-`));
  const listenPort = await freeUdpTcpPort();
  const recordings = path.join(home, 'recordings');
  mkdirSync(recordings);
  const ctrlPort = await freeUdpTcpPort();
  writeFileSync(
    path.join(home, 'config'),
    [
      'poll_method\tepoll',
      `sip_listen\t127.0.0.1:${listenPort}`,
      'dns_server\t127.0.0.1:53',
      'net_interface\t127.0.0.1',
      'module_path\t/usr/lib/baresip/modules',
      'module\tg711.so',
      'module\taubridge.so',
      ...(o.tls ? [`sip_cafile\t${o.tls.caFile}`, ...(o.tls.srtp ? ['module\tsrtp.so'] : [])] : []),
      ...(o.tone
        ? ['module\tausine.so', 'module\tsndfile.so', `snd_path\t${recordings}`, 'ausrc_srate\t48000', 'auplay_srate\t48000', 'ausrc_channels\t2', 'auplay_channels\t2']
        : []),
      'module_tmp\taccount.so',
      'module_app\tmenu.so',
      'module_app\tctrl_tcp.so',
      `ctrl_tcp_listen\t127.0.0.1:${ctrlPort}`,
      `audio_player\taubridge,${name}`,
      o.tone ? `audio_source\tausine,${o.tone}` : `audio_source\taubridge,${name}`,
    ].join('\n') + '\n',
  );
  writeFileSync(
    path.join(home, 'accounts'),
    typeof account === 'string'
      ? `${account};answermode=${o.answer};audio_codecs=PCMU\n`
      : o.tls
        ? `<sip:${account.username}@127.0.0.1;transport=tls>;auth_pass=${account.password};outbound="sip:127.0.0.1:${o.tls.port};transport=tls";regint=60;answermode=${o.answer};audio_codecs=PCMU${o.tls.srtp ? ';mediaenc=srtp-mand' : ''}\n`
        : `<sip:${account.username}@127.0.0.1>;auth_pass=${account.password};outbound="sip:127.0.0.1:${o.outboundPort};transport=udp";regint=60;answermode=${o.answer};audio_codecs=PCMU\n`,
  );
  const tool = startTool('baresip', ['-4', '-f', home, '-t', '60'], home);
  const pid = tool.child.pid!;
  const exited = exitOf(tool.child, 70_000, tool.output);
  const running = () => tool.child.exitCode === null && tool.child.signalCode === null;
  const kill = () => {
    if (running()) process.kill(pid, 'SIGKILL');
  };
  const stop = async () => {
    if (!running()) return;
    process.kill(pid, 'SIGCONT');
    process.kill(pid, 'SIGTERM');
    await Promise.race([exited, elapse(5000)]);
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
  const received = () => {
    const file = readdirSync(recordings).find((f) => f.endsWith('-dec.wav'));
    return file && path.join(recordings, file);
  };
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
    received,
    recordedSeconds: () => {
      const file = received();
      if (!file) return 0;
      const wav = readWav(file);
      return wav.samples.length / wav.sampleRate;
    },
    freeze: () => {
      if (running()) process.kill(pid, 'SIGSTOP');
    },
    resume: () => {
      if (running()) process.kill(pid, 'SIGCONT');
    },
  };
}
