// At most `max` calls at once; the rest wait their turn, first come first served. The chain
// client and the seal-service client both keep their requests to one peer below its
// per-peer connection limits this way (a call that throws frees its slot too).

export type Limiter = <T>(f: () => Promise<T>) => Promise<T>;

export function limiter(max: number): Limiter {
  let running = 0;
  const waiting: (() => void)[] = [];
  return async <T>(f: () => Promise<T>): Promise<T> => {
    if (running >= max) await new Promise<void>((r) => waiting.push(r));
    running++;
    try {
      return await f();
    } finally {
      running--;
      waiting.shift()?.();
    }
  };
}
