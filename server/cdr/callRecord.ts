/**
 * Folds one call's events into its record. The in-progress state is a plain JSON-serialisable
 * object so that a later issue can persist it across restarts as it is. The rules that turn legs
 * into the record's fields are in README.md ("How a record is derived").
 */
import { v7 } from 'uuid';
import type { CallEvent, ChannelSnapshot } from '../calls/events.ts';
import type { Cdr, CdrDirection, CdrLeg, CdrLogLine, HangupSide } from '../domain/cdr.ts';
import { cdrStatusOf, type HangupCause } from '../domain/outcomes.ts';

export const LOG_LINES_MAX = 100;
export const LOG_LINE_CHARS_MAX = 500;

interface Hangup {
  channelId: string;
  cause: HangupCause;
  sipStatus?: number;
  by: HangupSide;
  /** Whether the channel had been answered when it hung up. */
  wasUp: boolean;
}

export interface CallState {
  /** The record's id, minted with the state so that a retried or replayed record keeps it. */
  id: string;
  tenantId: string;
  callId: string;
  nodeId: string;
  /** In order of creation. */
  legs: CdrLeg[];
  hangups: Hangup[];
  dialplan: { name: string; version: number; outcome: string | null } | null;
  /** How the first dialplan saw the call (in, out, local): the direction when no leg was placed. */
  routedAs?: CdrDirection;
  log: CdrLogLine[];
  logDropped: number;
  lastEventAt: number;
}

export function newCallState(e: CallEvent): CallState {
  return {
    id: v7(),
    tenantId: e.tenantId,
    callId: e.callId,
    nodeId: e.nodeId,
    legs: [],
    hangups: [],
    dialplan: null,
    log: [],
    logDropped: 0,
    lastEventAt: e.at,
  };
}

function toLeg(c: ChannelSnapshot, previous: CdrLeg | undefined): CdrLeg {
  const leg: CdrLeg = {
    id: c.id,
    direction: c.direction,
    from: c.from,
    to: c.to,
    createdAt: c.createdAt,
  };
  if (c.target !== undefined) leg.target = c.target;
  if (c.account !== undefined) leg.account = c.account;
  if (c.provider !== undefined) leg.provider = c.provider;
  if (c.ringingAt !== undefined) leg.ringingAt = c.ringingAt;
  if (c.answeredAt !== undefined) leg.answeredAt = c.answeredAt;
  if (c.endedAt !== undefined) leg.endedAt = c.endedAt;
  if (c.sipStatus !== undefined) leg.sipStatus = c.sipStatus;
  if (c.hangupCause !== undefined) leg.hangupCause = c.hangupCause;
  const media = c.media ?? previous?.media;
  if (media !== undefined) leg.media = media;
  if (previous?.hangupBy) leg.hangupBy = previous.hangupBy;
  leg.transport = c.peer.transport;
  return leg;
}

function upsertLeg(s: CallState, c: ChannelSnapshot): CdrLeg {
  const i = s.legs.findIndex((l) => l.id === c.id);
  const leg = toLeg(c, s.legs[i]);
  if (i < 0) s.legs.push(leg);
  else s.legs[i] = leg;
  return leg;
}

function appendLog(s: CallState, line: CdrLogLine): void {
  if (s.log.length >= LOG_LINES_MAX) {
    s.logDropped++;
    return;
  }
  const message = line.message.length > LOG_LINE_CHARS_MAX ? `${line.message.slice(0, LOG_LINE_CHARS_MAX - 1)}…` : line.message;
  s.log.push({ ...line, message });
}

/** Applies one event of this call to its state. */
export function applyEvent(s: CallState, e: CallEvent): void {
  s.lastEventAt = e.at;
  switch (e.type) {
    case 'channel.created':
    case 'channel.state':
      upsertLeg(s, e.channel);
      return;
    case 'channel.hungup': {
      const leg = upsertLeg(s, e.channel);
      leg.hangupBy = e.by;
      leg.hangupCause ??= e.cause;
      const sipStatus = e.sipStatus ?? e.channel.sipStatus;
      if (sipStatus !== undefined) leg.sipStatus ??= sipStatus;
      s.hangups.push({
        channelId: e.channel.id,
        cause: e.cause,
        ...(sipStatus !== undefined ? { sipStatus } : {}),
        by: e.by,
        wasUp: e.channel.answeredAt !== undefined,
      });
      return;
    }
    case 'channel.media': {
      const leg = s.legs.find((l) => l.id === e.channelId);
      if (leg) leg.media = e.media;
      return;
    }
    case 'dialplan.started':
      // The first dialplan of the call is the one that routed it; a callee's dialplan for
      // received calls may run later, and its log lines are kept too.
      s.dialplan ??= { name: e.dialplan.name, version: e.dialplan.version, outcome: null };
      s.routedAs ??= e.direction;
      return;
    case 'dialplan.log':
      appendLog(s, { at: e.at, level: e.level, message: e.message });
      return;
    case 'dialplan.ended':
      if (s.dialplan && s.dialplan.outcome === null) s.dialplan.outcome = e.error ? `${e.outcome}: ${e.error}` : e.outcome;
      return;
    case 'transfer.blind':
      appendLog(s, { at: e.at, level: 'info', message: `blind transfer to ${e.target}: ${transferOutcome(e)}` });
      return;
    case 'transfer.attended':
      appendLog(s, { at: e.at, level: 'info', message: `attended transfer to ${e.party}: ${transferOutcome(e)}` });
      return;
    default:
      return;
  }
}

