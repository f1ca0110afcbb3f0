/** Says that the tenant's dialplans are suspended, until when and why; nothing when they are not. */
import type { DialplanQuarantine } from '../api/types.ts';
import { useFormat } from '../session.tsx';

export function QuarantineNote({ quarantine }: { quarantine: DialplanQuarantine | null | undefined }) {
  const fmt = useFormat();
  if (!quarantine) return null;
  return (
    <div className="note error" role="alert" data-testid="dialplan-quarantine">
      Your dialplans are suspended until {fmt.dateTime(quarantine.until)}: {quarantine.reason}. Calls that would run a dialplan are refused meanwhile (503 Dialplans Suspended).
    </div>
  );
}
