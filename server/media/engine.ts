/**
 * The media interface the call path drives, one implementation per engine (rtpengine over its ng
 * protocol, the embedded Node relay, and direct media that leaves SDP alone). It speaks in
 * rtpengine's ng terms so that rtpengine needs no translation: a call (`callId`, the switch's
 * call id, one per tree of channels) holds legs, each named by a tag (the channel's id), and
 * every SDP exchange is an offer from one tag to another and the answer that comes back.
 */

export type MediaEngineKind = 'rtpengine' | 'embedded' | 'direct';

/** An SDP offer from `fromTag`'s phone, to be sent on to `toTag`'s (an INVITE, or a re-INVITE from either side). */
export interface OfferRequest {
  callId: string;
  /** The offering leg: the caller's channel for a call's INVITE, whichever side sent a re-INVITE. */
  fromTag: string;
  /** The leg the offer goes to. For a fork, one offer per branch, each with the branch's channel id. */
  toTag: string;
  sdp: string;
  /** How the leg the offer goes to carries audio; undefined: as the offerer does. */
  profile?: MediaProfile;
  /** How the offering leg carries audio (the SDP is its phone's); undefined: not known, taken for a SIP phone. */
  offererProfile?: MediaProfile;
}

/**
 * How a leg carries audio, from how its SIP arrives: a phone over UDP or TCP plain RTP; a phone
 * over TLS SRTP with keys in the SDP (SDES, RFC 4568), which only encrypted signalling may carry;
 * a browser over WebSocket WebRTC (ICE, DTLS-SRTP, RTCP multiplexed). The engine converts between
 * legs of different profiles; one that cannot (the embedded relay) passes the offerer's SDP on.
 */
export type MediaProfile = 'rtp' | 'srtp-sdes' | 'webrtc';

/** `toTag`'s answer to the offer `fromTag` made (a 183 or 200, or the ACK of a late offer). */
export interface AnswerRequest {
  callId: string;
  /** The leg that made the offer. */
  fromTag: string;
  /** The answering leg. */
  toTag: string;
  sdp: string;
  /**
   * A provisional answer (183 early media). No-RTP detection starts with the first answer that
   * is not early: a ringing branch owes nobody audio.
   */
  early?: boolean;
  /** How the offerer's leg, which the answer goes to, carries audio; undefined: as the answerer does. */
  profile?: MediaProfile;
  /** How the answering leg carries audio (the SDP is its phone's); undefined: not known, taken for a SIP phone. */
  answererProfile?: MediaProfile;
}

/**
 * Frees media ports. With `leg`, only that leg goes (a losing branch of a fork, a leg transferred
 * away); without, the whole call. Deleting what is already gone is not an error.
 */
export interface DeleteRequest {
  callId: string;
  /** rtpengine names a leg within a dialogue: `tag`, and `peerTag`, the leg it was in a dialogue with. */
  leg?: { tag: string; peerTag: string };
}

/** What one leg's phone sent to the relay, and what the relay sent to it. */
export interface LegStats {
  tag: string;
  /** RTP that arrived from this leg's phone. */
  received: {
    packets: number;
    bytes: number;
    /** RTP packets that never arrived (RFC 3550 A.3, from sequence numbers); null when the engine cannot tell. */
    lost: number | null;
    /** Interarrival jitter in ms (RFC 3550 A.8); null when the engine cannot tell. */
    jitterMs: number | null;
    /** Epoch ms of the last packet from this phone; null before the first. */
    lastPacketAt: number | null;
  };
  /** RTP relayed to this leg's phone (rtpengine: what arrived from the legs that feed it). */
  sent: { packets: number; bytes: number };
  /** Where this phone's RTP comes from (the latched address, `ip:port`), null before it sent any. */
  source: string | null;
  /** Audio flowed from this phone, and to it. */
  flowing: { fromPhone: boolean; toPhone: boolean };
}

export interface CallMediaStats {
  callId: string;
  legs: LegStats[];
}

/** Something the engine noticed on its own. */
export type MediaEvent =
  /** The leg's phone sent no RTP for the flag time while it should have (one-way audio). */
  | { type: 'media.silent'; callId: string; tag: string; silentMs: number }
  /** RTP came again from a leg that was flagged silent. */
  | { type: 'media.resumed'; callId: string; tag: string }
  /** No RTP for the end time: the call path should end the call (cause `media-timeout`). */
  | { type: 'media.timeout'; callId: string; tag: string; silentMs: number }
  /** A DTMF digit the leg's phone sent as an RFC 4733 event, reported once, at its end. */
  | { type: 'media.dtmf'; callId: string; tag: string; digit: string; durationMs: number };

