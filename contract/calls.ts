/**
 * The call model's events and the snapshots they carry (DESIGN.md, "The call model"), as the
 * server emits them and the portal's live view reads them (GET /events). Times are epoch
 * milliseconds. The bus that carries them is server/calls/events.ts.
 */
import type { HangupCause } from './outcomes.ts';

export type { HangupCause } from './outcomes.ts';

export type ChannelState = 'down' | 'ringing' | 'up' | 'hungup';

export interface Party {
  user: string;
  host: string;
  display?: string;
  uri: string;
}

export interface ChannelSnapshot {
  /** UUIDv7, minted with the leg; never changes, whatever happens to the call. */
  id: string;
  /** The call (tree of legs) this channel belongs to. */
  callId: string;
  tenantId: string;
  /** inbound: the leg that came to the switch; outbound: a leg the switch placed. */
  direction: 'inbound' | 'outbound';
  state: ChannelState;
  /** The SIP Call-ID of this leg's dialog. */
  protocolId: string;
  from: Party;
  to: Party;
  /** Outbound legs: what the dialplan dialled, in dial-string form (`alice`, `0123@trunk`, a URI). */
  target?: string;
  /** The tenant's SIP account at this leg's end (the caller's, or the callee's), if any. */
  account?: string;
  provider?: string;
  peer: { address: string; port: number; transport: string };
  createdAt: number;
  ringingAt?: number;
  answeredAt?: number;
  endedAt?: number;
  bridgeId?: string;
  /** Set when hung up. */
  hangupCause?: HangupCause;
  sipStatus?: number;
  /** The leg's audio as the media relay sees it; absent when audio does not pass the switch (direct media, no SDP yet). */
  media?: LegMedia;
}

/** One leg's audio through the relay, each way, as counted by the media engine. */
export interface LegQuality {
  /** RTP that came from the leg's phone. */
  fromPhone: {
    packets: number;
    /** Packets that never arrived (from RTP sequence numbers); null when the engine cannot tell (rtpengine). */
    lost: number | null;
    /** Interarrival jitter in ms (RFC 3550); null when the engine cannot tell. */
    jitterMs: number | null;
  };
  /** RTP the relay sent to the leg's phone. */
  toPhone: { packets: number };
  /** Audio flowed from the phone, and to it. */
  flowing: { fromPhone: boolean; toPhone: boolean };
}

export interface LegMedia {
  /** The phone has sent no audio for MEDIA_NO_RTP_FLAG_SECONDS while it should (one-way audio); since when (epoch ms). */
  silentSince: number | null;
  /** The figures so far (live calls: sampled every few seconds), or at the leg's end. */
  quality: LegQuality | null;
}

/**
 * Who may transfer the parties of a bridge (REFER): either party, only the tenant's own phones,
 * or nobody. Set by the dial that made the bridge (its `transfer` option).
 */
export type TransferPolicy = 'anyone' | 'phones' | 'nobody';

export interface BridgeSnapshot {
  id: string;
  callId: string;
  tenantId: string;
  channelIds: string[];
  createdAt: number;
  transfers: TransferPolicy;
}

/** What every event carries besides its own facts. */
export interface CallEventEnvelope {
  seq: number;
  at: number;
  nodeId: string;
  tenantId: string;
  callId: string;
}

export type CallEvent = CallEventEnvelope &
  (
    | { type: 'channel.created'; channel: ChannelSnapshot }
    | { type: 'channel.state'; channel: ChannelSnapshot }
    | { type: 'channel.hungup'; channel: ChannelSnapshot; cause: HangupCause; sipStatus?: number; by: 'caller' | 'callee' | 'switch' }
    | { type: 'bridge.created'; bridge: BridgeSnapshot }
    | { type: 'bridge.entered'; bridge: BridgeSnapshot; channelId: string }
    | { type: 'bridge.left'; bridge: BridgeSnapshot; channelId: string }
    | { type: 'bridge.destroyed'; bridge: BridgeSnapshot }
    | { type: 'transfer.blind'; transferer: string; transferee: string; target: string; result: 'ok' | 'failed'; sipStatus?: number }
    | {
        type: 'transfer.attended';
        transferer: string;
        transferee: string;
        /** The transferer's channel in its consultation call, which the transfer ended. */
        replaced: string;
        /** The channel of the party the transferee was connected to (in the consultation call). */
        target: string;
        /** That party's user or number, for people reading the record. */
        party: string;
        how: 'replaces';
        result: 'ok' | 'failed';
        sipStatus?: number;
      }
    | { type: 'dialplan.started'; channelId: string; executionId: string; dialplan: { name: string; version: number }; direction: 'in' | 'out' | 'local' }
    | { type: 'dialplan.log'; channelId: string; executionId?: string; level: 'debug' | 'info' | 'warn' | 'error'; message: string }
    | { type: 'dialplan.ended'; channelId: string; executionId: string; outcome: string; error?: string }
    /** What the media relay says of a leg's audio: silent (one-way audio), its figures so far, or its final ones (also after it hung up). */
    | { type: 'channel.media'; channelId: string; media: LegMedia }
    | { type: 'call.ended' }
  );