/** `ok`, or `failed` with the status that failed it. */
const transferOutcome = (e: { result: 'ok' | 'failed'; sipStatus?: number }) => (e.result === 'failed' && e.sipStatus ? `failed (${e.sipStatus})` : e.result);

const minOf = (xs: Array<number | undefined>) => {
  const v = xs.filter((x): x is number => x !== undefined);
  return v.length ? Math.min(...v) : undefined;
};
const maxOf = (xs: Array<number | undefined>) => {
  const v = xs.filter((x): x is number => x !== undefined);
  return v.length ? Math.max(...v) : undefined;
};

/** The finished record. `endedAt` is used only when no leg reports its own end. */
export function finalise(s: CallState, endedAt: number): Cdr {
  const inbound = s.legs.find((l) => l.direction === 'inbound') ?? s.legs[0];
  const outbound = s.legs.filter((l) => l.direction === 'outbound');
  const startedAt = inbound?.createdAt ?? minOf(s.legs.map((l) => l.createdAt)) ?? endedAt;
  const answeredAt = inbound?.answeredAt ?? minOf(outbound.map((l) => l.answeredAt));
  const ringingAt = minOf(s.legs.map((l) => l.ringingAt));
  const end = maxOf(s.legs.map((l) => l.endedAt)) ?? endedAt;

  // Placed by a phone of the tenant: local if every leg went to the tenant's phones, out if any
  // went elsewhere; with no leg placed at all (refused, or nowhere to ring), as the dialplan saw it.
  let direction: CdrDirection = 'in';
  if (inbound?.account !== undefined) {
    if (outbound.length) direction = outbound.every((l) => l.account !== undefined) ? 'local' : 'out';
    else direction = s.routedAs ?? 'local';
  }

  // What ended the call: once answered, the first answered leg to hang up; otherwise the caller's
  // CANCEL if there was one, else the last outbound failure (what the caller was told), else the
  // inbound leg itself (a dialplan that responded without dialling).
  const inboundHangup = s.hangups.find((h) => h.channelId === inbound?.id);
  const outboundIds = new Set(outbound.map((l) => l.id));
  const decisive =
    answeredAt !== undefined
      ? s.hangups.find((h) => h.wasUp)
      : inboundHangup?.by === 'caller'
        ? inboundHangup
        : (s.hangups.filter((h) => outboundIds.has(h.channelId)).at(-1) ?? inboundHangup);

  const sipStatus = answeredAt !== undefined ? 200 : (inbound?.sipStatus ?? decisive?.sipStatus);
  const dialled = [...new Set(outbound.map((l) => l.target).filter((t): t is string => t !== undefined))];
  const log = s.logDropped ? [...s.log, { at: s.lastEventAt, level: 'warn', message: `${s.logDropped} more log lines not kept` }] : s.log;

  return {
    id: s.id,
    tenantId: s.tenantId,
    callId: s.callId,
    nodeId: s.nodeId,
    direction,
    caller: inbound?.from.user ?? '',
    callee: inbound?.to.user ?? '',
    dialled,
    account: inbound?.account ?? outbound.find((l) => l.account !== undefined)?.account ?? null,
    provider: inbound?.provider ?? outbound.find((l) => l.provider !== undefined)?.provider ?? null,
    startedAt,
    ringingAt: ringingAt ?? null,
    answeredAt: answeredAt ?? null,
    endedAt: end,
    ringMs: ringingAt === undefined ? null : Math.max(0, (answeredAt ?? end) - ringingAt),
    talkMs: answeredAt === undefined ? 0 : Math.max(0, end - answeredAt),
    status: cdrStatusOf(answeredAt !== undefined, decisive?.cause, sipStatus),
    sipStatus: sipStatus ?? null,
    hangupCause: decisive?.cause ?? null,
    hangupBy: decisive?.by ?? null,
    dialplan: s.dialplan,
    legs: s.legs,
    log,
  };
}
