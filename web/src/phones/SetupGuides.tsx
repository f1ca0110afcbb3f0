/**
 * How to set up a softphone for one phone: the exact values each common app asks for, under the
 * names that app gives its fields, and a QR code of the phone's SIP address for mobile apps that
 * scan one. The password is only known right after it was set; then it is filled in (and in the
 * QR code), otherwise the guide says where it goes.
 */
import QRCode from 'qrcode';
import { useEffect, useState } from 'react';
import type { SipAccount } from '../api/types.ts';
import { CopyButton } from '../components/CopyButton.tsx';
import { Section } from '../components/Page.tsx';
import { useSettings } from '../session.tsx';

type Field = [label: string, value: string];

interface Guide {
  app: string;
  /** Where the app's account form is. */
  where: string;
  fields: Field[];
}

/** The values every guide draws on. */
export interface PhoneAddress {
  user: string;
  domain: string;
  /** host:port phones send to. */
  proxy: string;
  transport: string;
  password: string | undefined;
}

const PASSWORD_ELSEWHERE = '(the password shown when it was set)';

export function guidesFor(a: PhoneAddress): Guide[] {
  const password = a.password ?? PASSWORD_ELSEWHERE;
  const t = a.transport.toLowerCase();
  return [
    {
      app: 'Linphone',
      where: 'Assistant → Use SIP account (Android, iOS, desktop)',
      fields: [
        ['Username', a.user],
        ['Password', password],
        ['Domain', a.proxy],
        ['Transport', a.transport],
      ],
    },
    {
      app: 'Zoiper',
      where: 'Add account → Manual configuration → SIP',
      fields: [
        ['Username', `${a.user}@${a.proxy}`],
        ['Password', password],
        ['Transport', a.transport],
      ],
    },
    {
      app: 'MicroSIP',
      where: 'Menu → Add account (Windows)',
      fields: [
        ['SIP Server', a.proxy],
        ['SIP Proxy', a.proxy],
        ['Username', a.user],
        ['Domain', a.domain],
        ['Login', a.user],
        ['Password', password],
        ['Transport', a.transport],
      ],
    },
    {
      app: 'baresip',
      where: 'a line in ~/.baresip/accounts',
      fields: [['accounts line', `<sip:${a.user}@${a.domain}>;auth_pass=${password};outbound="sip:${a.proxy};transport=${t}";regint=300`]],
    },
    {
      app: 'Other phones',
      where: 'the SIP account settings of any phone or adapter',
      fields: [
        ['User / authentication user', a.user],
        ['Password', password],
        ['Domain / realm / registrar', a.domain],
        ['Outbound proxy', a.proxy],
        ['Transport', a.transport],
      ],
    },
  ];
}

/** What the QR code holds: the SIP address with the server and transport, and the password while it is known. */
export function qrText(a: PhoneAddress): string {
  const secret = a.password ? `:${encodeURIComponent(a.password)}` : '';
  return `sip:${a.user}${secret}@${a.proxy};transport=${a.transport.toLowerCase()}`;
}

function QrCode({ text, label }: { text: string; label: string }) {
  const [src, setSrc] = useState<string>();
  useEffect(() => {
    let live = true;
    void QRCode.toDataURL(text, { margin: 1, width: 180, errorCorrectionLevel: 'M' }).then((url) => live && setSrc(url));
    return () => {
      live = false;
    };
  }, [text]);
  return src ? <img src={src} width={180} height={180} alt={label} data-testid="phone-qr" data-qr-text={text} /> : null;
}

export function SetupGuides({ account, password }: { account: SipAccount; password: string | undefined }) {
  const { sip } = useSettings();
  const [chosen, setChosen] = useState(0);
  const address: PhoneAddress = {
    user: account.username,
    domain: account.domain,
    proxy: `${sip.proxy.host}:${sip.proxy.port}`,
    transport: (sip.transports[0] ?? 'udp').toUpperCase(),
    password,
  };
  const guides = guidesFor(address);
  const guide = guides[chosen]!;
  return (
    <Section title="Set up a softphone" id="guides">
      <div role="tablist" aria-label="Softphone" className="tabs">
        {guides.map((g, i) => (
          <button
            key={g.app}
            type="button"
            role="tab"
            id={`guide-tab-${i}`}
            aria-selected={i === chosen}
            aria-controls="guide-panel"
            className={`btn small${i === chosen ? ' primary' : ''}`}
            onClick={() => setChosen(i)}
          >
            {g.app}
          </button>
        ))}
      </div>
      <div role="tabpanel" id="guide-panel" aria-labelledby={`guide-tab-${chosen}`} data-testid="setup-guide" data-app={guide.app}>
        <p className="muted">In {guide.where}:</p>
        <dl className="settings-list">
          {guide.fields.map(([label, value]) => (
            <div key={label}>
              <dt>{label}</dt>
              <dd>
                <span className="mono wrap" data-guide-field={label}>
                  {value}
                </span>
                {value !== PASSWORD_ELSEWHERE && <CopyButton text={value} label={`Copy ${label}`} />}
              </dd>
            </div>
          ))}
        </dl>
      </div>
      <div className="qr">
        <QrCode text={qrText(address)} label={`QR code of ${account.username}'s SIP address`} />
        <p className="hint">
          {password
            ? 'For mobile apps that scan a SIP address: this code holds the password too, so show it to nobody else.'
            : 'For mobile apps that scan a SIP address (user, server, transport); type the password yourself.'}
        </p>
      </div>
    </Section>
  );
}
