/**
 * A recording's waveform on a canvas, drawn from the audio itself: fetched, decoded by the Web
 * Audio API (an OfflineAudioContext, so nothing is played and no audio device is needed), reduced
 * to the loudest sample per pixel column. What the player has played is drawn in the accent
 * colour; a click seeks the player there (the player's own controls do the same from the keyboard).
 */
import { useEffect, useRef, useState, type MouseEvent, type RefObject } from 'react';

/** Peaks per pixel column: the largest |sample| in each, 0..1. */
export function peaksOf(samples: Float32Array, columns: number): Float32Array {
  const peaks = new Float32Array(columns);
  if (!samples.length) return peaks;
  const per = samples.length / columns;
  for (let c = 0; c < columns; c++) {
    let max = 0;
    const end = Math.min(samples.length, Math.floor((c + 1) * per));
    for (let i = Math.floor(c * per); i < end; i++) {
      const v = Math.abs(samples[i]!);
      if (v > max) max = v;
    }
    peaks[c] = max;
  }
  return peaks;
}

async function decode(url: string, signal: AbortSignal): Promise<Float32Array> {
  const res = await fetch(url, { credentials: 'same-origin', signal });
  if (!res.ok) throw new Error(`the switch answered ${res.status}`);
  const bytes = await res.arrayBuffer();
  // 8 kHz is what recordings are made at; the sample rate only sets the decoded copy's resolution.
  const ctx = new OfflineAudioContext(1, 1, 8000);
  const audio = await ctx.decodeAudioData(bytes);
  return audio.getChannelData(0);
}

const HEIGHT = 56;

function draw(canvas: HTMLCanvasElement, peaks: Float32Array, played: number): void {
  const ctx = canvas.getContext('2d');
  if (!ctx) return;
  const { width, height } = canvas;
  const styles = getComputedStyle(canvas);
  const accent = styles.getPropertyValue('--accent').trim() || '#2456d6';
  const rest = styles.getPropertyValue('--muted').trim() || '#5d6778';
  ctx.clearRect(0, 0, width, height);
  const mid = height / 2;
  const loudest = Math.max(...peaks, 0.01);
  for (let x = 0; x < peaks.length; x++) {
    // Scaled to the loudest moment, at least a hairline so silence still shows the timeline.
    const h = Math.max(1, (peaks[x]! / loudest) * (mid - 2));
    ctx.fillStyle = x / peaks.length < played ? accent : rest;
    ctx.fillRect(x, mid - h, 1, 2 * h);
  }
}

export function Waveform({ url, player, label }: { url: string; player: RefObject<HTMLAudioElement | null>; label: string }) {
  const canvas = useRef<HTMLCanvasElement>(null);
  const [samples, setSamples] = useState<Float32Array>();
  const [error, setError] = useState<string>();
  const [width, setWidth] = useState(0);

  useEffect(() => {
    const abort = new AbortController();
    setSamples(undefined);
    setError(undefined);
    decode(url, abort.signal).then(setSamples, (err: unknown) => {
      if (!abort.signal.aborted) setError(err instanceof Error ? err.message : String(err));
    });
    return () => abort.abort();
  }, [url]);

  // The canvas is as wide as its box, in device pixels.
  useEffect(() => {
    const el = canvas.current!;
    const measure = () => setWidth(Math.max(100, Math.round(el.clientWidth * (window.devicePixelRatio || 1))));
    measure();
    const observer = new ResizeObserver(measure);
    observer.observe(el);
    return () => observer.disconnect();
  }, []);

  useEffect(() => {
    const el = canvas.current;
    const audio = player.current;
    if (!el || !samples || !width) return;
    el.width = width;
    el.height = HEIGHT * (window.devicePixelRatio || 1);
    const peaks = peaksOf(samples, width);
    const render = () => draw(el, peaks, audio && audio.duration > 0 ? audio.currentTime / audio.duration : 0);
    render();
    if (!audio) return;
    let frame = 0;
    const tick = () => {
      render();
      if (!audio.paused) frame = requestAnimationFrame(tick);
    };
    const onPlay = () => {
      cancelAnimationFrame(frame);
      frame = requestAnimationFrame(tick);
    };
    audio.addEventListener('play', onPlay);
    audio.addEventListener('timeupdate', render);
    audio.addEventListener('seeked', render);
    return () => {
      cancelAnimationFrame(frame);
      audio.removeEventListener('play', onPlay);
      audio.removeEventListener('timeupdate', render);
      audio.removeEventListener('seeked', render);
    };
  }, [samples, width, player]);

  const seek = (e: MouseEvent<HTMLCanvasElement>) => {
    const audio = player.current;
    if (!audio || !(audio.duration > 0)) return;
    const box = e.currentTarget.getBoundingClientRect();
    audio.currentTime = ((e.clientX - box.left) / box.width) * audio.duration;
  };

  const state = error ? 'error' : samples ? 'ready' : 'loading';
  return (
    <div className="waveform" data-state={state}>
      <canvas ref={canvas} data-testid="waveform" data-state={state} role="img" aria-label={`Waveform of ${label}`} style={{ height: HEIGHT }} onClick={seek} />
      {state === 'loading' && <span className="muted small waveform-note">Drawing the waveform…</span>}
      {error && <span className="muted small waveform-note">No waveform: {error}</span>}
    </div>
  );
}
