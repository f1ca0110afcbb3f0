/**
 * Recordings on disk: DATA_DIR/recordings/<tenant>/<recording id>.wav. The database row keeps the
 * path relative to the root, so DATA_DIR can move. Names are the switch's own ids, never anything
 * a tenant typed; a relative path that would leave the root is refused anyway.
 */
import { createReadStream } from 'node:fs';
import { rm, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import type { RecordingStore } from './recordingStore.ts';

const SAFE = /^[A-Za-z0-9-]{1,64}$/;

export class RecordingFiles implements RecordingStore {
  readonly kind = 'disk' as const;
  readonly root: string;

  constructor(dataDir: string) {
    this.root = path.resolve(dataDir, 'recordings');
  }

  place(tenantId: string, recordingId: string): { relative: string; absolute: string } {
    if (!SAFE.test(tenantId) || !SAFE.test(recordingId)) throw new Error(`unsafe recording name ${tenantId}/${recordingId}`);
    const relative = `${tenantId}/${recordingId}.wav`;
    return { relative, absolute: this.absolute(relative) };
  }

  absolute(relative: string): string {
    const absolute = path.resolve(this.root, relative);
    if (!absolute.startsWith(this.root + path.sep)) throw new Error(`recording path ${relative} leaves ${this.root}`);
    return absolute;
  }

  /** On disk the engine's file is the recording. */
  async keep(): Promise<void> {}

  async size(relative: string): Promise<number | undefined> {
    try {
      return (await stat(this.absolute(relative))).size;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  async open(relative: string, range?: { start: number; end: number }): Promise<Readable> {
    return createReadStream(this.absolute(relative), range ?? {});
  }

  async remove(relative: string): Promise<void> {
    await rm(this.absolute(relative), { force: true });
  }
}
