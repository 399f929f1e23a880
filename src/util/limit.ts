// At most `max` calls at once; the rest wait their turn, first come first served. The chain
// client and the seal-service client both keep their requests to one peer below its
// per-peer connection limits this way (a call that throws frees its slot too). A finished
// call hands its slot straight to the first waiter, so a caller arriving in between cannot
// take it too.

export type Limiter = <T>(f: () => Promise<T>) => Promise<T>;

export function limiter(max: number): Limiter {
  let running = 0;
  const waiting: (() => void)[] = [];
  return async <T>(f: () => Promise<T>): Promise<T> => {
    if (running >= max)
      await new Promise<void>((r) => waiting.push(r)); // the slot is handed over
    else running++;
    try {
      return await f();
    } finally {
      const next = waiting.shift();
      if (next) next();
      else running--;
    }
  };
}
