/** Certificates for TLS tests: a private CA and leaf certificates it signs, made on the fly. */
import net from 'node:net';
import selfsigned from 'selfsigned';

export const DAY = 86_400_000;

export interface CertificatePair {
  cert: string;
  key: string;
}

export async function makeCa(): Promise<CertificatePair> {
  const ca = await selfsigned.generate([{ name: 'commonName', value: 'sipswitch test CA' }], {
    keyType: 'ec',
    algorithm: 'sha256',
    extensions: [
      { name: 'basicConstraints', cA: true },
      { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true },
    ],
  });
  return { cert: ca.cert, key: ca.private };
}

/** A leaf certificate for `names`, signed by `ca`, valid from `from` to `to` (ms from now). */
export async function leaf(ca: CertificatePair, names: string[], from = -DAY, to = 30 * DAY): Promise<CertificatePair> {
  const pems = await selfsigned.generate([{ name: 'commonName', value: names[0]! }], {
    keyType: 'ec',
    algorithm: 'sha256',
    ca,
    notBeforeDate: new Date(Date.now() + from),
    notAfterDate: new Date(Date.now() + to),
    extensions: [{ name: 'subjectAltName', altNames: names.map((n) => (net.isIP(n) ? { type: 7 as const, ip: n } : { type: 2 as const, value: n })) }],
  });
  return { cert: pems.cert, key: pems.private };
}
