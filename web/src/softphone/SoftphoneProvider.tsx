/**
 * The portal's softphone (issue 18): the browser as one of the tenant's SIP accounts, through JsSIP
 * over the portal's own WebSocket (`/sip`). Its credentials are a short-lived password the API gives
 * for the account (POST /sip-accounts/:id/browser-session), fetched again before it runs out. The
 * UA lives here, in a context at the app's root, so it stays registered and a call goes on while
 * the user moves between pages; any page shows an incoming call (IncomingCallBanner).
 * JsSIP itself is loaded when a phone is connected, not with the portal.
 */
import { createContext, useCallback, useContext, useEffect, useMemo, useRef, useState, type ReactNode } from 'react';
import type { UA } from 'jssip';
import type { RTCSession } from 'jssip/lib/RTCSession';
import type { DTMFOptions } from 'jssip/lib/RTCSession';
import type { BrowserSessionView } from '../../../contract/sipAccounts.ts';
import { api, describeError } from '../api/client.ts';

export type BrowserSession = BrowserSessionView;

export type PhoneStatus = 'off' | 'connecting' | 'registered' | 'failed';

export type CallState = 'ringing' | 'calling' | 'early' | 'connected' | 'ended';

export interface CallView {
  direction: 'incoming' | 'outgoing';
  /** Who is on the other end, as their SIP identity shows it. */
  peer: string;
  state: CallState;
  /** When it was answered (ms), for the timer. */
  connectedAt: number | null;
  muted: boolean;
  held: boolean;
  /** Why it ended, once it has. */
  endedBecause: string | null;
  /** The last keys sent from the keypad. */
  digits: string;
  transferredTo: string | null;
  /** How the last blind transfer went. */
  transfer: 'asked' | 'done' | 'failed' | null;
}

interface SoftphoneValue {
  status: PhoneStatus;
  /** The account in use (its SIP URI), once connected. */
  session: BrowserSession | null;
  error: string | null;
  call: CallView | null;
  connect(accountId: string): Promise<void>;
  disconnect(): void;
  dial(target: string): void;
  answer(): void;
  /** Declines a ringing call, or ends the one in progress. */
  hangup(): void;
  sendDigit(digit: string): void;
  toggleMute(): void;
  toggleHold(): void;
  transfer(target: string): void;
  dismiss(): void;
}

const SoftphoneContext = createContext<SoftphoneValue | null>(null);

export function useSoftphone(): SoftphoneValue {
  const v = useContext(SoftphoneContext);
  if (!v) throw new Error('useSoftphone outside SoftphoneProvider');
  return v;
}

const MEDIA = { audio: true, video: false };
/** No STUN or TURN: the switch's relay is reachable where the portal is, and it learns the browser's address from ICE. */
const PC_CONFIG: RTCConfiguration = { iceServers: [] };
/** RFC 4733 telephone-events in the audio (JsSIP calls it RFC2833), not SIP INFO. */
const DTMF: DTMFOptions = { transportType: 'RFC2833' as DTMFOptions['transportType'], duration: 160, interToneGap: 80 };

function peerOf(s: RTCSession): string {
  const id = s.remote_identity;
  const user = id.uri.user ?? '';
  return id.display_name ? `${id.display_name} (${user})` : user || id.uri.toString();
}

