/**
 * `f` shared by concurrent callers while it runs, and its result reused for `ttlMs` after: a
 * burst of callers (page polls, a CLI's per-sector calls) costs one run of `f`.
 */
export function sharedResult<T>(f: () => Promise<T>, ttlMs: number): () => Promise<T> {
  let cached: { at: number; value: T } | undefined;
  let inFlight: Promise<T> | undefined;
  return () => {
    if (cached && Date.now() - cached.at < ttlMs) return Promise.resolve(cached.value);
    inFlight ??= f()
      .then((value) => {
        cached = { at: Date.now(), value };
        return value;
      })
      .finally(() => {
        inFlight = undefined;
      });
    return inFlight;
  };
}
