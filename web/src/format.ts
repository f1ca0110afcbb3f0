/** Times and durations as the portal shows them: in the tenant's time zone, in words a person reads. */

type Time = string | number | null | undefined;

const toDate = (t: Time) => (t === null || t === undefined ? null : new Date(t));

export interface Formatter {
  timeZone: string;
  /** `12 Mar 2026, 14:05:09` */
  dateTime(t: Time): string;
  /** `14:05:09` */
  time(t: Time): string;
}

export function formatterFor(timeZone: string): Formatter {
  const dateTime = new Intl.DateTimeFormat(undefined, { timeZone, dateStyle: 'medium', timeStyle: 'medium', hourCycle: 'h23' });
  const time = new Intl.DateTimeFormat(undefined, { timeZone, timeStyle: 'medium', hourCycle: 'h23' });
  return {
    timeZone,
    dateTime: (t) => {
      const d = toDate(t);
      return d ? dateTime.format(d) : '—';
    },
    time: (t) => {
      const d = toDate(t);
      return d ? time.format(d) : '—';
    },
  };
}

/** `850 ms`, `12 s`, `3 min 05 s`, `1 h 02 min`. */
export function duration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return '—';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${String(s % 60).padStart(2, '0')} s`;
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, '0')} min`;
}

/** `in 4 min`, `2 h ago`, `just now`. */
export function relative(t: Time, now = Date.now()): string {
  const d = toDate(t);
  if (!d) return '—';
  const diff = d.getTime() - now;
  const abs = Math.abs(diff);
  if (abs < 5000) return 'just now';
  const words =
    abs < 60_000
      ? `${Math.round(abs / 1000)} s`
      : abs < 3_600_000
        ? `${Math.round(abs / 60_000)} min`
        : abs < 86_400_000
          ? `${Math.round(abs / 3_600_000)} h`
          : `${Math.round(abs / 86_400_000)} days`;
  return diff > 0 ? `in ${words}` : `${words} ago`;
}

/**
 * The instant at which the wall clock in `timeZone` shows `local` (`2026-03-12T14:05`, as a
 * datetime-local input gives it): filters are typed in the tenant's zone, not the browser's.
 */
export function zonedToInstant(local: string, timeZone: string): Date {
  const asUtc = Date.parse(`${local}Z`);
  // The zone's offset at a guess, then at the corrected instant (right across DST changes).
  let instant = asUtc - offsetMs(asUtc, timeZone);
  instant = asUtc - offsetMs(instant, timeZone);
  return new Date(instant);
}

/** The inverse: what a datetime-local input should show for an instant. */
export function instantToZoned(iso: string, timeZone: string): string {
  const t = Date.parse(iso);
  return new Date(t + offsetMs(t, timeZone)).toISOString().slice(0, 16);
}

function offsetMs(instant: number, timeZone: string): number {
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone,
    hourCycle: 'h23',
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
  }).formatToParts(new Date(instant));
  const get = (type: string) => Number(parts.find((p) => p.type === type)?.value);
  const wall = Date.UTC(get('year'), get('month') - 1, get('day'), get('hour'), get('minute'), get('second'));
  return wall - Math.floor(instant / 1000) * 1000;
}
