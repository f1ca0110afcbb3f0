/**
 * The browser as one of your phones (issue 18): pick a SIP account, connect, and call an extension
 * or a number; answer calls (they ring on every page), keypad (RFC 4733 DTMF), mute, hold and
 * blind transfer. The phone stays connected while you use other pages.
 */
import { useEffect, useState, type FormEvent } from 'react';
import type { SipAccount } from '../api/types.ts';
import { ErrorNote, Loading, Notice } from '../components/Feedback.tsx';
import { SelectField, TextField } from '../components/Form.tsx';
import { Page, Section } from '../components/Page.tsx';
import { elapsed, STATE_WORDS, useNow, useSoftphone } from '../softphone/SoftphoneProvider.tsx';
import { useApi } from '../useApi.ts';

const KEYS = ['1', '2', '3', '4', '5', '6', '7', '8', '9', '*', '0', '#'];

const STATUS_WORDS = { off: 'Not connected', connecting: 'Connecting…', registered: 'Connected: calls to this account ring here', failed: 'Not connected' } as const;

export function SoftphonePage() {
  const phone = useSoftphone();
  const accounts = useApi<{ items: SipAccount[] }>('/sip-accounts');
  const usable = (accounts.data?.items ?? []).filter((a) => a.enabled);
  const [accountId, setAccountId] = useState('');
  const [target, setTarget] = useState('');
  const [transferTo, setTransferTo] = useState('');
  const call = phone.call;
  const live = call && call.state !== 'ended';
  const now = useNow(call?.state === 'connected');

  useEffect(() => {
    if (!accountId && usable[0]) setAccountId(phone.session?.accountId ?? usable[0].id);
  }, [accountId, usable, phone.session]);

  const connected = phone.status === 'registered' || phone.status === 'connecting';

  const onConnect = (e: FormEvent) => {
    e.preventDefault();
    if (connected) phone.disconnect();
    else if (accountId) void phone.connect(accountId);
  };
  const onDial = (e: FormEvent) => {
    e.preventDefault();
    phone.dial(target);
  };
  const onTransfer = (e: FormEvent) => {
    e.preventDefault();
    phone.transfer(transferTo);
  };

  return (
    <Page title="Softphone" subtitle="Use this browser as one of your phones.">
      <Section title="Account" id="softphone-account">
        {accounts.loading && !accounts.data && <Loading what="your phones" />}
        {accounts.error !== undefined && <ErrorNote error={accounts.error} />}
        {accounts.data && usable.length === 0 && <Notice>Add a phone (a SIP account) first: the softphone uses one of them.</Notice>}
        {usable.length > 0 && (
          <form className="softphone-row" onSubmit={onConnect}>
            <SelectField label="SIP account" value={accountId} disabled={connected} onChange={(e) => setAccountId(e.target.value)}>
              {usable.map((a) => (
                <option key={a.id} value={a.id}>
                  {a.username}
                  {a.extension ? ` (extension ${a.extension})` : ''}
                  {a.displayName ? ` · ${a.displayName}` : ''}
                </option>
              ))}
            </SelectField>
            <button type="submit" className={`btn ${connected ? '' : 'primary'}`}>
              {connected ? 'Disconnect' : 'Connect'}
            </button>
          </form>
        )}
        <p role="status" className="softphone-status" data-status={phone.status}>
          {STATUS_WORDS[phone.status]}
          {phone.session && phone.status !== 'off' && <> as {phone.session.sipUri}</>}
        </p>
        {phone.error && (
          <div className="note error" role="alert">
            {phone.error}
          </div>
        )}
      </Section>

      <Section title="Call" id="softphone-call">
        <form className="softphone-row" onSubmit={onDial}>
          <TextField
            label="Number or extension"
            value={target}
            inputMode="tel"
            autoComplete="off"
            onChange={(e) => setTarget(e.target.value)}
            disabled={phone.status !== 'registered' || Boolean(live)}
          />
          <button type="submit" className="btn primary" disabled={phone.status !== 'registered' || Boolean(live) || !target.trim()}>
            Call
          </button>
        </form>

        {call && (
          <div className="softphone-call">
            <p role="status" aria-label="Call state" className="softphone-state" data-state={call.state}>
              <strong>{STATE_WORDS[call.state]}</strong> {call.direction === 'incoming' ? 'from' : 'to'} {call.peer}
              {call.held && ' · on hold'}
              {call.muted && ' · muted'}
              {call.state === 'ended' && call.endedBecause && ` (${call.endedBecause})`}
            </p>
            {call.connectedAt !== null && (
              <p className="softphone-timer">
                <span className="visually-hidden">Duration </span>
                <time aria-label="Call duration" data-testid="call-timer">
                  {elapsed(call.connectedAt, Math.max(now, call.connectedAt))}
                </time>
              </p>
            )}
            {live && (
              <div className="softphone-actions">
                {call.state === 'ringing' && (
                  <button type="button" className="btn primary" onClick={() => phone.answer()}>
                    Answer
                  </button>
                )}
                <button type="button" className="btn danger" onClick={() => phone.hangup()}>
                  {call.state === 'ringing' ? 'Decline' : 'Hang up'}
                </button>
                {call.state === 'connected' && (
                  <>
                    <button type="button" className="btn" aria-pressed={call.muted} onClick={() => phone.toggleMute()}>
                      {call.muted ? 'Unmute' : 'Mute'}
                    </button>
                    <button type="button" className="btn" aria-pressed={call.held} onClick={() => phone.toggleHold()}>
                      {call.held ? 'Resume' : 'Hold'}
                    </button>
                  </>
                )}
              </div>
            )}
            {live && call.state === 'connected' && (
              <>
                <div className="keypad" role="group" aria-label="Keypad">
                  {KEYS.map((k) => (
                    <button key={k} type="button" className="btn" aria-label={`Key ${k}`} onClick={() => phone.sendDigit(k)}>
                      {k}
                    </button>
                  ))}
                </div>
                {call.digits && (
                  <p className="hint" aria-live="polite">
                    Sent: <span data-testid="digits-sent">{call.digits}</span>
                  </p>
                )}
                <form className="softphone-row" onSubmit={onTransfer}>
                  <TextField label="Transfer to" value={transferTo} inputMode="tel" autoComplete="off" onChange={(e) => setTransferTo(e.target.value)} />
                  <button type="submit" className="btn" disabled={!transferTo.trim()}>
                    Transfer
                  </button>
                </form>
              </>
            )}
            {call.transferredTo && call.transfer && (
              <p className="hint" role="status" aria-label="Transfer">
                {call.transfer === 'asked' && `Transferring to ${call.transferredTo}…`}
                {call.transfer === 'done' && `Transferred to ${call.transferredTo}.`}
                {call.transfer === 'failed' && `The transfer to ${call.transferredTo} failed; the call goes on.`}
              </p>
            )}
            {call.state === 'ended' && (
              <button type="button" className="btn small ghost" onClick={() => phone.dismiss()}>
                Clear
              </button>
            )}
          </div>
        )}
      </Section>
    </Page>
  );
}
