/**
 * The certificates this node presents over TLS (SIP on 5061, the portal and `wss://` on the HTTPS
 * port): read from the files the configuration names, one certificate per domain chosen by SNI,
 * reloaded when a file changes. Without any configured, a self-signed one is generated into the
 * data directory (kept across restarts) so that TLS can be tried at once; the portal says so.
 *
 * A certificate is checked before it is served: its key must match it and it must be valid now.
 * At start a bad one stops the switch (a configuration error, named); a bad replacement found by a
 * reload is refused with an error line and the one already loaded keeps serving, so a botched
 * renewal breaks no connection.
 */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, unwatchFile, watchFile, writeFileSync, type Stats, type StatsListener } from 'node:fs';
import { isIP } from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import type { Logger } from 'pino';
import selfsigned from 'selfsigned';

export interface CertificateFiles {
  certFile: string;
  /** The same file as `certFile` when it holds both. */
  keyFile: string;
}

export interface CertificateInfo {
  /** DNS names and addresses it is valid for (subjectAltName, else the common name). */
  names: string[];
  notAfter: string;
  fingerprint256: string;
  certFile: string;
}

export interface TlsStatus {
  /** True when serving the generated certificate: phones and browsers will not trust it. */
  selfSigned: boolean;
  certificates: CertificateInfo[];
  /** The last reload that was refused, and why (cleared by a good one). */
  lastError: string | null;
}

export class CertificateError extends Error {}

interface Loaded {
  files: CertificateFiles;
  info: CertificateInfo;
  pem: { cert: string; key: string };
  context: tls.SecureContext;
}

export interface CertificateStoreOptions {
  files: CertificateFiles[];
  /** Where the self-signed certificate is kept when no files are configured. */
  dataDir: string;
  /** Names and addresses a generated certificate is made for (the SIP domain, aliases, addresses). */
  selfSignedNames: string[];
  /** How often the files are checked for changes. */
  reloadMs: number;
  log: Logger;
}

const SELF_SIGNED_DAYS = 365;

/** `DNS:a, IP Address:1.2.3.4` → `['a', '1.2.3.4']`; the common name when there is no subjectAltName. */
function namesOf(x: X509Certificate): string[] {
  const alt = x.subjectAltName
    ?.split(/,\s*/)
    .map((e) => /^(?:DNS|IP Address):(.+)$/.exec(e)?.[1]?.toLowerCase())
    .filter((n): n is string => Boolean(n));
  if (alt?.length) return alt;
  const cn = /(?:^|\n)CN=([^\n]+)/.exec(x.subject)?.[1];
  return cn ? [cn.toLowerCase()] : [];
}

/** Reads and checks one certificate and its key; throws CertificateError saying what is wrong. */
export function loadCertificate(files: CertificateFiles, now = Date.now()): Loaded {
  let cert: string;
  let key: string;
  try {
    cert = readFileSync(files.certFile, 'utf8');
    key = files.keyFile === files.certFile ? cert : readFileSync(files.keyFile, 'utf8');
  } catch (err) {
    throw new CertificateError(`${files.certFile}: cannot read (${(err as Error).message})`);
  }
  let x: X509Certificate;
  try {
    x = new X509Certificate(cert);
  } catch (err) {
    throw new CertificateError(`${files.certFile}: not a PEM certificate (${(err as Error).message})`);
  }
  let matches: boolean;
  try {
    matches = x.checkPrivateKey(createPrivateKey(key));
  } catch (err) {
    throw new CertificateError(`${files.keyFile}: not a PEM private key (${(err as Error).message})`);
  }
  if (!matches) throw new CertificateError(`${files.certFile}: the key in ${files.keyFile} does not match the certificate`);
  if (Date.parse(x.validTo) <= now) throw new CertificateError(`${files.certFile}: expired on ${new Date(x.validTo).toISOString()}`);
  if (Date.parse(x.validFrom) > now) throw new CertificateError(`${files.certFile}: not valid before ${new Date(x.validFrom).toISOString()}`);
  const info = { names: namesOf(x), notAfter: new Date(x.validTo).toISOString(), fingerprint256: x.fingerprint256, certFile: files.certFile };
  return { files, info, pem: { cert, key }, context: tls.createSecureContext({ cert, key }) };
}

/** A wildcard name covers one label (`*.example.com` covers `a.example.com`, not `example.com`). */
function covers(name: string, servername: string): boolean {
  if (name === servername) return true;
  return name.startsWith('*.') && servername.endsWith(name.slice(1)) && !servername.slice(0, -name.length + 1).includes('.');
}