export function SoftphoneProvider({ children }: { children: ReactNode }) {
  const [status, setStatus] = useState<PhoneStatus>('off');
  const [session, setSession] = useState<BrowserSession | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [call, setCall] = useState<CallView | null>(null);
  const ua = useRef<UA | null>(null);
  const rtc = useRef<RTCSession | null>(null);
  const refresh = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  const audio = useRef<HTMLAudioElement>(null);

  const update = useCallback((change: Partial<CallView>) => setCall((c) => (c ? { ...c, ...change } : c)), []);

  const stop = useCallback(() => {
    clearTimeout(refresh.current);
    rtc.current?.terminate();
    rtc.current = null;
    ua.current?.stop();
    ua.current = null;
  }, []);

  useEffect(() => stop, [stop]);

  /** Plays what the other end sends. */
  const attach = useCallback((s: RTCSession) => {
    const play = (stream: MediaStream) => {
      if (!audio.current) return;
      audio.current.srcObject = stream;
      void audio.current.play().catch(() => {});
    };
    const watch = (pc: RTCPeerConnection) =>
      pc.addEventListener('track', (e) => {
        play(e.streams[0] ?? new MediaStream([e.track]));
      });
    if (s.connection) watch(s.connection as unknown as RTCPeerConnection);
    else s.on('peerconnection', (e: { peerconnection: RTCPeerConnection }) => watch(e.peerconnection));
  }, []);

  const track = useCallback(
    (s: RTCSession, direction: 'incoming' | 'outgoing') => {
      if (rtc.current && rtc.current !== s) {
        // One call at a time: a second caller hears busy.
        s.terminate({ status_code: 486, reason_phrase: 'Busy Here' });
        return;
      }
      rtc.current = s;
      setCall({
        direction,
        peer: peerOf(s),
        state: direction === 'incoming' ? 'ringing' : 'calling',
        connectedAt: null,
        muted: false,
        held: false,
        endedBecause: null,
        digits: '',
        transferredTo: null,
        transfer: null,
      });
      attach(s);
      // An incoming call's own 180 is 'progress' too: only the far end's counts.
      s.on('progress', (e: { originator: string }) => {
        if (e.originator === 'remote') update({ state: 'early' });
      });
      s.on('accepted', () => update({ state: 'connected', connectedAt: Date.now() }));
      s.on('confirmed', () => setCall((c) => (c && c.state !== 'connected' ? { ...c, state: 'connected', connectedAt: c.connectedAt ?? Date.now() } : c)));
      s.on('muted', () => update({ muted: true }));
      s.on('unmuted', () => update({ muted: false }));
      s.on('hold', () => update({ held: true }));
      s.on('unhold', () => update({ held: false }));
      const end = (e: { cause?: string }) => {
        if (rtc.current === s) rtc.current = null;
        update({ state: 'ended', endedBecause: e.cause ?? 'ended' });
        if (audio.current) audio.current.srcObject = null;
      };
      s.on('ended', end);
      s.on('failed', end);
    },
    [attach, update],
  );

  const connect = useCallback(
    async (accountId: string) => {
      stop();
      setError(null);
      setStatus('connecting');
      try {
        const [JsSIP, first] = await Promise.all([import('jssip'), api.post<BrowserSession>(`/sip-accounts/${accountId}/browser-session`, {})]);
        const socket = new JsSIP.WebSocketInterface(first.webSocketUrl);
        const agent = new JsSIP.UA({
          sockets: [socket],
          uri: first.sipUri,
          authorization_user: first.authorizationUser,
          password: first.password,
          ...(first.displayName ? { display_name: first.displayName } : {}),
          register: true,
          session_timers: false,
          user_agent: 'sipswitch portal softphone',
        });
        ua.current = agent;
        setSession(first);
        agent.on('registered', () => {
          if (ua.current === agent) setStatus('registered');
        });
        agent.on('registrationFailed', (e: { cause?: string }) => {
          if (ua.current !== agent) return;
          setStatus('failed');
          setError(`The switch refused the registration (${e.cause ?? 'unknown reason'}).`);
        });
        agent.on('disconnected', () => {
          if (ua.current === agent) setStatus((s) => (s === 'registered' ? 'connecting' : s));
        });
        agent.on('newRTCSession', (e: { session: RTCSession; originator: string }) => {
          if (ua.current === agent) track(e.session, e.originator === 'remote' ? 'incoming' : 'outgoing');
        });
        // A new password before this one runs out: the next re-registration uses it.
        const renew = (s: BrowserSession) => {
          const wait = Math.max(5_000, (Date.parse(s.expiresAt) - Date.now()) * 0.7);
          refresh.current = setTimeout(() => {
            api
              .post<BrowserSession>(`/sip-accounts/${accountId}/browser-session`, {})
              .then((next) => {
                if (ua.current !== agent) return;
                agent.set('password', next.password);
                renew(next);
              })
              .catch((err: unknown) => setError(describeError(err)));
          }, wait);
        };
        renew(first);
        agent.start();
      } catch (err) {
        setStatus('failed');
        setError(describeError(err));
      }
    },
    [stop, track],
  );

  const disconnect = useCallback(() => {
    stop();
    setStatus('off');
    setSession(null);
    setCall(null);
  }, [stop]);

  const value = useMemo<SoftphoneValue>(
    () => ({
      status,
      session,
      error,
      call,
      connect,
      disconnect,
      dial(target) {
        const t = target.trim();
        if (!ua.current || !t || rtc.current) return;
        setError(null);
        try {
          ua.current.call(t, { mediaConstraints: MEDIA, pcConfig: PC_CONFIG });
        } catch (err) {
          setError(describeError(err));
        }
      },
      answer() {
        rtc.current?.answer({ mediaConstraints: MEDIA, pcConfig: PC_CONFIG });
      },
      hangup() {
        const s = rtc.current;
        if (!s) return;
        if (s.direction === 'incoming' && !s.isEstablished()) s.terminate({ status_code: 603, reason_phrase: 'Decline' });
        else s.terminate();
      },
      sendDigit(digit) {
        const s = rtc.current;
        if (!s?.isEstablished()) return;
        s.sendDTMF(digit, DTMF);
        setCall((c) => (c ? { ...c, digits: (c.digits + digit).slice(-24) } : c));
      },
      toggleMute() {
        const s = rtc.current;
        if (!s) return;
        if (s.isMuted().audio) s.unmute({ audio: true });
        else s.mute({ audio: true });
      },
      toggleHold() {
        const s = rtc.current;
        if (!s) return;
        if (s.isOnHold().local) s.unhold();
        else s.hold();
      },
      transfer(target) {
        const s = rtc.current;
        const t = target.trim();
        if (!s?.isEstablished() || !t) return;
        update({ transferredTo: t, transfer: 'asked' });
        // Blind: once the other end reports the new call answered (NOTIFY 200), this one is done.
        s.refer(t, {
          eventHandlers: {
            accepted: () => {
              update({ transfer: 'done' });
              if (rtc.current === s) s.terminate();
            },
            requestFailed: () => update({ transfer: 'failed' }),
            failed: () => update({ transfer: 'failed' }),
          },
        });
      },
      dismiss() {
        setCall((c) => (c?.state === 'ended' ? null : c));
      },
    }),
    [status, session, error, call, connect, disconnect, update],
  );

  return (
    <SoftphoneContext.Provider value={value}>
      {children}
      <audio ref={audio} autoPlay hidden aria-hidden="true" />
    </SoftphoneContext.Provider>
  );
}

/** mm:ss (h:mm:ss past an hour) since `from`. */
export function elapsed(from: number, now: number): string {
  const s = Math.max(0, Math.floor((now - from) / 1000));
  const two = (n: number) => String(n).padStart(2, '0');
  return s >= 3600 ? `${Math.floor(s / 3600)}:${two(Math.floor(s / 60) % 60)}:${two(s % 60)}` : `${two(Math.floor(s / 60))}:${two(s % 60)}`;
}

/** The time now, every second while `on`. */
export function useNow(on: boolean): number {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    if (!on) return;
    const t = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(t);
  }, [on]);
  return now;
}

export const STATE_WORDS: Record<CallState, string> = {
  ringing: 'Incoming call',
  calling: 'Calling…',
  early: 'Ringing…',
  connected: 'Connected',
  ended: 'Call ended',
};
