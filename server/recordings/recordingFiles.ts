/**
 * Where recordings live on disk: DATA_DIR/recordings/<tenant>/<recording id>.wav. The database
 * row keeps the path relative to the root, so DATA_DIR can move. Names are the switch's own ids,
 * never anything a tenant typed; a relative path that would leave the root is refused anyway.
 */
import { rm } from 'node:fs/promises';
import path from 'node:path';

const SAFE = /^[A-Za-z0-9-]{1,64}$/;

export class RecordingFiles {
  readonly root: string;

  constructor(dataDir: string) {
    this.root = path.resolve(dataDir, 'recordings');
  }

  /** A new recording's place: relative (for the row) and absolute (for the engine to write). */
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

  /** Deletes a recording's file; one already gone is not an error. */
  async remove(relative: string): Promise<void> {
    await rm(this.absolute(relative), { force: true });
  }
}
