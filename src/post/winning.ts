// The Winning PoSt miner: at each new head, for the next round, asks MinerGetBaseInfo, makes
// the election proof with the worker key and, on a win, proves the challenged sector(s) and
// builds and submits the block. It keeps no sector metadata: the challenged sectors come in
// the base info (from the chain), their files from the storage paths.
//
// Never two blocks for one epoch: the last mined epoch is persisted crash-safely (temp file,
// fsync, rename, fsync dir) before the block is submitted, and checked before mining, like
// Lotus's slash filter. One log line per epoch gives the time budget used.
import { EventEmitter } from 'node:events';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import * as proofs from '../proofs/index.js';
import { type ChainClient, type HeadSubscription, RpcError } from '../chain/client.js';
import { blockCid, computeWinCount } from '../chain/crypto.js';
import { electionVrfInput, randomnessBeacon, ticketVrfInput, winningPoStRandomness } from '../chain/mining.js';
import { type HeadChange, type SignedMessage, type TipSet, actorId, b64, fromB64 } from '../chain/types.js';
import { writeFileAtomic } from '../util/durable.js';
import { type Logger, logger } from '../log.js';
import { type ProofRunner, DirectRunner } from './runner.js';
import { locateSector } from './storage.js';

export interface WinningPoStOptions {
  client: ChainClient;
  /** The miner actor, e.g. "f01000". */
  miner: string;
  storage: string[];
  /** The slash-filter file: the last epoch this miner produced a block for. */
  stateFile: string;
  runner?: ProofRunner;
  /** Expected leaders per epoch (Filecoin: 5; the devnet's `expectedLeaders`). */
  expectedLeaders?: number;
  /** Include the mpool's messages (MpoolSelect) when the chain node offers it. Default true. */
  includeMessages?: boolean;
  log?: Logger;
}

/** What happened in one round. */
export interface RoundResult {
  round: number;
  outcome: 'not-eligible' | 'lost' | 'mined' | 'slash-filter' | 'late' | 'failed';
  wins?: number;
  /** Timings in ms from the head's arrival: base info received, proof done, block sent. */
  baseMs?: number;
  proofMs?: number;
  sentMs?: number;
  /** Native proof time alone. */
  proveMs?: number;
  /** ms left before the round's block was due (negative: late). */
  slackMs?: number;
  block?: string;
  error?: string;
}

interface SlashState {
  miner: string;
  lastMinedEpoch: number;
}

/** Reads the slash-filter file; a file that cannot be read is an error (never silently reset). */
export function readLastMined(path: string, miner: string): number {
  if (!existsSync(path)) return -1;
  let j: SlashState;
  try {
    j = JSON.parse(readFileSync(path, 'utf8')) as SlashState;
  } catch (e) {
    throw new Error(`${path}: cannot read the last mined epoch (${(e as Error).message}); fix or remove it only if you are sure no block was mined after the epoch it held`);
  }
  if (!Number.isSafeInteger(j.lastMinedEpoch)) throw new Error(`${path}: lastMinedEpoch is missing or not an integer`);
  if (j.miner && actorId(j.miner) !== actorId(miner)) throw new Error(`${path} belongs to miner ${j.miner}, not ${miner}`);
  return j.lastMinedEpoch;
}

export function writeLastMined(path: string, miner: string, epoch: number): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileAtomic(path, JSON.stringify({ miner, lastMinedEpoch: epoch } satisfies SlashState) + '\n');
}

/** Events: 'round' (RoundResult, one per round), 'block' (RoundResult of a mined block), 'error'. */
export class WinningPoStMiner extends EventEmitter {
  readonly miner: string;
  readonly minerId: number;
  private readonly c: ChainClient;
  private readonly runner: ProofRunner;
  private readonly log: Logger;
  private readonly stateFile: string;
  private readonly expectedLeaders: number;
  private includeMessages: boolean;
  readonly storage: string[];
  private lastMined: number;
  private lastRound = -1;
  private sub: HeadSubscription | undefined;
  private blockDelayS = 30;
  private head: TipSet | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private stopped = false;
  readonly results: RoundResult[] = [];

  constructor(opts: WinningPoStOptions) {
    super();
    this.c = opts.client;
    this.miner = opts.miner;
    this.minerId = actorId(opts.miner);
    this.storage = [...opts.storage];
    this.runner = opts.runner ?? new DirectRunner();
    this.stateFile = opts.stateFile;
    this.expectedLeaders = opts.expectedLeaders ?? 5;
    this.includeMessages = opts.includeMessages ?? true;
    this.log = opts.log ?? logger('winning-post', { miner: opts.miner });
    this.lastMined = readLastMined(this.stateFile, this.miner); // checked on start
    this.on('error', () => undefined);
  }

  get lastMinedEpoch(): number {
    return this.lastMined;
  }

  async start(): Promise<void> {
    await this.init();
    this.sub = this.c.chainNotify((changes: HeadChange[]) => {
      for (const ch of changes) if (ch.Type !== 'revert') this.onHead(ch.Val);
    });
    this.sub.on('error', (e) => this.emit('error', e));
    this.log.info({ storage: this.storage, lastMinedEpoch: this.lastMined }, 'winning PoSt miner started');
  }

  async init(): Promise<void> {
    this.blockDelayS = (await this.c.version()).BlockDelay || this.blockDelayS;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.sub?.close();
    await this.queue.catch(() => undefined);
  }

