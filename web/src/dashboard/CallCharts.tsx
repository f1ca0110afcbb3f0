/**
 * The dashboard's pictures: calls per hour, answer-seizure ratio, average talk time and the peak
 * of calls at once over a chosen period, from the server's hourly aggregates (GET /stats/calls),
 * and the media quality of the answered calls over the same period (GET /stats/quality): the
 * share with audio both ways, and packet loss and jitter of the caller's and the answering phone.
 * Drawn with uPlot; each chart says its totals in words too.
 */
import { useEffect, useMemo, useRef, useState } from 'react';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import type { CallQualitySums, CallQualityView, CallStatsView } from '../../../contract/callStats.ts';
import { Empty, ErrorNote } from '../components/Feedback.tsx';
import { SelectField } from '../components/Form.tsx';
import { Section } from '../components/Page.tsx';
import { duration } from '../format.ts';
import { useApi } from '../useApi.ts';
import { useAfterCallEnds } from '../live/useAfterCallEnds.ts';

const HOUR_MS = 3_600_000;
const PERIODS = { day: { label: 'Last 24 hours', hours: 24 }, week: { label: 'Last 7 days', hours: 168 } } as const;
type Period = keyof typeof PERIODS;

interface Series {
  title: string;
  unit: string;
  values: Array<number | null>;
  summary: string;
  /** A second line on the same chart, with its name (the first is then named `label`). */
  second?: { label: string; values: Array<number | null> };
  label?: string;
  /** A share of a whole (0–100 %): the axis stays 0–100 instead of scaling past the whole. */
  share?: boolean;
}

const COLOURS = ['#2456d6', '#b45309'];

function hoursOf(from: number, to: number): number[] {
  const hours: number[] = [];
  for (let h = from - (from % HOUR_MS); h < to; h += HOUR_MS) hours.push(h);
  return hours;
}

function seriesOf(stats: CallStatsView): { hours: number[]; series: Series[] } {
  const byHour = new Map(stats.hours.map((h) => [h.hour, h]));
  const hours = hoursOf(stats.from, stats.to);
  const at = (h: number) => byHour.get(h);
  const calls = stats.hours.reduce((n, h) => n + h.calls, 0);
  const answered = stats.hours.reduce((n, h) => n + h.answered, 0);
  const talk = stats.hours.reduce((n, h) => n + h.talkMs, 0);
  const peak = stats.hours.reduce((n, h) => Math.max(n, h.peakConcurrent), 0);
  return {
    hours,
    series: [
      { title: 'Calls per hour', unit: 'calls', values: hours.map((h) => at(h)?.calls ?? 0), summary: `${calls} call${calls === 1 ? '' : 's'} in the period` },
      {
        title: 'Answer-seizure ratio',
        unit: '%',
        share: true,
        values: hours.map((h) => (at(h)?.calls ? Math.round((100 * at(h)!.answered) / at(h)!.calls) : null)),
        summary: calls ? `${Math.round((100 * answered) / calls)} % of calls answered` : 'no calls',
      },
      {
        title: 'Average talk time',
        unit: 's',
        values: hours.map((h) => (at(h)?.answered ? Math.round(at(h)!.talkMs / at(h)!.answered / 1000) : null)),
        summary: answered ? `${duration(talk / answered)} on average` : 'no answered calls',
      },
      { title: 'Peak calls at once', unit: 'calls', values: hours.map((h) => at(h)?.peakConcurrent ?? 0), summary: `at most ${peak} at once` },
    ],
  };
}

function Chart({ hours, s, testId = 'chart' }: { hours: number[]; s: Series; testId?: string }) {
  const host = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const points = { show: hours.length <= 48 };
    const plot = new uPlot(
      {
        width: Math.max(280, host.current!.clientWidth),
        height: 160,
        legend: { show: Boolean(s.second), live: false },
        scales: { x: { time: true }, ...(s.share ? { y: { range: [0, 100] as [number, number] } } : {}) },
        series: [
          {},
          { label: s.label ?? s.title, stroke: COLOURS[0], width: 2, fill: s.second ? undefined : 'rgba(36, 86, 214, 0.08)', points, spanGaps: Boolean(s.second) },
          ...(s.second ? [{ label: s.second.label, stroke: COLOURS[1], width: 2, points, spanGaps: true }] : []),
        ],
        axes: [{}, { values: (_u, v) => v.map((x) => `${x}${s.unit === '%' ? ' %' : s.unit === 'ms' ? ' ms' : ''}`) }],
      },
      [hours.map((h) => h / 1000), s.values, ...(s.second ? [s.second.values] : [])],
      host.current!,
    );
    return () => plot.destroy();
  }, [hours, s]);
  return (
    <figure className="chart" data-testid={testId} data-chart={s.title}>
      <figcaption>
        <strong>{s.title}</strong> <span className="muted small">{s.summary}</span>
      </figcaption>
      <div ref={host} role="img" aria-label={`${s.title}: ${s.summary}`} />
    </figure>
  );
}

