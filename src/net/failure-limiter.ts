// Limits failed attempts per client address (the web page's login): a token bucket of `burst`
// failures, refilled at one per `refillMs`. An address whose bucket is empty is refused every
// attempt, good ones included, until a failure's worth has refilled: guessing stays at one
// try per `refillMs` however fast the client sends. Successes cost nothing. Memory is bounded:
// at most `maxAddresses` addresses are remembered (the oldest forgotten first), and a full
// bucket is not remembered at all.
export interface FailureLimiterOptions {
  /** Failures allowed at once (default 10). */
  burst?: number;
  /** One more failure allowed per this long (default 6 s: 10 a minute). */
  refillMs?: number;
  /** Addresses remembered at most (default 10,000). */
  maxAddresses?: number;
  now?: () => number;
}

export class FailureLimiter {
  private readonly burst: number;
  private readonly refillMs: number;
  private readonly max: number;
  private readonly now: () => number;
  /** address → failures still allowed (fractional) at time `at`. */
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(o: FailureLimiterOptions = {}) {
    this.burst = o.burst ?? 10;
    this.refillMs = o.refillMs ?? 6000;
    this.max = o.maxAddresses ?? 10_000;
    this.now = o.now ?? Date.now;
  }

  private tokens(address: string, now: number): number {
    const b = this.buckets.get(address);
    if (!b) return this.burst;
    const t = Math.min(this.burst, b.tokens + (now - b.at) / this.refillMs);
    if (t >= this.burst) this.buckets.delete(address);
    return t;
  }

  /** Milliseconds until `address` may try again; 0 when it may now. */
  retryAfterMs(address: string): number {
    const t = this.tokens(address, this.now());
    return t >= 1 ? 0 : Math.ceil((1 - t) * this.refillMs);
  }

  /** Records a failed attempt of `address`. */
  fail(address: string): void {
    const now = this.now();
    const tokens = Math.max(0, this.tokens(address, now) - 1);
    this.buckets.delete(address); // re-inserted last: the map's order is the forgetting order
    this.buckets.set(address, { tokens, at: now });
    while (this.buckets.size > this.max) this.buckets.delete(this.buckets.keys().next().value as string);
  }

  /** Addresses currently remembered (for tests and metrics). */
  get size(): number {
    return this.buckets.size;
  }
}

/** The address part of a `host:port` peer string (IPv6 hosts keep their colons). */
export function peerAddress(peer: string): string {
  const i = peer.lastIndexOf(':');
  return i > 0 ? peer.slice(0, i) : peer;
}
