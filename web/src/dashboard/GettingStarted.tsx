/**
 * The first steps, as a checklist that follows the tenant's real state: each step turns done the
 * moment the switch sees it (a phone registering, a call answered), polled until all are done.
 * What to do next is one click away on each open step.
 */
import type { ReactNode } from 'react';
import type { GettingStartedView } from '../../../contract/gettingStarted.ts';
import { ErrorNote } from '../components/Feedback.tsx';
import { Section } from '../components/Page.tsx';
import { Link } from '../router.tsx';
import { useApi } from '../useApi.ts';

/** Often enough that a registration shows within the time it takes to look back at the page. */
export const CHECKLIST_POLL_MS = 1500;

interface Step {
  key: keyof GettingStartedView;
  title: string;
  done: boolean;
  /** What to do, while the step is open. */
  todo: ReactNode;
  /** What happened, once done. */
  result?: ReactNode;
}

function stepsOf(s: GettingStartedView): Step[] {
  const phone = s.phone.firstPhoneId ? `/phones/${s.phone.firstPhoneId}` : '/phones?new';
  return [
    { key: 'phone', title: 'Create a phone', done: s.phone.done, todo: <Link to="/phones?new">Create a phone</Link>, result: <Link to={phone}>Your first phone</Link> },
    {
      key: 'registered',
      title: 'Register it',
      done: s.registered.done,
      todo: s.phone.done ? (
        <>
          Type <Link to={`${phone}#softphone`}>its settings</Link> into a softphone (Linphone, Zoiper, MicroSIP, baresip…) or scan its QR code.
        </>
      ) : (
        'Create a phone first; its page shows what to type into a softphone.'
      ),
    },
    {
      key: 'testCall',
      title: 'Make a test call',
      done: s.testCall.done,
      todo: 'Create a second phone and, from the first, dial its extension (101): the call is answered when it picks up.',
      result: s.testCall.recordId && <Link to={`/calls/${s.testCall.recordId}`}>See what happened</Link>,
    },
    { key: 'provider', title: 'Add a provider', done: s.provider.done, todo: <Link to="/providers/new">Add your SIP provider</Link> },
    {
      key: 'dialplan',
      title: 'Edit the dialplan',
      done: s.dialplan.done,
      todo: (
        <>
          <Link to="/dialplans/default">Open the default dialplan</Link>: it starts as a commented example that rings extensions.
        </>
      ),
    },
  ];
}

export function GettingStarted() {
  const state = useApi<GettingStartedView>('/getting-started', { pollMs: CHECKLIST_POLL_MS });
  if (!state.data) return <ErrorNote error={state.error} />;
  const steps = stepsOf(state.data);
  const done = steps.filter((s) => s.done).length;
  if (done === steps.length) return null;
  return (
    <Section title="Getting started" actions={<span className="muted">{`${done} of ${steps.length} done`}</span>}>
      <ol className="checklist" data-testid="getting-started" aria-live="polite">
        {steps.map((s) => (
          <li key={s.key} data-step={s.key} data-done={s.done ? 'yes' : 'no'} className={s.done ? 'done' : undefined}>
            <span className="check" aria-hidden="true">
              {s.done ? '✓' : ''}
            </span>
            <div>
              <strong>{s.title}</strong>
              <span className="visually-hidden">{s.done ? ' (done)' : ' (to do)'}</span>
              <div className="muted small">{s.done ? s.result : s.todo}</div>
            </div>
          </li>
        ))}
      </ol>
    </Section>
  );
}
