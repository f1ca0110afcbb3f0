/**
 * CSV export of call records (RFC 4180: CRLF line ends, quotes doubled, fields with `,` `"` CR LF
 * quoted). Cells a spreadsheet would read as a formula get a leading `'` (OWASP "CSV injection"),
 * except a bare E.164 number (`+4930123456`): a spreadsheet may read that as the number 4930123456,
 * which is harmless (a formula of digits calls nothing), and the CDR's most important cells stay as
 * they are for every other reader of the file.
 */
import type { CdrSummary } from '../domain/cdr.ts';

const FORMULA_START = /^[=+\-@\t\r]/;
const E164 = /^\+[0-9]{1,20}$/;

export function csvCell(v: string | number | null | undefined): string {
  if (v === null || v === undefined) return '';
  let s = String(v);
  if (typeof v === 'string' && FORMULA_START.test(s) && !E164.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

const COLUMNS: Array<[string, (c: CdrSummary) => string | number | null]> = [
  ['id', (c) => c.id],
  ['started_at', (c) => iso(c.startedAt)],
  ['ringing_at', (c) => iso(c.ringingAt)],
  ['answered_at', (c) => iso(c.answeredAt)],
  ['ended_at', (c) => iso(c.endedAt)],
  ['ring_ms', (c) => c.ringMs],
  ['talk_ms', (c) => c.talkMs],
  ['direction', (c) => c.direction],
  ['caller', (c) => c.caller],
  ['callee', (c) => c.callee],
  ['dialled', (c) => c.dialled.join(' ')],
  ['account', (c) => c.account],
  ['provider', (c) => c.provider],
  ['status', (c) => c.status],
  ['sip_status', (c) => c.sipStatus],
  ['hangup_cause', (c) => c.hangupCause],
  ['hangup_by', (c) => c.hangupBy],
  ['dialplan', (c) => c.dialplan?.name ?? null],
  ['dialplan_version', (c) => c.dialplan?.version ?? null],
  ['dialplan_outcome', (c) => c.dialplan?.outcome ?? null],
  ['call_id', (c) => c.callId],
];

export const CDR_CSV_HEADER = `${COLUMNS.map(([name]) => name).join(',')}\r\n`;

export const cdrCsvRow = (c: CdrSummary): string => `${COLUMNS.map(([, get]) => csvCell(get(c))).join(',')}\r\n`;
