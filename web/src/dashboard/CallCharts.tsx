/**
 * The dashboard's pictures: calls per hour, answer-seizure ratio, average talk time and the peak
 * of calls at once over a chosen period, from the server's hourly aggregates (GET /stats/calls),
 * drawn with uPlot. Each chart says its totals in words too.
 */
import { useEffect, useMemo, useRef, useState } from 'react';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import type { CallStatsView } from '../../../contract/callStats.ts';
import { ErrorNote } from '../components/Feedback.tsx';
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
}

function seriesOf(stats: CallStatsView): { hours: number[]; series: Series[] } {
  const byHour = new Map(stats.hours.map((h) => [h.hour, h]));
  const hours: number[] = [];
  for (let h = stats.from - (stats.from % HOUR_MS); h < stats.to; h += HOUR_MS) hours.push(h);
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

function Chart({ hours, s }: { hours: number[]; s: Series }) {
  const host = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const plot = new uPlot(
      {
        width: Math.max(280, host.current!.clientWidth),
        height: 160,
        legend: { show: false },
        scales: { x: { time: true } },
        series: [{}, { label: s.title, stroke: '#2456d6', width: 2, fill: 'rgba(36, 86, 214, 0.08)', points: { show: hours.length <= 48 } }],
        axes: [{}, { values: (_u, v) => v.map((x) => `${x}${s.unit === '%' ? ' %' : ''}`) }],
      },
      [hours.map((h) => h / 1000), s.values],
      host.current!,
    );
    return () => plot.destroy();
  }, [hours, s]);
  return (
    <figure className="chart" data-testid="chart" data-chart={s.title}>
      <figcaption>
        <strong>{s.title}</strong> <span className="muted small">{s.summary}</span>
      </figcaption>
      <div ref={host} role="img" aria-label={`${s.title}: ${s.summary}`} />
    </figure>
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
    </Section>
  );
}
