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
