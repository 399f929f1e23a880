// Status lines: how many items are in each state.

/** "State n, State m" counts of `items` by `key`, in first-seen order; `empty` when there are none. */
export function countsBy<T>(items: Iterable<T>, key: (x: T) => string, empty = 'none'): string {
  const counts = new Map<string, number>();
  for (const x of items) {
    const k = key(x);
    counts.set(k, (counts.get(k) ?? 0) + 1);
  }
  return [...counts].map(([k, v]) => `${k} ${v}`).join(', ') || empty;
}
