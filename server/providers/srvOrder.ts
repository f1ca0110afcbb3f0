/**
 * The order in which to try SRV records (RFC 2782): lowest priority first; within one priority a
 * weighted random draw, repeated over the records not yet chosen, so that load spreads across a
 * provider's servers in proportion to their weights.
 */
export interface Weighted {
  priority: number;
  weight: number;
}

/** `random` returns a number in [0, 1), like Math.random (tests inject their own). */
export function srvOrder<T extends Weighted>(records: readonly T[], random: () => number = Math.random): T[] {
  const byPriority = new Map<number, T[]>();
  for (const r of records) byPriority.set(r.priority, [...(byPriority.get(r.priority) ?? []), r]);
  const ordered: T[] = [];
  for (const priority of [...byPriority.keys()].sort((a, b) => a - b)) {
    // RFC 2782 puts weight-0 records first: the draw below then picks one only when it comes out
    // as 0, or once no weighted record is left. The sort is stable, so ties keep the DNS order.
    const remaining = byPriority.get(priority)!.sort((a, b) => Number(a.weight > 0) - Number(b.weight > 0));
    while (remaining.length) {
      const total = remaining.reduce((sum, r) => sum + r.weight, 0);
      const draw = Math.floor(random() * (total + 1));
      let running = 0;
      const chosen = remaining.findIndex((r) => (running += r.weight) >= draw);
      ordered.push(...remaining.splice(chosen, 1));
    }
  }
  return ordered;
}
