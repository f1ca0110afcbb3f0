/**
 * Picks and starts the media engine the settings ask for. `auto` takes rtpengine when one is
 * configured (`RTPENGINE_NG`) or its binary is on the PATH, else the embedded relay, so a fresh
 * `npm install && npm start` relays audio with nothing else installed.
 */
import { lookup } from 'node:dns/promises';
import { accessSync, constants } from 'node:fs';
import { isIP } from 'node:net';
import path from 'node:path';
import type { Logger } from 'pino';
import { DirectMedia } from './directMedia.ts';
import { EmbeddedRelay } from './embedded/embeddedRelay.ts';
import type { MediaEngine } from './engine.ts';
import { DtmfLog } from './rtpengine/dtmfLog.ts';
import { NgClient } from './rtpengine/ngClient.ts';
import { RtpengineEngine } from './rtpengine/rtpengineEngine.ts';
import { RtpengineProcess, RtpengineStartError } from './rtpengine/rtpengineProcess.ts';
import type { MediaSettings } from './settings.ts';

export interface MediaDeps {
  log: Logger;
  /** Where the PID file of an rtpengine the switch starts lives (DATA_DIR). */
  dataDir: string;
  /** No-RTP sweep interval; tests shorten it. */
  sweepMs?: number;
}

/** The binary's full path if it can be run, else undefined. */
export function findExecutable(binary: string): string | undefined {
  const candidates = binary.includes('/')
    ? [binary]
    : (process.env.PATH ?? '')
        .split(path.delimiter)
        .filter(Boolean)
        .map((d) => path.join(d, binary));
  for (const c of candidates) {
    try {
      accessSync(c, constants.X_OK);
      return c;
    } catch {
      /* not here */
    }
  }
  return undefined;
}

/** The advertised address as an IPv4 address: a name (the SIP advertised host) is resolved once. */
async function advertisedIPv4(value: string): Promise<string> {
  let address = value;
  if (isIP(value) !== 4) {
    try {
      address = (await lookup(value, { family: 4 })).address;
    } catch (err) {
      throw new MediaConfigError(`the media relay's address: ${value} does not resolve to an IPv4 address (${(err as Error).message}); set MEDIA_ADVERTISED_ADDRESS`);
    }
  }
  if (address === '0.0.0.0') throw new MediaConfigError('the media relay cannot advertise 0.0.0.0: set MEDIA_ADVERTISED_ADDRESS');
  return address;
}

export class MediaConfigError extends Error {}

/** Where the switch's own side of a leg it answers listens for rtpengine: on the media address, loopback if that is any. */
const switchSideAddress = (bindAddress: string) => (bindAddress === '0.0.0.0' ? '127.0.0.1' : bindAddress);

export async function openMediaEngine(given: MediaSettings, deps: MediaDeps): Promise<MediaEngine> {
  const settings = given.engine === 'direct' ? given : { ...given, advertisedAddress: await advertisedIPv4(given.advertisedAddress) };
  const silence = { flagMs: settings.noRtpFlagMs, endMs: settings.noRtpHangupMs, sweepMs: deps.sweepMs };
  const log = deps.log.child({ component: 'media' });
  if (settings.engine === 'direct') {
    log.info('media: direct (SDP untouched, no relay)');
    return new DirectMedia();
  }
  const wantRtpengine =
    settings.engine === 'rtpengine' || (settings.engine === 'auto' && (settings.rtpengine.ng !== null || findExecutable(settings.rtpengine.binary) !== undefined));
  if (!wantRtpengine) {
    const relay = new EmbeddedRelay({
      bindAddress: settings.bindAddress,
      advertisedAddress: settings.advertisedAddress,
      portMin: settings.portMin,
      portMax: settings.portMax,
      silence,
    });
    log.info(
      { bind: settings.bindAddress, advertised: settings.advertisedAddress, ports: `${settings.portMin}-${settings.portMax}` },
      `media: embedded relay${settings.engine === 'auto' ? ` (${settings.rtpengine.binary} not found)` : ''}`,
    );
    return relay;
  }
  if (settings.rtpengine.ng) {
    const client = new NgClient(settings.rtpengine.ng);
    const engine = new RtpengineEngine({ client, silence, localAddress: switchSideAddress(settings.bindAddress) });
    try {
      await engine.ping();
    } catch (err) {
      await engine.close();
      throw new RtpengineStartError(`rtpengine at ${client.target} (RTPENGINE_NG) does not answer its ng control protocol: ${(err as Error).message}`);
    }
    log.info({ control: client.target }, 'media: rtpengine (running elsewhere; its own configuration applies)');
    return engine;
  }
  const binary = findExecutable(settings.rtpengine.binary) ?? settings.rtpengine.binary;
  let engine: RtpengineEngine | undefined;
  const pidFile = path.join(deps.dataDir, 'rtpengine.pid');
  // A daemon left running for this start sends its DTMF events where the previous run listened.
  const dtmf = await DtmfLog.open((e) => engine?.emit(e), RtpengineProcess.keptDtmfPort(pidFile));
  let daemon: RtpengineProcess;
  try {
    daemon = await RtpengineProcess.start({
      binary,
      bindAddress: settings.bindAddress,
      advertisedAddress: settings.advertisedAddress,
      portMin: settings.portMin,
      portMax: settings.portMax,
      dtmfLogDest: dtmf.destination,
      pidFile,
      log,
    });
  } catch (err) {
    dtmf.close();
    throw err;
  }
  engine = new RtpengineEngine({
    client: new NgClient(daemon.control),
    silence,
    localAddress: switchSideAddress(settings.bindAddress),
    onClose: async ({ keepCalls }) => {
      dtmf.close();
      await daemon.stop({ keep: keepCalls === true });
      if (keepCalls && daemon.running) log.info({ pid: daemon.pid }, 'rtpengine left running for the live calls; the next start takes it over');
    },
  });
  log.info({ pid: daemon.pid }, `media: rtpengine (${daemon.adopted ? 'left running by the previous run, taken over' : 'started by the switch'}, userspace)`);
  return engine;
}
