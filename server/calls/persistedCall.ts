/**
 * The restart state of one call as `live_calls` keeps it (persistence.ts writes it, recovery.ts
 * reads it back), as a schema: what a restarted node reads is checked before any of it is used, so
 * a row written by another version, cut short or edited by hand is refused with the reason instead
 * of failing half-way through a resume. Fields added later are optional, so older rows still read.
 */
import { z } from 'zod';
import { TRANSPORTS } from '../sip/transport.ts';

const text = z.string();
const params = z.record(z.string(), z.string().nullable());
const peer = z.object({ transport: z.enum(TRANSPORTS), address: text, port: z.number().int().min(0).max(65535), serverName: text.optional() });
const nameAddr = z.object({ name: text.optional(), uri: text, params });
const via = z.object({ version: text, protocol: text, host: text, port: z.number().int().optional(), params });
const endpoint = z.object({ address: text, port: z.number().int().min(0).max(65535) });
const party = z.object({ user: text, host: text, display: text.optional(), uri: text });

const hangupCause = z.enum([
  'normal',
  'busy',
  'no-answer',
  'rejected',
  'unavailable',
  'cancelled',
  'answered-elsewhere',
  'max-duration',
  'connection-lost',
  'transferred',
  'dialplan-error',
  'switch-error',
  'media-timeout',
]);

export const channelSnapshotSchema = z.object({
  id: text,
  callId: text,
  tenantId: text,
  direction: z.enum(['inbound', 'outbound']),
  state: z.enum(['down', 'ringing', 'up', 'hungup']),
  protocolId: text,
  from: party,
  to: party,
  target: text.optional(),
  account: text.optional(),
  provider: text.optional(),
  peer: z.object({ address: text, port: z.number().int(), transport: text }),
  createdAt: z.number(),
  ringingAt: z.number().optional(),
  answeredAt: z.number().optional(),
  endedAt: z.number().optional(),
  bridgeId: text.optional(),
  hangupCause: hangupCause.optional(),
  sipStatus: z.number().int().optional(),
  media: z
    .object({
      silentSince: z.number().nullable(),
      quality: z
        .object({
          fromPhone: z.object({ packets: z.number(), lost: z.number().nullable(), jitterMs: z.number().nullable() }),
          toPhone: z.object({ packets: z.number() }),
          flowing: z.object({ fromPhone: z.boolean(), toPhone: z.boolean() }),
        })
        .nullable(),
    })
    .optional(),
});

export const dialogStateSchema = z.object({
  callId: text,
  localTag: text,
  remoteTag: text.nullable(),
  localUri: text,
  remoteUri: text,
  localSeq: z.number().int(),
  remoteSeq: z.number().int(),
  remoteTarget: text,
  routeSet: z.array(text),
  peer,
});

const pendingInvite = z.object({
  branch: text,
  requestUri: text,
  cseq: z.number().int(),
  ringUntil: z.number(),
  transfer: z.union([z.boolean(), z.literal('phones')]).optional(),
});

const bridgeSnapshot = z.object({
  id: text,
  callId: text,
  tenantId: text,
  channelIds: z.array(text),
  createdAt: z.number(),
  // Rows written before transfers had a policy allow none.
  transfers: z.enum(['anyone', 'phones', 'nobody']).default('nobody'),
});

export const persistedCallSchema = z.object({
  version: z.literal(1),
  callId: text,
  tenantId: text,
  caller: z.object({
    channelId: text,
    inviteKey: text,
    toTag: text,
    head: z.object({ via: z.array(via).min(1), from: nameAddr, to: nameAddr, callId: text, cseq: z.object({ seq: z.number().int(), method: text }) }),
    peer,
    finalSent: z.boolean(),
    lateOffer: z.boolean(),
    /** Our 2xx as sent, while its ACK had not come: a restarted node resends it until it does. */
    unacked2xx: text.optional(),
    /** A late offer's callee, waiting for the answer the caller's ACK carries. */
    pendingAck: z.object({ channelId: text, seq: z.number().int() }).optional(),
    /** The dialplan answered the caller itself (answer()): without that dialplan, the call cannot go on. */
    answeredBySwitch: z.boolean().optional(),
  }),
  channels: z.array(z.object({ snapshot: channelSnapshotSchema, dialog: dialogStateSchema, pendingInvite: pendingInvite.optional() })),
  bridges: z.array(bridgeSnapshot),
  maxUntil: z.number().nullable(),
  /** The call's audio through the relay (callMedia.ts): the legs the engine knows, and what the engine needs to take the call over. */
  media: z
    .object({
      peers: z.record(text, text),
      engine: z
        .object({
          watch: z.array(z.object({ tag: text, direction: z.enum(['sendrecv', 'sendonly', 'recvonly', 'inactive']), peer: text.optional(), answered: z.boolean() })),
          legs: z
            .array(
              z.object({
                tag: text,
                port: z.number().int().min(1).max(65535),
                peer: text.optional(),
                sdpRtp: endpoint.optional(),
                sdpRtcp: endpoint.optional(),
                latchedRtp: endpoint.optional(),
                latchedRtcp: endpoint.optional(),
                telephoneEvent: z.number().int(),
                telephoneEventClock: z.number().int(),
              }),
            )
            .optional(),
        })
        .nullable(),
    })
    .optional(),
  /** The CDR writer's state of the call's record (persistence.ts adds it; the CDR writer reads it). */
  record: z.unknown(),
});

export type PersistedCall = z.infer<typeof persistedCallSchema>;

/** A stored row's state, checked; a string saying what is wrong with it otherwise. */
export function readPersistedCall(state: unknown): PersistedCall | string {
  const parsed = persistedCallSchema.safeParse(state);
  return parsed.success ? parsed.data : z.prettifyError(parsed.error);
}
