// An in-memory chain for pipeline tests that are about scheduling and crash recovery rather
// than about the chain: epochs advance on a timer, randomness is a hash of (tag, epoch),
// messages land one epoch later, and ProveCommitSector is checked with the real verify_seal
// (so a wrong proof is still rejected). The devnet (src/devnet) is the real chain for
// integration tests; this double keeps sealing tests independent of it.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import * as proofs from '../../src/proofs/index.js';
import type { SealChain } from '../../src/sealing/pipeline.js';

interface Msg {
  kind: 'pre' | 'prove';
  number: number;
  commR?: string;
  commD?: string;
  ticketEpoch?: number;
  proof?: string;
  sentAt: number;
  receipt?: { exitCode: number; error?: string; epoch: number };
}

interface State {
  epoch: number;
  allocated: number[];
  precommits: Record<number, { commR: string; commD: string; epoch: number; ticketEpoch: number }>;
  proven: number[];
  msgs: Record<string, Msg>;
  seq: number;
}

/** State lives in a JSON file so that several processes (miner restarts) see one chain. */
export class MemChain {
  private timer: NodeJS.Timeout | undefined;
  constructor(
    private readonly file: string,
    readonly minerId: number,
    private readonly epochMs = 100,
  ) {
    if (!existsSync(file)) {
      mkdirSync(dirname(file), { recursive: true });
      this.write({ epoch: 10, allocated: [], precommits: {}, proven: [], msgs: {}, seq: 0 });
    }
  }

  private read(): State {
    return JSON.parse(readFileSync(this.file, 'utf8')) as State;
  }

  /** Read-modify-write under a lock directory: miners in other processes write too. */
  private update<T>(f: (s: State) => T): T {
    const lock = this.file + '.lock';
    for (let i = 0; ; i++) {
      try {
        mkdirSync(lock);
        break;
      } catch {
        if (i > 2000) rmSync(lock, { recursive: true, force: true }); // holder died
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1);
      }
    }
    try {
      const s = this.read();
      const r = f(s);
      this.write(s);
      return r;
    } finally {
      rmSync(lock, { recursive: true, force: true });
    }
  }

  private write(s: State): void {
    writeFileSync(this.file + '.tmp', JSON.stringify(s));
    renameSync(this.file + '.tmp', this.file);
  }

  /** Advances epochs and applies messages sent in earlier epochs (only one process ticks). */
  startTicking(): void {
    this.timer = setInterval(() => void this.tick(), this.epochMs);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /** Marks a number as allocated on chain (to test chain rejections). */
  allocate(n: number): void {
    this.update((s) => s.allocated.push(n));
  }

  state(): State {
    return this.read();
  }

  private ticking = false;

  private async tick(): Promise<void> {
    if (this.ticking) return;
    this.ticking = true;
    try {
      // Verify pending prove-commits outside the lock (verification is async), then apply.
      const s0 = this.read();
      const verdicts = new Map<string, { valid: boolean; reason: string }>();
      for (const [cid, m] of Object.entries(s0.msgs)) {
        if (m.receipt || m.kind !== 'prove' || m.sentAt >= s0.epoch + 1) continue;
        const pc = s0.precommits[m.number];
        if (!pc) continue;
        verdicts.set(
          cid,
          await proofs.verifySeal({
            proof: proofs.RegisteredSealProof.StackedDrg2KiBV1_1,
            commR: Buffer.from(pc.commR, 'hex'),
            commD: Buffer.from(pc.commD, 'hex'),
            proverId: proofs.proverIdFromMinerId(this.minerId),
            ticket: this.rand('ticket', pc.ticketEpoch),
            seed: this.rand('seed', pc.epoch + PRECOMMIT_DELAY),
            sectorNumber: m.number,
            proofBytes: Buffer.from(m.proof!, 'hex'),
          }),
        );
      }
      this.update((s) => {
        s.epoch++;
        for (const [cid, m] of Object.entries(s.msgs)) {
          if (m.receipt || m.sentAt >= s.epoch) continue;
          if (m.kind === 'pre') {
            if (s.allocated.includes(m.number)) m.receipt = { exitCode: 16, error: `sector number ${m.number} already allocated`, epoch: s.epoch };
            else {
              s.allocated.push(m.number);
              s.precommits[m.number] = { commR: m.commR!, commD: m.commD!, epoch: s.epoch, ticketEpoch: m.ticketEpoch! };
              m.receipt = { exitCode: 0, epoch: s.epoch };
            }
          } else if (!s.precommits[m.number]) {
            m.receipt = { exitCode: 16, error: 'no pre-commit', epoch: s.epoch };
          } else {
            const v = verdicts.get(cid);
            if (!v) continue; // sent after the verification pass: next epoch
            if (v.valid) {
              s.proven.push(m.number);
              m.receipt = { exitCode: 0, epoch: s.epoch };
            } else m.receipt = { exitCode: 16, error: `invalid seal proof: ${v.reason}`, epoch: s.epoch };
          }
        }
      });
    } finally {
      this.ticking = false;
    }
  }

  rand(tag: string, epoch: number): Buffer {
    const h = createHash('sha256').update(`${tag}/${epoch}/${this.minerId}`).digest();
    h[31] &= 0x3f;
    return h;
  }

  sealChain(): SealChain {
    return {
      head: async () => this.read().epoch,
      ticket: async (e) => this.rand('ticket', e),
      seed: async (e) => this.rand('seed', e),
      preCommitChallengeDelay: async () => PRECOMMIT_DELAY,
      ticketLookback: () => 2,
      expiration: (h) => h + 100_000,
      sendPreCommit: async (p) => ({ cid: await this.send({ kind: 'pre', number: p.number, commR: p.commR.toString('hex'), commD: p.commD.toString('hex'), ticketEpoch: p.ticketEpoch }), value: '0' }),
      sendProveCommit: async (p) => ({ cid: await this.send({ kind: 'prove', number: p.number, proof: p.proof.toString('hex') }), value: '0' }),
      waitMessage: async (cid) => {
        for (;;) {
          const m = this.read().msgs[cid];
          if (!m) throw new Error(`unknown message ${cid}`);
          if (m.receipt) return m.receipt;
          await new Promise((r) => setTimeout(r, this.epochMs / 2));
        }
      },
      preCommitOnChain: async (n) => {
        const pc = this.read().precommits[n];
        return pc ? { preCommitEpoch: pc.epoch, commR: Buffer.from(pc.commR, 'hex') } : null;
      },
      sectorOnChain: async (n) => this.read().proven.includes(n),
      sectorAllocated: async (n) => this.read().allocated.includes(n),
    };
  }

  private async send(m: Omit<Msg, 'sentAt'>): Promise<string> {
    return this.update((s) => {
      const cid = `msg-${++s.seq}`;
      s.msgs[cid] = { ...m, sentAt: s.epoch };
      return cid;
    });
  }
}

export const PRECOMMIT_DELAY = 5;
