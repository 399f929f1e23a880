// Exactly one deal miner per miner id: retrieval routing (and the single deal-state store)
// breaks with two. A deal server claims the miner id from an arbiter before it opens anything
// and refuses to start when another live holder has it.
//
// FileLeaseArbiter: a lease file `deal-miner-<minerId>.lease` in a directory every host of the
// miner sees (the shared storage path). The claim is created atomically (write a temp file,
// then link(2) it into place: fails if one exists) and renewed every leaseMs/3 by an atomic
// rename. A claim is stale, and is taken over, when its lease expired (its holder stopped
// renewing: a dead or hung host) or, on the same host, when its process is gone (so a restart
// after kill -9 does not wait for the lease). Lease renewal needs the hosts' clocks roughly in
// step (well under leaseMs apart).
//
// Other arbiters can implement the same interface later: the sector-number server (it is
// already the one coordination point of the miner's hosts) or the chain (a deal miner's
// multiaddr in the miner actor's info); see src/deals/README.md.
import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, linkSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';

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

function writeSynced(path: string, data: string): void {
  writeFileSync(path, data);
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
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

  async claim(minerId: string, holder: string): Promise<void> {
    if (this.lease) throw new Error('this arbiter already holds a claim');
    mkdirSync(this.dir, { recursive: true });
    this.path = join(this.dir, `deal-miner-${minerId}.lease`);
    for (let attempt = 0; attempt < 5; attempt++) {
      const now = Date.now();
      const mine: Lease = { minerId, holder, host: this.host, pid: process.pid, nonce: randomBytes(8).toString('hex'), claimedAt: now, renewedAt: now, expiresAt: now + this.leaseMs };
      const tmp = `${this.path}.${mine.nonce}.tmp`;
      writeSynced(tmp, JSON.stringify(mine));
      try {
        linkSync(tmp, this.path); // atomic: fails when a claim exists
        rmSync(tmp, { force: true });
        this.lease = mine;
        this.timer = setInterval(() => this.renew(), Math.max(50, Math.floor(this.leaseMs / 3)));
        this.timer.unref();
        return;
      } catch (e) {
        rmSync(tmp, { force: true });
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      }
      const cur = this.read();
      if (!cur) continue; // released meanwhile
      if (!this.stale(cur, Date.now())) {
        const where = cur.host === this.host ? `process ${cur.pid} on this host` : `host ${cur.host} (process ${cur.pid})`;
        throw new DealMinerConflict(
          `another deal miner for ${minerId} is running: "${cur.holder}" on ${where}, lease renewed ${new Date(cur.renewedAt).toISOString()}. ` +
            `Exactly one deal miner per miner id is allowed (retrieval routing breaks with two): stop that one first` +
            ` (if it died, its claim in ${this.path} expires at ${new Date(cur.expiresAt).toISOString()}).`,
        );
      }
      // Stale: move it aside, then check we moved the claim we judged and not a successor's.
      const aside = `${this.path}.stale-${randomBytes(4).toString('hex')}`;
      try {
        renameSync(this.path, aside);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue;
        throw e;
      }
      let moved: Lease | undefined;
      try {
        moved = JSON.parse(readFileSync(aside, 'utf8')) as Lease;
      } catch {
        moved = undefined;
      }
      if (moved && moved.nonce !== cur.nonce) {
        try {
          linkSync(aside, this.path); // put the successor's claim back
        } catch {
          // a third claimant got in: it stays, we retry and see it
        }
      }
      rmSync(aside, { force: true });
    }
    throw new DealMinerConflict(`could not claim the deal role of ${minerId}: the lease ${this.path} keeps changing hands`);
  }

  private renew(): void {
    if (!this.lease) return;
    const cur = this.read();
    if (!cur || cur.nonce !== this.lease.nonce) {
      const by = cur ? `${cur.holder} on ${cur.host}` : 'nobody (the lease file was removed)';
      this.stop();
      this.opts.onLost?.(by);
      return;
    }
    const now = Date.now();
    const next: Lease = { ...this.lease, renewedAt: now, expiresAt: now + this.leaseMs };
    const tmp = `${this.path}.${next.nonce}.tmp`;
    try {
      writeSynced(tmp, JSON.stringify(next));
      renameSync(tmp, this.path);
      this.lease = next;
    } catch {
      rmSync(tmp, { force: true }); // try again next tick; the lease is still ours until it expires
    }
  }

  private stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.lease = undefined;
  }

  async release(): Promise<void> {
    if (!this.lease) return;
    const cur = this.read();
    const mine = cur?.nonce === this.lease.nonce;
    this.stop();
    if (mine) rmSync(this.path, { force: true });
  }
}
