/**
 * A call's story and the end-call button:
 * `GET /cdrs/:id/story`: the record's SIP messages, leg changes and dialplan log in time order;
 * `?format=text` the same as a text file, `?format=pcap` its SIP messages as a capture file.
 * `GET /calls/:callId/story`: a call in progress on this node, its messages so far.
 * `POST /calls/:callId/hangup`: ends a call in progress (202), 404 if it is not the tenant's or over.
 */
import { Router } from 'express';
import { z } from 'zod';
import type { CallStoryView } from '../../contract/callTrace.ts';
import type { CallTraceRecorder } from '../calls/callTraces.ts';
import { storyOf, storyText } from '../cdr/callStory.ts';
import { tracePcap } from '../cdr/tracePcap.ts';
import { notFound, parse } from './errors.ts';
import { scopeOf } from './session.ts';

const idParam = z.strictObject({ id: z.string().max(36) });
const callParam = z.strictObject({ callId: z.string().max(64) });
const formatQuery = z.strictObject({ format: z.enum(['json', 'text', 'pcap']).default('json') });

export type EndCall = (tenantId: string, callId: string) => boolean;

export function callStoryRoutes(traces: CallTraceRecorder, endCall: EndCall): Router {
  const r = Router();

  r.get('/cdrs/:id/story', async (req, res) => {
    const { id } = parse(idParam, req.params);
    const { format } = parse(formatQuery, req.query);
    const scope = scopeOf(req);
    const record = await scope.cdrs.get(id);
    if (!record) throw notFound('call record');
    const trace = (await scope.callTraces.get(record.callId)) ?? { messages: [], dropped: 0 };
    const story: CallStoryView = storyOf(record, trace, traces.local());
    const name = `call-${record.callId}`;
    if (format === 'text') {
      res.attachment(`${name}.txt`).type('text/plain; charset=utf-8').send(storyText(story));
    } else if (format === 'pcap') {
      res.attachment(`${name}.pcap`).type('application/vnd.tcpdump.pcap').send(tracePcap(trace.messages, story.local));
    } else {
      res.json(story);
    }
  });

  r.get('/calls/:callId/story', (req, res) => {
    const { callId } = parse(callParam, req.params);
    const live = traces.live(scopeOf(req).tenantId, callId);
    if (!live) throw notFound('call in progress');
    const story: CallStoryView = { callId, local: live.local, dropped: live.dropped, entries: live.messages.map((m) => ({ kind: 'sip', at: m.at, message: m })) };
    res.json(story);
  });

  r.post('/calls/:callId/hangup', (req, res) => {
    const { callId } = parse(callParam, req.params);
    if (!endCall(scopeOf(req).tenantId, callId)) throw notFound('call in progress');
    res.status(202).json({ callId, ending: true });
  });

  return r;
}
