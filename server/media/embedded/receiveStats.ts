/**
 * What a receiver of one RTP stream knows about it (RFC 3550 appendix A): packets, bytes,
 * packets lost from the extended sequence numbers, and interarrival jitter. A new SSRC (the phone
 * restarted its stream, or the stream moved to another phone) starts the sequence accounting over,
 * keeping what was lost before.
 */

const RTP_SEQ_MOD = 1 << 16;
/** RFC 3550 A.1: a jump this large is a restart, not a loss. */
const MAX_DROPOUT = 3000;
const MAX_MISORDER = 100;

export class ReceiveStats {
  packets = 0;
  bytes = 0;
  lastPacketAt: number | null = null;
  private ssrc = -1;
  private baseSeq = 0;
  private maxSeq = 0;
  private cycles = 0;
  /** Packets counted towards the current SSRC's expected range. */
  private receivedInRun = 0;
  private lostBefore = 0;
  private jitter = 0;
  private lastTransit: number | null = null;
  private clockRate = 8000;

  /** Clock rate of the payload types carried (jitter is kept in their timestamp units). */
  setClockRate(rate: number): void {
    if (rate > 0) this.clockRate = rate;
  }

  /** One RTP packet: `seq`, `timestamp` and `ssrc` from its header, `arrivalMs` on a monotonic clock. */
  add(seq: number, timestamp: number, ssrc: number, size: number, arrivalMs: number, wallMs: number): void {
    this.packets++;
    this.bytes += size;
    this.lastPacketAt = wallMs;
    if (ssrc !== this.ssrc) {
      this.lostBefore += this.lostInRun();
      this.ssrc = ssrc;
      this.baseSeq = seq;
      this.maxSeq = seq;
      this.cycles = 0;
      this.receivedInRun = 1;
      this.lastTransit = null;
    } else {
      const delta = (seq - this.maxSeq + RTP_SEQ_MOD) % RTP_SEQ_MOD;
      if (delta < MAX_DROPOUT) {
        if (seq < this.maxSeq) this.cycles += RTP_SEQ_MOD;
        this.maxSeq = seq;
        this.receivedInRun++;
      } else if (delta <= RTP_SEQ_MOD - MAX_MISORDER) {
        // A big jump: the sender restarted its sequence; count from here.
        this.lostBefore += this.lostInRun();
        this.baseSeq = seq;
        this.maxSeq = seq;
        this.cycles = 0;
        this.receivedInRun = 1;
      } else {
        this.receivedInRun++; // late or duplicate; it was counted as lost until now
      }
    }
    // RFC 3550 A.8: J += (|D| - J) / 16, with transit in timestamp units.
    const arrival = (arrivalMs * this.clockRate) / 1000;
    const transit = arrival - timestamp;
    if (this.lastTransit !== null) {
      let d = transit - this.lastTransit;
      // The 32-bit timestamp wrapped between the two packets.
      if (d > 2 ** 31) d -= 2 ** 32;
      else if (d < -(2 ** 31)) d += 2 ** 32;
      this.jitter += (Math.abs(d) - this.jitter) / 16;
    }
    this.lastTransit = transit;
  }

  private lostInRun(): number {
    if (this.ssrc < 0) return 0;
    const expected = this.cycles + this.maxSeq - this.baseSeq + 1;
    return Math.max(0, expected - this.receivedInRun);
  }

  get lost(): number {
    return this.lostBefore + this.lostInRun();
  }

  get jitterMs(): number {
    return (this.jitter * 1000) / this.clockRate;
  }
}
