/**
 * Both media engines, started the way the switch starts them (openMediaEngine), on loopback with
 * a port range of the test file's own. rtpengine tests skip loudly without the binary (except in
 * CI, where `.ci/run` installs rtpengine-daemon).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import type { MediaEngine, MediaEvent } from '../../server/media/engine.ts';
import { openMediaEngine } from '../../server/media/openMediaEngine.ts';
import type { MediaSettings } from '../../server/media/settings.ts';
import { skipWithout } from '../interop/tools.ts';

export const ENGINES = ['embedded', 'rtpengine'] as const;
export type EngineName = (typeof ENGINES)[number];

const noRtpengine = skipWithout('rtpengine', 'rtpengine-daemon');

/** A reason to skip this engine's tests, or false. */
export function skipEngine(name: EngineName): string | false {
  return name === 'rtpengine' ? noRtpengine : false;
}

export interface TestEngine {
  engine: MediaEngine;
  events: MediaEvent[];
  dataDir: string;
  close(): Promise<void>;
}

export function mediaSettings(over: Partial<MediaSettings> = {}): MediaSettings {
  return {
    engine: 'embedded',
    bindAddress: '127.0.0.1',
    advertisedAddress: '127.0.0.1',
    portMin: 31000,
    portMax: 31999,
    noRtpFlagMs: 0,
    noRtpHangupMs: 0,
    rtpengine: { binary: 'rtpengine', ng: null },
    ...over,
  };
}

export async function startEngine(name: EngineName, over: Partial<MediaSettings> = {}, sweepMs?: number): Promise<TestEngine> {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'media-test-'));
  const log = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
  const engine = await openMediaEngine(mediaSettings({ engine: name, ...over }), { log, dataDir, sweepMs });
  const events: MediaEvent[] = [];
  engine.subscribe((e) => events.push(e));
  return {
    engine,
    events,
    dataDir,
    close: async () => {
      await engine.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
