/** The media settings `server/config.ts` validates (README, "Configuration"). */

export const MEDIA_ENGINES = ['auto', 'rtpengine', 'embedded', 'direct'] as const;
export type MediaEngineChoice = (typeof MEDIA_ENGINES)[number];

export interface MediaSettings {
  /**
   * `auto`: rtpengine when `RTPENGINE_NG` is set or its binary is found, else the embedded relay.
   * `direct`: no relay, SDP left alone: phones send audio to each other (one LAN, no NAT between them).
   */
  engine: MediaEngineChoice;
  /** Address media sockets bind to. */
  bindAddress: string;
  /**
   * Written into SDP: where phones send audio (the public address behind NAT). An IPv4 address, or
   * the host name of `SIP_ADVERTISED_ADDRESS` when that is one: resolved once, at start.
   */
  advertisedAddress: string;
  portMin: number;
  portMax: number;
  /** A leg silent this long is flagged (one-way audio); 0: never. */
  noRtpFlagMs: number;
  /** A leg silent this long ends the call; 0: never. */
  noRtpHangupMs: number;
  /** `ng`: an rtpengine already running (its own configuration applies); null: the switch starts one. */
  rtpengine: { binary: string; ng: { host: string; port: number } | null };
  /** CIDRs a browser's (WebSocket leg's) ICE candidates must be in to reach the engine; null: public addresses only (server/calls/iceCandidates.ts). */
  iceCandidateAllow?: string[] | null;
}
