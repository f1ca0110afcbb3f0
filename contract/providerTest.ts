/**
 * `POST /providers/:id/test` ("Test now"): an OPTIONS to the provider at once, and a REGISTER when
 * the provider registers, each with its outcome and the messages exchanged (for a ladder).
 */
import type { TracedMessage } from './callTrace.ts';

/** What a REGISTER sent at once came to. */
export interface RegisterTestView {
  /** The provider accepted the registration (a 2xx). */
  registered: boolean;
  /** The answers in order (`401 Unauthorized`, `200 OK`). */
  steps: string[];
  /** Whether a digest challenge was answered with the provider's credentials. */
  authenticated: boolean;
  /** What the registrar granted (s), when it registered. */
  expires: number | null;
  /** The final answer, or why there was none. */
  detail: string;
  rttMs: number | null;
  /** For a disabled provider that accepted the test: whether its binding was removed again (Expires: 0); null otherwise. */
  removed: boolean | null;
  messages: TracedMessage[];
}

export interface ProviderTestView {
  /** The OPTIONS ping. */
  health: { reachable: boolean; rttMs: number | null; detail: string; checkedAt: string | null };
  /** The OPTIONS exchange. */
  messages: TracedMessage[];
  /** The REGISTER exchange; null for a provider that does not register. */
  register: RegisterTestView | null;
}