const lossPercent = (q: CallQualitySums) => (q.lossPackets + q.lost > 0 ? (100 * q.lost) / (q.lossPackets + q.lost) : null);
const meanJitter = (q: CallQualitySums) => (q.jitterLegs ? q.jitterMsSum / q.jitterLegs : null);
const round1 = (v: number | null) => (v === null ? null : Math.round(v * 10) / 10);
const percentWords = (v: number | null) => (v === null ? '—' : `${v.toFixed(1)} %`);
const msWords = (v: number | null) => (v === null ? '—' : `${v.toFixed(1)} ms`);

function qualityOf(q: CallQualityView): { hours: number[]; series: Series[]; figures: Array<[string, string]> } {
  const byHour = new Map(q.hours.map((h) => [h.hour, h]));
  const hours = hoursOf(q.from, q.to);
  const at = (h: number) => byHour.get(h);
  const t = q.total;
  const both = t.measured ? (100 * t.bothWays) / t.measured : null;
  const sides = (f: (s: CallQualitySums) => number | null, words: (v: number | null) => string) => `caller ${words(f(t.caller))}, answering phone ${words(f(t.callee))}`;
  return {
    hours,
    figures: [
      ['Answered calls measured', `${t.measured} of ${t.answered}`],
      ['Audio both ways', both === null ? '—' : `${Math.round(both)} % (${t.bothWays} of ${t.measured})`],
      ['Loss, caller', percentWords(lossPercent(t.caller))],
      ['Loss, answering phone', percentWords(lossPercent(t.callee))],
      ['Jitter, caller', msWords(meanJitter(t.caller))],
      ['Jitter, answering phone', msWords(meanJitter(t.callee))],
    ],
    series: [
      {
        title: 'Audio both ways',
        unit: '%',
        share: true,
        values: hours.map((h) => (at(h)?.measured ? Math.round((100 * at(h)!.bothWays) / at(h)!.measured) : null)),
        summary: both === null ? 'no measured calls' : `${Math.round(both)} % of measured answered calls`,
      },
      {
        title: 'Packet loss',
        unit: '%',
        label: 'caller',
        values: hours.map((h) => round1(at(h) ? lossPercent(at(h)!.caller) : null)),
        second: { label: 'answering phone', values: hours.map((h) => round1(at(h) ? lossPercent(at(h)!.callee) : null)) },
        summary: sides(lossPercent, percentWords),
      },
      {
        title: 'Mean jitter',
        unit: 'ms',
        label: 'caller',
        values: hours.map((h) => round1(at(h) ? meanJitter(at(h)!.caller) : null)),
        second: { label: 'answering phone', values: hours.map((h) => round1(at(h) ? meanJitter(at(h)!.callee) : null)) },
        summary: sides(meanJitter, msWords),
      },
    ],
  };
}

/** The media quality of the period's answered calls: figures in words, then per hour. */
function CallQuality({ range }: { range: { from: number; to: number } }) {
  const stats = useApi<CallQualityView>(`/stats/quality?from=${range.from}&to=${range.to}`);
  useAfterCallEnds(() => void stats.reload());
  const data = useMemo(() => (stats.data ? qualityOf(stats.data) : undefined), [stats.data]);
  return (
    <div data-testid="call-quality">
      <h3>Call quality</h3>
      <p className="hint">Answered calls whose audio went through the switch’s media relay, as the relay counted what each phone sent.</p>
      <ErrorNote error={stats.error} />
      {data && stats.data!.total.measured === 0 && (
        <Empty>
          {stats.data!.total.answered ? `None of the ${stats.data!.total.answered} answered calls of the period went through the media relay.` : 'No answered calls in the period.'}
        </Empty>
      )}
      {data && stats.data!.total.measured > 0 && (
        <>
          <dl className="quality-figures">
            {data.figures.map(([k, v]) => (
              <div key={k}>
                <dt>{k}</dt>
                <dd data-figure={k}>{v}</dd>
              </div>
            ))}
          </dl>
          <div className="grid two charts">
            {data.series.map((s) => (
              <Chart key={s.title} hours={data.hours} s={s} testId="quality-chart" />
            ))}
          </div>
        </>
      )}
    </div>
  );
}

export function CallCharts() {
  const [period, setPeriod] = useState<Period>('day');
  // The period ends at the next full hour, fixed when chosen so the request stays the same.
  const range = useMemo(() => {
    const to = Math.ceil(Date.now() / HOUR_MS) * HOUR_MS;
    return { from: to - PERIODS[period].hours * HOUR_MS, to };
  }, [period]);
  const stats = useApi<CallStatsView>(`/stats/calls?from=${range.from}&to=${range.to}`);
  useAfterCallEnds(() => void stats.reload());
  const data = useMemo(() => (stats.data ? seriesOf(stats.data) : undefined), [stats.data]);
  return (
    <Section
      title="Calls over time"
      actions={
        <SelectField label="Period" value={period} onChange={(e) => setPeriod(e.target.value as Period)}>
          {Object.entries(PERIODS).map(([k, p]) => (
            <option key={k} value={k}>
              {p.label}
            </option>
          ))}
        </SelectField>
      }
    >
      <ErrorNote error={stats.error} />
      {data && (
        <div className="grid two charts">
          {data.series.map((s) => (
            <Chart key={s.title} hours={data.hours} s={s} />
          ))}
        </div>
      )}
      <CallQuality range={range} />
    </Section>
  );
}