  /** Resolves when the round `round` has been decided (result), or after `timeoutMs`. */
  async settled(round: number, timeoutMs = 60_000): Promise<RoundResult | undefined> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const r = this.results.find((x) => x.round === round);
      if (r) return r;
      if (Date.now() > until) return undefined;
      await new Promise((res) => setTimeout(res, 20));
    }
  }

  onHead(ts: TipSet): void {
    if (this.stopped) return;
    const arrived = Date.now();
    if (this.head && ts.Height <= this.head.Height) return;
    this.head = ts;
    // Rounds are mined one after the other: a slow round must not start the next one late,
    // but two proofs at once would both be slow; the next head waits for this round.
    this.queue = this.queue.then(() => this.mineOn(ts, arrived)).catch((e) => this.emit('error', e));
  }

  /** Mines round ts.Height+1 on top of `ts` (public for tests and tools). */
  async mineOn(ts: TipSet, arrived = Date.now()): Promise<RoundResult> {
    const round = ts.Height + 1;
    const res: RoundResult = { round, outcome: 'failed' };
    const since = () => Date.now() - arrived;
    // The round's block is due when the devnet/chain moves on: the next epoch's time.
    const dueMs = (ts.Blocks[0].Timestamp + this.blockDelayS) * 1000;
    try {
      if (this.head && this.head.Height > ts.Height) {
        res.outcome = 'late';
        res.error = `head already at ${this.head.Height}`;
        return res;
      }
      if (round <= this.lastMined || round <= this.lastRound) {
        res.outcome = 'slash-filter';
        res.error = `round ${round} is not after the last mined epoch ${this.lastMined}`;
        return res;
      }
      this.lastRound = round;
      const base = await this.c.minerGetBaseInfo(this.miner, round, ts.Cids);
      res.baseMs = since();
      if (!base || !base.EligibleForMining) {
        res.outcome = 'not-eligible';
        return res;
      }
      const rbase = randomnessBeacon(base.PrevBeaconEntry, base.BeaconEntries);
      const vrf = fromB64((await this.c.walletSign(base.WorkerKey, electionVrfInput(rbase, round, this.miner))).Data);
      const wins = computeWinCount(vrf, BigInt(base.MinerPower), BigInt(base.NetworkPower), this.expectedLeaders);
      res.wins = wins;
      if (wins < 1) {
        res.outcome = 'lost';
        return res;
      }
      const ticketP = this.c.walletSign(base.WorkerKey, ticketVrfInput(rbase, round, this.miner, ts));
      const msgsP = this.selectMessages(ts);
      const rand = winningPoStRandomness(rbase, round, this.miner);
      const proverId = proofs.proverIdFromMinerId(this.minerId);
      const replicas: proofs.PrivateReplicaInfo[] = await Promise.all(
        base.Sectors.map(async (s) => {
          const f = await locateSector(this.storage, this.minerId, s.SectorNumber);
          if (!f) throw new Error(`challenged sector ${s.SectorNumber} has no sealed file in ${this.storage.join(', ')}`);
          return { sectorNumber: s.SectorNumber, commR: proofs.cidToCommR(s.SealedCID['/']), cacheDir: f.cacheDir, sealedPath: f.sealedPath, postProof: proofs.winningPoStProofFor(s.SealProof as proofs.RegisteredSealProof) };
        }),
      );
      const t0 = Date.now();
      const proof = await this.runner.run({ kind: 'winning-post', deadlineMs: dueMs, args: [rand, replicas, proverId] }, () => proofs.generateWinningPoSt(rand, replicas, proverId));
      res.proveMs = Date.now() - t0;
      res.proofMs = since();
      if (this.stopped) throw new Error('stopped');
      // Record the epoch before the block leaves this process (slash filter), then send it.
      if (round <= readLastMined(this.stateFile, this.miner)) {
        res.outcome = 'slash-filter';
        res.error = `round ${round} was mined meanwhile (${this.stateFile})`;
        return res;
      }
      writeLastMined(this.stateFile, this.miner, round);
      this.lastMined = round;
      const [ticket, messages] = await Promise.all([ticketP, msgsP]);
      const blk = await this.c.minerCreateBlock({
        Miner: this.miner,
        Parents: ts.Cids,
        Ticket: { VRFProof: ticket.Data },
        Eproof: { WinCount: wins, VRFProof: b64(vrf) },
        BeaconValues: base.BeaconEntries,
        Messages: messages,
        Epoch: round,
        Timestamp: ts.Blocks[0].Timestamp + this.blockDelayS * (round - ts.Height),
        WinningPoStProof: proof.map((p) => ({ PoStProof: p.postProof, ProofBytes: b64(p.proofBytes) })),
      });
      await this.c.syncSubmitBlock(blk);
      res.sentMs = since();
      res.slackMs = dueMs - Date.now();
      res.block = blockCid(blk.Header)['/'];
      res.outcome = 'mined';
      return res;
    } catch (e) {
      res.outcome = 'failed';
      res.error = (e as Error).message;
      return res;
    } finally {
      this.results.push(res);
      if (this.results.length > 10_000) this.results.splice(0, 5_000);
      const line = { round, outcome: res.outcome, wins: res.wins, baseMs: res.baseMs, proofMs: res.proofMs, sentMs: res.sentMs, proveMs: res.proveMs, slackMs: res.slackMs, block: res.block, err: res.error };
      if ((res.outcome === 'failed' && !this.stopped) || res.outcome === 'late') this.log.error(line, 'winning PoSt round');
      else this.log.info(line, 'winning PoSt round');
      this.emit('round', res);
      if (res.outcome === 'mined') this.emit('block', res);
    }
  }

  private async selectMessages(ts: TipSet): Promise<SignedMessage[]> {
    if (!this.includeMessages) return [];
    try {
      return (await this.c.call<SignedMessage[] | null>('MpoolSelect', [ts.Cids, 1])) ?? [];
    } catch (e) {
      // A chain node without MpoolSelect (the devnet packs its pool itself): mine without.
      if (e instanceof RpcError) this.includeMessages = false;
      return [];
    }
  }
}
