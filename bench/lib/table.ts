/** The benches' step tables on stdout: one right-aligned column per figure. */

export type Columns<T> = Array<[string, (row: T) => string | number]>;

/** Prints the header and rows of `columns`, each cell as wide as its name (at least `minWidth`), joined by `gap`. */
export function table<T>(columns: Columns<T>, o: { minWidth: number; gap: string }): { header(): void; row(r: T): void } {
  const line = (cells: Array<string | number>) => console.log(cells.map((c, i) => String(c).padStart(Math.max(columns[i]![0].length, o.minWidth))).join(o.gap));
  return {
    header: () => line(columns.map(([name]) => name)),
    row: (r) => line(columns.map(([, get]) => get(r))),
  };
}
