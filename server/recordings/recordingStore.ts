/**
 * Where recordings live. The engines always write a recording into a local file (`place`); once it
 * is complete, `keep` makes it durable where the switch keeps recordings: on the data directory
 * (`RecordingFiles`, the default) or in an S3-compatible bucket (`S3Recordings`, when
 * RECORDINGS_S3_BUCKET is set). The row of a recording keeps the `relative` name either way.
 */
import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import type { RecordingSettings } from '../config.ts';
import { RecordingFiles } from './recordingFiles.ts';

export interface RecordingStore {
  readonly kind: 'disk' | 's3';
  /** A new recording's place: relative (for the row) and absolute (the local file the engine writes). */
  place(tenantId: string, recordingId: string): { relative: string; absolute: string };
  /** The recording is complete in its local file: keep it where recordings live. */
  keep(relative: string): Promise<void>;
  /** Its size in bytes; undefined when its audio is gone. */
  size(relative: string): Promise<number | undefined>;
  /** Its bytes, or those from `start` to `end` (inclusive), for a player or a download. */
  open(relative: string, range?: { start: number; end: number }): Promise<Readable>;
  /** Deletes a recording's audio; one already gone is not an error. */
  remove(relative: string): Promise<void>;
}

/** The store the configuration names; the S3 client is loaded only when a bucket is configured. */
export async function openRecordingStore(settings: RecordingSettings, dataDir: string, log: Logger): Promise<RecordingStore> {
  const files = new RecordingFiles(dataDir);
  if (!settings.s3) return files;
  const { S3Recordings } = await import('./s3Recordings.ts');
  return S3Recordings.open(settings.s3, files, log);
}
