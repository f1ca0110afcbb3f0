/**
 * On every page while the softphone is connected: an incoming call rings here with Answer and
 * Decline, and a call in progress shows who, its state and timer, and Hang up.
 */
import { Link, useLocation } from '../router.tsx';
import { elapsed, STATE_WORDS, useNow, useSoftphone } from './SoftphoneProvider.tsx';

export function CallBanner() {
  const phone = useSoftphone();
  const { pathname } = useLocation();
  const call = phone.call;
  const now = useNow(call?.state === 'connected');
  if (!call || call.state === 'ended') return null;
  if (call.state === 'ringing') {
    return (
      <section className="call-banner ringing" aria-label="Incoming call">
        <p role="alert">
          <strong>Incoming call</strong> from {call.peer}
        </p>
        <div className="call-banner-actions">
          <button type="button" className="btn primary" onClick={() => phone.answer()}>
            Answer
          </button>
          <button type="button" className="btn danger" onClick={() => phone.hangup()}>
            Decline
          </button>
        </div>
      </section>
    );
  }
  if (pathname === '/softphone') return null;
  return (
    <section className="call-banner" aria-label="Call in progress">
      <p>
        {STATE_WORDS[call.state]} · {call.peer}
        {call.connectedAt !== null && <> · {elapsed(call.connectedAt, now)}</>}
      </p>
      <div className="call-banner-actions">
        <Link to="/softphone" className="btn small ghost">
          Open the phone
        </Link>
        <button type="button" className="btn small danger" onClick={() => phone.hangup()}>
          Hang up
        </button>
      </div>
    </section>
  );
}
