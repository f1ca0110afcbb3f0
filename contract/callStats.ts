/** `GET /stats/calls?from&to`: the tenant's calls per hour over a period, aggregated on the server. */
export interface CallStatsHour {
  /** The hour's start, epoch ms (UTC hours). */
  hour: number;
  calls: number;
  answered: number;
  /** Talk time of the answered calls, summed (divide by `answered` for the average). */
  talkMs: number;
  /** The most calls in progress at one moment within the hour. */
  peakConcurrent: number;
}

export interface CallStatsView {
  from: number;
  to: number;
  hours: CallStatsHour[];
}

/** Sums over one side of the answered calls (the caller's phone, or the phone that answered), as the relay counted what that phone sent. */
export interface CallQualitySums {
  /** Calls whose leg of this side the relay measured. */
  legs: number;
  /** Packets received from those phones. */
  packets: number;
  /** Packets lost, summed over the legs whose loss the engine could tell… */
  lost: number;
  /** …and the packets received on those legs (loss share: lost / (lossPackets + lost)). */
  lossPackets: number;
  /** Interarrival jitter in ms, summed over the legs that report it, and how many did. */
  jitterMsSum: number;
  jitterLegs: number;
}

/**
 * `GET /stats/quality?from&to`: the media quality of the tenant's answered calls per hour (calls
 * through the media relay; records written before the switch kept these figures do not count).
 */
export interface CallQualityHour {
  /** The hour's start, epoch ms (UTC hours). */
  hour: number;
  answered: number;
  /** Answered calls the relay measured, and of those, the ones whose audio flowed both ways on every answered leg. */
  measured: number;
  bothWays: number;
  caller: CallQualitySums;
  callee: CallQualitySums;
}

export interface CallQualityView {
  from: number;
  to: number;
  /** The hours with answered calls, in order. */
  hours: CallQualityHour[];
  /** The whole period. */
  total: Omit<CallQualityHour, 'hour'>;
}
