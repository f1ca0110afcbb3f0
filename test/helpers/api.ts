/** A JSON API client with a cookie jar, as a browser session would be. */
import { randomBytes } from 'node:crypto';

/**
 * A reply's body when the test names no type for it: what the server sent, unchecked, since the
 * test's own assertions are what check its shape.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the one place a reply is untyped
export type UncheckedJson = any;

export interface ApiResponse<T = UncheckedJson> {
  status: number;
  body: T;
  headers: Headers;
}

export const STRONG_PASSWORD = 'Plum-Orbit-Cascade-91';

/** fetch's failure when the server closed the connection under the request (undici's SocketError). */
function staleConnection(err: unknown): boolean {
  const cause = (err as { cause?: { code?: string } } | undefined)?.cause;
  return err instanceof TypeError && (cause?.code === 'UND_ERR_SOCKET' || cause?.code === 'ECONNRESET');
}

export class ApiClient {
  private cookie = '';
  bearer?: string;

  constructor(public baseUrl: string) {}

  async request<T = UncheckedJson>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<ApiResponse<T>> {
    const h: Record<string, string> = { ...headers };
    const raw = body instanceof Uint8Array;
    if (body !== undefined && !raw) h['content-type'] ??= 'application/json';
    if (this.cookie) h.cookie = this.cookie;
    if (this.bearer) h.authorization = `Bearer ${this.bearer}`;
    const send = () =>
      fetch(`${this.baseUrl}/api/v1${path}`, {
        method,
        headers: h,
        body: body === undefined ? undefined : raw ? new Blob([body as Uint8Array<ArrayBuffer>]) : typeof body === 'string' ? body : JSON.stringify(body),
      });
    // A kept-alive connection the server closed just as it was reused (its idle timer and ours ran
    // late, e.g. after a long synchronous insert in this process) fails before any byte of the
    // request was handled; as a browser does, an idempotent request is sent again once.
    const res = await send().catch((err: unknown) => {
      if ((method === 'GET' || method === 'HEAD') && staleConnection(err)) return send();
      throw err;
    });
    const setCookie = res.headers.get('set-cookie');
    if (setCookie) this.cookie = setCookie.split(';')[0]!.startsWith('sid=;') ? '' : setCookie.split(';')[0]!;
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      /* not JSON: keep the text */
    }
    return { status: res.status, body: parsed as T, headers: res.headers };
  }

  get = <T = UncheckedJson>(path: string) => this.request<T>('GET', path);
  post = <T = UncheckedJson>(path: string, body: unknown = {}) => this.request<T>('POST', path, body);
  patch = <T = UncheckedJson>(path: string, body: unknown) => this.request<T>('PATCH', path, body);
  delete = <T = UncheckedJson>(path: string) => this.request<T>('DELETE', path);

  /** The reply as it came, for downloads (text, pcap, audio with `range`), with this session. */
  raw(path: string, headers: Record<string, string> = {}): Promise<Response> {
    return fetch(`${this.baseUrl}/api/v1${path}`, { headers: { ...headers, ...(this.cookie ? { cookie: this.cookie } : {}) } });
  }

  /** The session token, to hand this session to a browser. */
  cookieValue(): string {
    return this.cookie.replace(/^sid=/, '');
  }

  hasSession(): boolean {
    return this.cookie.startsWith('sid=') && this.cookie.length > 4;
  }
}

export const uniqueEmail = () => `user-${randomBytes(5).toString('hex')}@example.com`;
export const uniqueUsername = (prefix = 'u') => `${prefix}${randomBytes(4).toString('hex')}`;

/** Signs up a new tenant and returns its logged-in client. */
export async function signUp(baseUrl: string): Promise<ApiClient> {
  const api = new ApiClient(baseUrl);
  const r = await api.post('/auth/signup', { email: uniqueEmail(), password: STRONG_PASSWORD });
  if (r.status !== 201) throw new Error(`signup failed: ${r.status} ${JSON.stringify(r.body)}`);
  return api;
}

/** Creates a SIP account and returns it with its password. */
export async function createSipAccount(api: ApiClient, extra: Record<string, unknown> = {}) {
  const username = uniqueUsername();
  const password = `Sip-${randomBytes(9).toString('base64url')}`;
  const r = await api.post('/sip-accounts', { username, password, ...extra });
  if (r.status !== 201) throw new Error(`create account failed: ${r.status} ${JSON.stringify(r.body)}`);
  return { ...(r.body as { id: string; username: string }), password };
}