async function generateSelfSigned(names: string[], files: CertificateFiles): Promise<void> {
  const unique = [...new Set(names.map((n) => n.toLowerCase()))];
  const altNames = unique.map((n) => (isIP(n) ? { type: 7 as const, ip: n } : { type: 2 as const, value: n }));
  const notAfter = new Date(Date.now() + SELF_SIGNED_DAYS * 86_400_000);
  const pems = await selfsigned.generate(
    [
      { name: 'commonName', value: unique[0] ?? 'sipswitch' },
      { name: 'organizationName', value: 'sipswitch (self-signed, for trying TLS out)' },
    ],
    {
      keyType: 'ec',
      curve: 'P-256',
      algorithm: 'sha256',
      notAfterDate: notAfter,
      extensions: [
        { name: 'basicConstraints', cA: false },
        { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
        { name: 'extKeyUsage', serverAuth: true },
        { name: 'subjectAltName', altNames },
      ],
    },
  );
  mkdirSync(path.dirname(files.certFile), { recursive: true, mode: 0o700 });
  writeFileSync(files.keyFile, pems.private, { mode: 0o600 });
  writeFileSync(files.certFile, pems.cert);
}

export class CertificateStore {
  private loaded: Loaded[] = [];
  private lastError: string | null = null;
  private readonly listeners: Array<() => void> = [];
  private readonly watched: Array<[string, StatsListener]> = [];
  private reloadTimer: NodeJS.Timeout | undefined;

  private constructor(
    private readonly o: CertificateStoreOptions,
    readonly selfSigned: boolean,
    private readonly files: CertificateFiles[],
  ) {}

  /**
   * Loads the configured certificates (or the self-signed one, generated when missing, expired or
   * no longer naming this node) and starts watching their files. Throws CertificateError.
   */
  static async open(o: CertificateStoreOptions): Promise<CertificateStore> {
    const selfSigned = o.files.length === 0;
    let files = o.files;
    if (selfSigned) {
      const dir = path.join(o.dataDir, 'tls');
      const generated = { certFile: path.join(dir, 'self-signed.crt'), keyFile: path.join(dir, 'self-signed.key') };
      files = [generated];
      if (!CertificateStore.usableSelfSigned(generated, o.selfSignedNames)) {
        await generateSelfSigned(o.selfSignedNames, generated);
        o.log.warn(
          { certFile: generated.certFile, names: o.selfSignedNames },
          'TLS: no certificates configured (TLS_CERTIFICATES); generated a self-signed one for trying TLS out. Phones and browsers will not trust it',
        );
      } else {
        o.log.warn({ certFile: generated.certFile }, 'TLS: no certificates configured (TLS_CERTIFICATES); serving the self-signed one generated earlier');
      }
    }
    const store = new CertificateStore(o, selfSigned, files);
    store.loaded = files.map((f) => loadCertificate(f));
    for (const l of store.loaded) o.log.info({ certFile: l.files.certFile, names: l.info.names, notAfter: l.info.notAfter }, 'TLS certificate loaded');
    store.watch();
    return store;
  }

  private static usableSelfSigned(files: CertificateFiles, names: string[]): boolean {
    if (!existsSync(files.certFile) || !existsSync(files.keyFile)) return false;
    try {
      // Renewed a month before it runs out; remade when the node's names changed.
      const l = loadCertificate(files, Date.now() + 30 * 86_400_000);
      return names.every((n) => l.info.names.includes(n.toLowerCase()));
    } catch {
      return false;
    }
  }

  /** Options for a TLS server presenting these certificates: the first is the default, SNI picks the others. */
  serverOptions(): tls.TlsOptions {
    return {
      ...this.loaded[0]!.pem,
      SNICallback: (servername, cb) => cb(null, this.contextFor(servername)),
    };
  }

  /** The certificate for an SNI name; the first one when none names it. */
  contextFor(servername: string): tls.SecureContext {
    const name = servername.toLowerCase();
    return (this.loaded.find((l) => l.info.names.some((n) => covers(n, name))) ?? this.loaded[0]!).context;
  }

  /** Called after every reload that changed something, to replace a server's default certificate. */
  onReload(listener: (defaultPem: { cert: string; key: string }) => void): void {
    this.listeners.push(() => listener(this.loaded[0]!.pem));
  }

  status(): TlsStatus {
    return { selfSigned: this.selfSigned, certificates: this.loaded.map((l) => l.info), lastError: this.lastError };
  }

  /** Reads every file again; a certificate that fails its checks keeps its previous version. */
  reload(): void {
    let changed = false;
    const errors: string[] = [];
    this.loaded = this.loaded.map((old) => {
      try {
        const fresh = loadCertificate(old.files);
        if (fresh.info.fingerprint256 === old.info.fingerprint256 && fresh.pem.key === old.pem.key) return old;
        changed = true;
        this.o.log.info({ certFile: fresh.files.certFile, names: fresh.info.names, notAfter: fresh.info.notAfter }, 'TLS certificate reloaded');
        return fresh;
      } catch (err) {
        const message = (err as Error).message;
        errors.push(message);
        this.o.log.error({ certFile: old.files.certFile, reason: message, serving: old.info.fingerprint256 }, 'TLS certificate refused; the one loaded before keeps serving');
        return old;
      }
    });
    this.lastError = errors.length ? errors.join('; ') : null;
    if (changed) for (const l of this.listeners) l();
  }

  /** Polls the files (a renewal replaces them, often through a symlink: stat follows it). */
  private watch(): void {
    const paths = [...new Set(this.files.flatMap((f) => [f.certFile, f.keyFile]))];
    for (const p of paths) {
      const changed: StatsListener = (cur: Stats, prev: Stats) => {
        if (cur.mtimeMs === prev.mtimeMs && cur.size === prev.size && cur.ino === prev.ino) return;
        // A renewal writes the certificate and the key one after the other: reload once both are there.
        clearTimeout(this.reloadTimer);
        this.reloadTimer = setTimeout(() => this.reload(), Math.min(500, this.o.reloadMs)).unref();
      };
      watchFile(p, { interval: this.o.reloadMs, persistent: false }, changed);
      this.watched.push([p, changed]);
    }
  }

  stop(): void {
    clearTimeout(this.reloadTimer);
    for (const [p, listener] of this.watched) unwatchFile(p, listener);
    this.watched.length = 0;
  }
}
