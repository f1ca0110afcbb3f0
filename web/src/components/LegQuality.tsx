/**
 * One leg's audio through the media relay, in a table cell: whether audio flowed each way, the
 * packets, loss and jitter of what the phone sent, and a warning while (or if) the phone went
 * silent. Nothing to show when audio does not pass the switch (direct media, or no SDP yet).
 */
import type { LegMedia } from '../api/types.ts';
import { Badge } from './Badge.tsx';

function flowWords(flowing: { fromPhone: boolean; toPhone: boolean }): { tone: 'good' | 'warn' | 'bad'; words: string } {
  if (flowing.fromPhone && flowing.toPhone) return { tone: 'good', words: 'both ways' };
  if (flowing.fromPhone) return { tone: 'warn', words: 'from the phone only' };
  if (flowing.toPhone) return { tone: 'warn', words: 'to the phone only' };
  return { tone: 'bad', words: 'none' };
}

export function LegQuality({ media }: { media: LegMedia | undefined }) {
  if (!media) return <span className="muted">—</span>;
  const q = media.quality;
  const flow = q && flowWords(q.flowing);
  const loss = q && q.fromPhone.lost !== null && q.fromPhone.packets + q.fromPhone.lost > 0 ? (100 * q.fromPhone.lost) / (q.fromPhone.packets + q.fromPhone.lost) : null;
  return (
    <span data-testid="leg-quality">
      {media.silentSince !== null && (
        <Badge tone="bad" title="The phone sent no audio while it should have (one-way audio)">
          no audio from the phone
        </Badge>
      )}
      {q && flow && (
        <>
          <Badge tone={flow.tone}>audio {flow.words}</Badge>
          <div className="muted small">
            {q.fromPhone.packets} packets in, {q.toPhone.packets} out
            {q.fromPhone.lost !== null && loss !== null && ` · lost ${q.fromPhone.lost} (${loss.toFixed(1)} %)`}
            {q.fromPhone.jitterMs !== null && ` · jitter ${q.fromPhone.jitterMs.toFixed(1)} ms`}
          </div>
        </>
      )}
    </span>
  );
}
