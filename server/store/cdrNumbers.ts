/** Caller, callee, each dialled target and its user part (`0123` of `0123@trunk`), once each. */
export function searchableNumbers(caller: string, callee: string, dialled: readonly string[]): string[] {
  const all = new Set<string>();
  for (const n of [caller, callee, ...dialled, ...dialled.map((d) => (d.includes('@') && !d.startsWith('sip') ? d.slice(0, d.indexOf('@')) : ''))]) {
    if (n) all.add(n.slice(0, 255));
  }
  return [...all];
}
