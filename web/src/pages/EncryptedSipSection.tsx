/** Where phones and browsers connect encrypted (SIP over TLS, WebSocket), and whether the certificate is a self-signed one. */
import { Notice } from '../components/Feedback.tsx';
import { Section } from '../components/Page.tsx';
import { useSettings } from '../session.tsx';

export function EncryptedSipSection() {
  const { tls } = useSettings();
  if (!tls) return null;
  const host = window.location.hostname;
  const { webSocket } = tls;
  const rows: Array<[string, string]> = [
    ...(tls.sipPort !== null ? [['SIP over TLS', `${tls.host}:${tls.sipPort} (transport TLS)`] as [string, string]] : []),
    ...(webSocket.wssPort !== null ? [['Secure WebSocket', `wss://${host}:${webSocket.wssPort}${webSocket.path}`] as [string, string]] : []),
    ...(webSocket.wsPort !== null ? [['WebSocket (local use)', `ws://${host}:${webSocket.wsPort}${webSocket.path}`] as [string, string]] : []),
    ...tls.certificates.map((c): [string, string] => ['Certificate', `${c.names.join(', ')}, valid until ${c.notAfter.slice(0, 10)}`]),
  ];
  return (
    <Section title="Encrypted SIP">
      {tls.selfSigned && (
        <Notice tone="warning">
          TLS runs on a self-signed certificate the switch generated for trying it out: phones and browsers will not trust it unless told to. The operator sets real certificates
          with TLS_CERTIFICATES.
        </Notice>
      )}
      {tls.lastReloadError && <Notice tone="warning">A new certificate was refused and the previous one still serves: {tls.lastReloadError}</Notice>}
      <dl className="facts" data-testid="encrypted-sip">
        {rows.map(([k, v], i) => (
          <div key={`${k}${i}`}>
            <dt>{k}</dt>
            <dd>{v}</dd>
          </div>
        ))}
      </dl>
    </Section>
  );
}
