/** A leg's SIP transport, and in words whether its signalling travelled encrypted (TLS, secure WebSocket). */
import { Badge } from './Badge.tsx';

const ENCRYPTED = new Set(['tls', 'wss']);

export function TransportBadge({ transport }: { transport: string | undefined }) {
  if (!transport) return <span className="muted">—</span>;
  const encrypted = ENCRYPTED.has(transport.toLowerCase());
  return (
    <Badge tone={encrypted ? 'good' : 'neutral'} title={encrypted ? 'Signalling encrypted' : 'Signalling in clear text'}>
      {transport.toUpperCase()} {encrypted ? 'encrypted' : 'clear'}
    </Badge>
  );
}
