/**
 * DTMF sent as SIP INFO, the way many phones and providers send digits when they do not send them
 * as RTP events (RFC 4733): `application/dtmf-relay` (`Signal=5` and `Duration=160` on lines of
 * their own) or `application/dtmf` (the digit alone). Only the digit matters to the switch.
 */

const DIGIT = /^[0-9*#A-D]$/;

/** The digit an INFO carries, or undefined when it is no DTMF INFO the switch reads. */
export function infoDigit(body: { type: string; content: string } | undefined): string | undefined {
  if (!body) return undefined;
  const type = body.type.split(';')[0]!.trim().toLowerCase();
  let value: string | undefined;
  if (type === 'application/dtmf-relay') value = /^\s*signal\s*=\s*(\S+)\s*$/im.exec(body.content)?.[1];
  else if (type === 'application/dtmf') value = body.content.trim();
  else return undefined;
  // Some phones send the events' numbers: 10 is *, 11 is #, 12-15 are A-D.
  const digit = value === undefined ? undefined : (EVENT_NUMBERS[value] ?? value.toUpperCase());
  return digit !== undefined && DIGIT.test(digit) ? digit : undefined;
}

const EVENT_NUMBERS: Record<string, string> = { '10': '*', '11': '#', '12': 'A', '13': 'B', '14': 'C', '15': 'D' };
