// Exactly one deal miner per miner id: retrieval routing (and the single deal-state store)
// breaks with two. A deal server claims the miner id from an arbiter before it opens anything
// and refuses to start when another live holder has it.
//
// FileLeaseArbiter: a lease file `deal-miner-<minerId>.lease` in a directory every host of the
// miner sees (the shared storage path), renewed every leaseMs/3. Every read-judge-write of the
// lease (claim, renewal, release) happens under an flock of `deal-miner-<minerId>.lease.lock`
// beside it — the kernel (or, on NFSv4, the server's lock manager) lets one claimant at a time
// judge and replace a claim, so two starters can never both take over a stale lease — and the
// lease itself is replaced atomically (write, fsync, rename, fsync the directory). A claim is
// stale, and is taken over, when its lease expired (its holder stopped renewing: a dead or hung
// host) or, on the same host, when its process is gone (so a restart after kill -9 does not
// wait for the lease). Lease renewal needs the hosts' clocks roughly in step (well under
// leaseMs apart).
//
// Other arbiters can implement the same interface later: the sector-number server (it is
// already the one coordination point of the miner's hosts) or the chain (a deal miner's
// multiaddr in the miner actor's info); see src/deals/README.md.
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { tryLockFile, writeFileAtomic } from '../util/durable.js';

export interface DealMinerArbiter {
  /** Takes the deal role of `minerId` for `holder`, or throws DealMinerConflict. */
  claim(minerId: string, holder: string): Promise<void>;
  /** Gives the role up (a clean stop). */
  release(): Promise<void>;
}

export class DealMinerConflict extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DealMinerConflict';
  }
}

interface Lease {
  minerId: string;
  holder: string;
  host: string;
  pid: number;
  /** random per claim: tells our lease from a successor's */
  nonce: string;
  claimedAt: number;
  renewedAt: number;
  expiresAt: number;
}

export interface FileLeaseOptions {
  /** A claim not renewed for this long is stale (default 30 s). */
  leaseMs?: number;
  /** Called if a renewal finds the lease taken by another holder (this one must stop). */
  onLost?: (by: string) => void;
  /** Host name written into the lease (default os.hostname()). */
  host?: string;
}

function pidAlive(pid: number): boolean {
  if (!(pid > 0)) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export class FileLeaseArbiter implements DealMinerArbiter {
  private readonly leaseMs: number;
  private readonly host: string;
  private lease: Lease | undefined;
  private path = '';
  private timer: NodeJS.Timeout | undefined;

  constructor(
    readonly dir: string,
    private readonly opts: FileLeaseOptions = {},
  ) {
    this.leaseMs = opts.leaseMs ?? 30_000;
    this.host = opts.host ?? hostname();
  }

  private read(): Lease | undefined {
    try {
      return JSON.parse(readFileSync(this.path, 'utf8')) as Lease;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      return { minerId: '?', holder: '(unreadable lease file)', host: '?', pid: 0, nonce: '', claimedAt: 0, renewedAt: 0, expiresAt: 0 };
    }
  }

  private stale(l: Lease, now: number): boolean {
    if (l.expiresAt < now) return true;
    return l.host === this.host && l.pid !== process.pid && !pidAlive(l.pid);
  }

  /** Runs `f` holding the lease's lock; waits at most `waitMs` for another claimant's short hold. */
  private async locked<T>(f: () => T, waitMs = 5_000): Promise<T> {
    const until = Date.now() + waitMs;
    for (;;) {
      const r = tryLockFile(`${this.path}.lock`, 'deal-miner lease');
      if ('lock' in r) {
        try {
          return f();
        } finally {
          r.lock.release();
        }
      }
      if (Date.now() > until) throw new DealMinerConflict(`could not take ${this.path}.lock within ${waitMs} ms: ${r.held.message}`);
      await new Promise((res) => setTimeout(res, 20));
    }
  }

  private write(l: Lease): void {
    writeFileAtomic(this.path, JSON.stringify(l));
  }

  async claim(minerId: string, holder: string): Promise<void> {
    if (this.lease) throw new Error('this arbiter already holds a claim');
    mkdirSync(this.dir, { recursive: true });
    this.path = join(this.dir, `deal-miner-${minerId}.lease`);
    const mine = await this.locked(() => {
      const now = Date.now();
      const cur = this.read();
      if (cur && !this.stale(cur, now)) {
        const where = cur.host === this.host ? `process ${cur.pid} on this host` : `host ${cur.host} (process ${cur.pid})`;
        throw new DealMinerConflict(
          `another deal miner for ${minerId} is running: "${cur.holder}" on ${where}, lease renewed ${new Date(cur.renewedAt).toISOString()}. ` +
            `Exactly one deal miner per miner id is allowed (retrieval routing breaks with two): stop that one first` +
            ` (if it died, its claim in ${this.path} expires at ${new Date(cur.expiresAt).toISOString()}).`,
        );
      }
      const l: Lease = { minerId, holder, host: this.host, pid: process.pid, nonce: randomBytes(8).toString('hex'), claimedAt: now, renewedAt: now, expiresAt: now + this.leaseMs };
      this.write(l);
      return l;
    });
    this.lease = mine;
    this.timer = setInterval(() => void this.renew(), Math.max(50, Math.floor(this.leaseMs / 3)));
    this.timer.unref();
  }

  private async renew(): Promise<void> {
    const held = this.lease;
    if (!held) return;
    let lostTo: string | undefined;
    try {
      await this.locked(
        () => {
          if (this.lease !== held) return; // released meanwhile
          const cur = this.read();
          if (!cur || cur.nonce !== held.nonce) {
            lostTo = cur ? `${cur.holder} on ${cur.host}` : 'nobody (the lease file was removed)';
            return;
          }
          const now = Date.now();
          const next: Lease = { ...held, renewedAt: now, expiresAt: now + this.leaseMs };
          this.write(next);
          this.lease = next;
        },
        Math.floor(this.leaseMs / 6),
      );
    } catch {
      return; // the lock or the disk was busy: try again next tick; the lease is ours until it expires
    }
    if (lostTo !== undefined && this.lease === held) {
      this.stop();
      this.opts.onLost?.(lostTo);
    }
  }

  private stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.lease = undefined;
  }

  async release(): Promise<void> {
    const held = this.lease;
    if (!held) return;
    this.stop();
    await this.locked(() => {
      if (this.read()?.nonce === held.nonce) rmSync(this.path, { force: true });
    });
  }
}
