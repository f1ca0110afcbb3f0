/**
 * The shapes the JSON API returns (see server/api/*Routes.ts). Times are ISO 8601 unless noted.
 * Those the server itself types its answers with come from the contract module (contract/), the
 * only part of the repository outside web/ the portal may import.
 */

import type { NonDialAction } from '../../../contract/dialplanActions.ts';
import type { BridgeSnapshot, CallEvent, ChannelSnapshot } from '../../../contract/calls.ts';
import type { ProviderSettings, ProviderState } from '../../../contract/providers.ts';
import type { CdrSummaryView } from '../../../contract/cdrs.ts';
import type { DigestAlgorithm } from '../../../contract/sipAccounts.ts';
import type { RecordingView } from '../../../contract/audio.ts';

export interface Me {
  tenant: { id: string; name: string; timeZone: string } | null;
  user: { id: string; email: string } | null;
  via: 'session' | 'api-key';
  /** Sees and lifts every block of the switch (OPERATOR_EMAILS). */
  operator: boolean;
}

export type { BanView } from '../../../contract/bans.ts';

export type { LimitsView as Limits, SettingsView as Settings } from '../../../contract/settings.ts';

export type { DigestAlgorithm } from '../../../contract/sipAccounts.ts';

export interface SipAccount {
  id: string;
  username: string;
  domain: string;
  sipUri: string;
  displayName: string | null;
  enabled: boolean;
  digestAlgorithms: DigestAlgorithm[] | null;
  effectiveDigestAlgorithms: DigestAlgorithm[];
  dialplanOut: string | null;
  dialplanIn: string | null;
  /** The short number colleagues dial; null = none. */
  extension: string | null;
  needsNewPassword: boolean;
  createdAt: string;
  updatedAt: string;
}

export interface Registration {
  id: string;
  accountId: string;
  username: string;
  contact: string;
  source: { address: string; port: number; transport: string };
  userAgent: string | null;
  digestAlgorithm: string;
  expiresAt: string;
  expiresIn: number;
  registeredAt: string;
  refreshedAt: string;
  nodeId: string;
}

/** `GET /registrations/summary`. */
export interface RegistrationSummary {
  bindings: number;
  /** Enabled phones with at least one live registration. */
  registeredAccounts: number;
}

export interface ProviderStatus {
  state: ProviderState;
  lastStatus: number | null;
  lastReason: string | null;
  lastError: string | null;
  nextAttemptAt: string | null;
  registeredUntil: string | null;
  rttMs: number | null;
}

// A provider's settings: the very type the server takes and returns.
export type { ProviderSettings, ProviderState } from '../../../contract/providers.ts';

export interface Provider extends ProviderSettings {
  id: string;
  hasPassword: boolean;
  /** Where the provider should send this provider's incoming calls (the Contact the switch registers). */
  contactUri: string;
  status: ProviderStatus;
  /** The last OPTIONS ping of this run; null until the first has an outcome. */
  health: ProviderHealth | null;
  createdAt: string;
  updatedAt: string;
}

export interface ProviderHealth {
  reachable: boolean;
  rttMs: number | null;
  /** The answer (`200 OK`) or why there was none. */
  detail: string;
  checkedAt: string;
}

export interface DialplanSummary {
  name: string;
  version: number;
  updatedAt: string;
}

/** The tenant's dialplans are suspended (their code brought down the engine): calls that would run them are refused. */
export interface DialplanQuarantine {
  until: string;
  reason: string;
}

export interface DialplanList {
  items: DialplanSummary[];
  quarantine: DialplanQuarantine | null;
}

export interface Dialplan extends DialplanSummary {
  source: string;
  versions: Array<{ version: number; createdAt: string }>;
  quarantine: DialplanQuarantine | null;
}

/** What saving a source would say (POST /dialplans/compile). */
export type CompileResult = { ok: true } | { ok: false; message: string; line: number; column: number };

export type { DialOutcome } from '../../../contract/outcomes.ts';

export interface DialLeg {
  target: string;
  timeout: number;
  delay: number;
  callerId?: string;
}

export type SimulatedAction =
  { type: 'dial'; at: number; spec: { groups: DialLeg[][] }; result: { answered: boolean; result: string; sipStatus?: number; target?: string } } | NonDialAction;

export interface SimulationResult {
  outcome: string;
  error?: { message: string; line?: number; column?: number };
  actions: SimulatedAction[];
  logs: Array<{ at: number; level: string; message: string }>;
}

// Dialplan audio and the dashboard's figures: the API's own views of them.
export type { PromptView as Prompt, RecordingView as Recording, ToneView as Tone } from '../../../contract/audio.ts';
export type { CallQualitySums, CallQualityView } from '../../../contract/callStats.ts';

export interface RecordingPage {
  items: RecordingView[];
  nextCursor: string | null;
}

// Call records: the API's own views of them.
export { CDR_STATUSES, type CdrStatus } from '../../../contract/cdrs.ts';
export type { CdrLegView as CdrLeg, CdrSummaryView as CdrSummary, CdrView as Cdr } from '../../../contract/cdrs.ts';

export interface CdrPage {
  items: CdrSummaryView[];
  nextCursor: string | null;
}

export interface ApiKey {
  id: string;
  name: string;
  prefix: string;
  /** `read-only` keys may only read (GET). */
  scope: 'full' | 'read-only';
  /** When the key stops working; null: never. */
  expiresAt: string | null;
  createdAt: string;
  lastUsedAt: string | null;
}

// Live calls: the call model's own event types (times in epoch milliseconds), so the portal
// cannot drift from what the server emits.
export type { BridgeSnapshot, CallEvent, ChannelSnapshot, ChannelState, LegMedia } from '../../../contract/calls.ts';

export interface LiveCall {
  callId: string;
  startedAt: number;
  channels: ChannelSnapshot[];
  bridges: BridgeSnapshot[];
}

/** A provider's registration state changed (no call, no seq; times in epoch milliseconds). */
export interface ProviderStatusEvent {
  type: 'provider.status';
  tenantId: string;
  at: number;
  provider: { providerId: string; state: ProviderState; lastStatus: number | null; lastReason: string | null; lastError: string | null };
}

/** A provider started or stopped answering OPTIONS pings. */
export interface ProviderHealthEvent {
  type: 'provider.health';
  tenantId: string;
  at: number;
  provider: { providerId: string; reachable: boolean; rttMs: number | null; detail: string };
}

/** What GET /events streams. */
export type LiveEvent = CallEvent | ProviderStatusEvent | ProviderHealthEvent;