export type MediaEventListener = (event: MediaEvent) => void;

/**
 * The switch itself answers a leg (a dialplan's `answer()`): `sdp` is the phone's offer, the reply
 * the SDP the switch answers with (G.711 and telephone-event). Its audio goes nowhere; prompts
 * play into it, recordings take what its phone sends, its digits come as `media.dtmf`.
 */
export interface EndpointRequest {
  callId: string;
  tag: string;
  sdp: string;
  /** How the leg's phone carries audio (the answer goes to it); undefined: as it offered. */
  profile?: MediaProfile;
}

/** Records what one leg's phone sends into `file` (an 8 kHz mono 16-bit WAV). */
export interface RecordingRequest {
  callId: string;
  tag: string;
  file: string;
}

/** A prompt to play into a leg: an audio file the engine can read (WAV; rtpengine also MP3 and more). */
export interface PlayRequest {
  callId: string;
  /** The leg that hears it. */
  tag: string;
  file: string;
  repeat?: number;
}

/** A leg of the no-RTP watch (silenceWatch.ts) as a restart keeps it. */
export interface WatchedLegSnapshot {
  tag: string;
  direction: 'sendrecv' | 'sendonly' | 'recvonly' | 'inactive';
  peer?: string;
  answered: boolean;
}

/** A leg of the embedded relay as a restart keeps it: its port pair, its pairing, where its phone is. */
export interface RelayLegSnapshot {
  tag: string;
  port: number;
  peer?: string;
  sdpRtp?: { address: string; port: number };
  sdpRtcp?: { address: string; port: number };
  latchedRtp?: { address: string; port: number };
  latchedRtcp?: { address: string; port: number };
  telephoneEvent: number;
  telephoneEventClock: number;
}

/**
 * What a restarted switch needs to carry on relaying one call (plain JSON, kept with the call's
 * restart state): the no-RTP watch, and for the embedded relay its legs (rtpengine keeps its own).
 */
export interface MediaSnapshot {
  watch: WatchedLegSnapshot[];
  legs?: RelayLegSnapshot[];
}

export interface MediaEngine {
  readonly kind: MediaEngineKind;
  /** The rewritten offer for `toTag`'s phone: the relay's address and ports instead of the offerer's. */
  offer(req: OfferRequest): Promise<string>;
  /** The rewritten answer for `fromTag`'s phone. */
  answer(req: AnswerRequest): Promise<string>;
  delete(req: DeleteRequest): Promise<void>;
  /** Per-leg statistics; undefined for a call the engine does not know. */
  stats(callId: string): Promise<CallMediaStats | undefined>;
  /** Resolves when the engine answers (rtpengine: an ng ping). */
  ping(): Promise<void>;
  subscribe(listener: MediaEventListener): () => void;
  /** Answers `tag`'s phone as the switch itself; returns the SDP answer. */
  endpoint(req: EndpointRequest): Promise<string>;
  /**
   * Plays a prompt into a leg the switch answered (`endpoint`); resolves when it has started, with
   * the length of one play (`repeat` plays in all, default 1). A new play replaces one in progress.
   */
  play(req: PlayRequest): Promise<{ durationMs: number | null }>;
  stopPlay(req: { callId: string; tag: string }): Promise<void>;
  /** Records what the phone of a leg the switch answered sends, until `stopRecording`. */
  startRecording(req: RecordingRequest): Promise<void>;
  /** Writes the recording's file; resolves with its length. */
  stopRecording(req: { callId: string; tag: string }): Promise<{ durationMs: number; bytes: number }>;
  /** The call as a restart needs it; undefined for a call the engine does not know. */
  snapshot(callId: string): MediaSnapshot | undefined;
  /** Takes over a call a previous run of the switch relayed (its ports, pairing and watch), before SIP resumes. */
  restore(callId: string, snapshot: MediaSnapshot): Promise<void>;
  /**
   * Frees every port; an engine process the switch started is stopped, unless `keepCalls` (live
   * calls are persisted for the next start): then rtpengine is left running for that start to adopt.
   */
  close(opts?: { keepCalls?: boolean }): Promise<void>;
}

/** What this engine cannot do (yet): the caller decides whether that fails the verb or the call. */
export class MediaNotSupportedError extends Error {
  constructor(
    public readonly engine: MediaEngineKind,
    public readonly operation: string,
  ) {
    super(`the ${engine} media engine cannot ${operation}`);
  }
}

/** The engine refused an SDP or a request about a call it does not know. */
export class MediaRequestError extends Error {}
