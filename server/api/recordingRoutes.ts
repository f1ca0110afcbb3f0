/**
 * `/recordings`: a tenant's recordings, newest first (optionally of one call), their audio
 * (audio/wav, with range requests for the portal's player; `?download=1` as a file), and deleting
 * one (file and row). Another tenant's recording is a 404 like a missing one. Listed and single
 * recordings carry the id of their call record, once it is written.
 */
import { pipeline } from 'node:stream/promises';
import { Router } from 'express';
import { z } from 'zod';
import type { RecordingStore } from '../recordings/recordingStore.ts';
import { HttpError, notFound, parse } from './errors.ts';
import { recordingView } from './audioViews.ts';
import { scopeOf } from './session.ts';

const id = z.string().regex(/^[0-9a-f-]{36}$/, 'not a recording id');
const listQuery = z.strictObject({
  callId: z.string().min(1).max(64).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(50),
  cursor: id.optional(),
});
const params = z.strictObject({ id });
const audioQuery = z.strictObject({ download: z.enum(['0', '1']).optional() });

export function recordingRoutes(files: RecordingStore): Router {
  const r = Router();

  r.get('/recordings', async (req, res) => {
    const q = parse(listQuery, req.query);
    const scope = scopeOf(req);
    const page = await scope.recordings.list(q.callId ? { callId: q.callId } : {}, { limit: q.limit, ...(q.cursor ? { before: q.cursor } : {}) });
    const records = await scope.cdrs.idsByCallId(page.items.map((r) => r.callId));
    res.json({ items: page.items.map((r) => ({ ...recordingView(r), cdrId: records.get(r.callId) ?? null })), nextCursor: page.nextCursor });
  });

  r.get('/recordings/:id', async (req, res) => {
    const scope = scopeOf(req);
    const recording = await scope.recordings.get(parse(params, req.params).id);
    if (!recording) throw notFound('recording');
    const records = await scope.cdrs.idsByCallId([recording.callId]);
    res.json({ ...recordingView(recording), cdrId: records.get(recording.callId) ?? null });
  });

  r.get('/recordings/:id/audio', async (req, res) => {
    const recording = await scopeOf(req).recordings.get(parse(params, req.params).id);
    if (!recording) throw notFound('recording');
    const { download } = parse(audioQuery, req.query);
    const size = await files.size(recording.file);
    if (size === undefined) throw new HttpError(404, 'the recording’s audio file is missing');
    res.set({ 'Content-Type': 'audio/wav', 'Cache-Control': 'private, no-store', 'Accept-Ranges': 'bytes' });
    if (download === '1') res.set('Content-Disposition', `attachment; filename="recording-${recording.id}.wav"`);
    // One range (what audio players ask for) is served as such; several or a bad one get the whole file.
    const ranges = req.range(size, { combine: true });
    const range = Array.isArray(ranges) && ranges.length === 1 && ranges.type === 'bytes' ? ranges[0] : undefined;
    if (ranges === -1) {
      res.status(416).set('Content-Range', `bytes */${size}`).end();
      return;
    }
    const body = await files.open(recording.file, range);
    if (range) res.status(206).set('Content-Range', `bytes ${range.start}-${range.end}/${size}`);
    res.set('Content-Length', String(range ? range.end - range.start + 1 : size));
    await pipeline(body, res).catch((err: unknown) => {
      if (!res.headersSent) throw err;
      // The client went away mid-file: nothing to answer.
    });
  });

  r.delete('/recordings/:id', async (req, res) => {
    const scope = scopeOf(req);
    const recording = await scope.recordings.delete(parse(params, req.params).id);
    if (!recording) throw notFound('recording');
    await files.remove(recording.file);
    res.status(204).end();
  });

  return r;
}
