/**
 * Recordings in an S3-compatible bucket (AWS S3, MinIO, Ceph, …): the engine records into the
 * local file as on disk, and `keep` uploads it under RECORDINGS_S3_PREFIX + its relative name and
 * deletes the local copy. Credentials are RECORDINGS_S3_ACCESS_KEY_ID and _SECRET_ACCESS_KEY, or the
 * AWS SDK's usual places (AWS_ACCESS_KEY_ID, a profile, an instance role); with
 * RECORDINGS_S3_ENDPOINT the bucket is addressed by path, as S3-compatible servers expect.
 *
 * An upload that fails leaves the recording in its local file, which reads and deletes still find
 * first: the recording plays from this node, and a later `keep` (none is scheduled yet) or an
 * operator can move it. Nothing is lost to an S3 outage; the log says which recordings stayed.
 */
import { stat } from 'node:fs/promises';
import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  NotFound,
  NoSuchKey,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import type { Logger } from 'pino';
import type { S3Settings } from '../config.ts';
import type { RecordingFiles } from './recordingFiles.ts';
import type { RecordingStore } from './recordingStore.ts';

const missing = (err: unknown) => err instanceof NoSuchKey || err instanceof NotFound || (err instanceof S3ServiceException && err.$metadata.httpStatusCode === 404);

export class S3Recordings implements RecordingStore {
  readonly kind = 's3' as const;

  private constructor(
    private readonly client: S3Client,
    private readonly settings: S3Settings,
    private readonly local: RecordingFiles,
    private readonly log: Logger,
  ) {}

  /** Checks the bucket answers (a clear line in the log if not: recordings then stay on this node's disk). */
  static async open(settings: S3Settings, local: RecordingFiles, log: Logger): Promise<S3Recordings> {
    const client = new S3Client({
      region: settings.region,
      // S3-compatible services: addressed by path, and checksums only where S3 requires them (the
      // SDK's default streams uploads as aws-chunked with a trailing checksum, which many do not
      // understand and store as the object's bytes).
      ...(settings.endpoint
        ? { endpoint: settings.endpoint, forcePathStyle: true, requestChecksumCalculation: 'WHEN_REQUIRED' as const, responseChecksumValidation: 'WHEN_REQUIRED' as const }
        : {}),
      ...(settings.credentials ? { credentials: settings.credentials } : {}),
    });
    const store = new S3Recordings(client, settings, local, log);
    try {
      await client.send(new HeadBucketCommand({ Bucket: settings.bucket }));
      log.info({ bucket: settings.bucket, endpoint: settings.endpoint ?? 'AWS' }, 'recordings are kept in S3');
    } catch (err) {
      log.error({ err, bucket: settings.bucket, endpoint: settings.endpoint ?? 'AWS' }, 'the recordings bucket does not answer: new recordings stay on this node until it does');
    }
    return store;
  }

  private key(relative: string): string {
    this.local.absolute(relative); // the same names as on disk, refused the same way
    return `${this.settings.prefix}${relative}`;
  }

  place(tenantId: string, recordingId: string): { relative: string; absolute: string } {
    return this.local.place(tenantId, recordingId);
  }

  async keep(relative: string): Promise<void> {
    const file = this.local.absolute(relative);
    try {
      const { size } = await stat(file);
      await this.client.send(
        new PutObjectCommand({ Bucket: this.settings.bucket, Key: this.key(relative), Body: createReadStream(file), ContentLength: size, ContentType: 'audio/wav' }),
      );
    } catch (err) {
      this.log.error({ err, recording: relative, bucket: this.settings.bucket }, 'recording not uploaded: it stays on this node’s disk');
      return;
    }
    await this.local.remove(relative);
  }

  async size(relative: string): Promise<number | undefined> {
    const local = await this.local.size(relative);
    if (local !== undefined) return local;
    try {
      const head = await this.client.send(new HeadObjectCommand({ Bucket: this.settings.bucket, Key: this.key(relative) }));
      return head.ContentLength;
    } catch (err) {
      if (missing(err)) return undefined;
      throw err;
    }
  }

  async open(relative: string, range?: { start: number; end: number }): Promise<Readable> {
    if ((await this.local.size(relative)) !== undefined) return this.local.open(relative, range);
    const got = await this.client.send(
      new GetObjectCommand({ Bucket: this.settings.bucket, Key: this.key(relative), ...(range ? { Range: `bytes=${range.start}-${range.end}` } : {}) }),
    );
    if (!(got.Body instanceof Readable)) throw new Error(`S3 answered recording ${relative} without a body to stream`);
    return got.Body;
  }

  async remove(relative: string): Promise<void> {
    await this.local.remove(relative);
    // S3 answers a delete of a key that is not there with success.
    await this.client.send(new DeleteObjectCommand({ Bucket: this.settings.bucket, Key: this.key(relative) }));
  }
}
