// The Winning PoSt miner: Expected Consensus like lotus-miner's mining loop (miner/miner.go).
// The base is the heaviest tipset (ChainHead); once the propagation delay after the base's
// time has passed (so the tipset can fill), round base+1 is tried: MinerGetBaseInfo, the
// election proof with the worker key, and on a win the Winning PoSt over the challenged
// sector(s), the block (MinerCreateBlock) and SyncSubmitBlock. What does not depend on which
// blocks the base tipset ends up holding — the base info, the election and the Winning PoSt —
// is started as soon as the base arrives, during the propagation delay, and used once (see
// RoundWork). No win and no new head by the
// next round's time: the round was null for us, and round base+2 is tried on the same base,
// and so on. A chain that runs behind the wall clock is mined at once (its rounds' times have
// passed); a proof is given up only when a tipset at or above its round has arrived. It keeps
// no sector metadata: the challenged sectors come in the base info (from the chain), their
// files from the storage paths.
//
// When to try which round on which base, which work begun ahead fits a round and when a
// tipset that arrived decides a round without us are pure decisions in winning-plan.ts; this
// file is the shell that reads the chain, runs the work and sends the block.
//
// Never two blocks for one epoch: the last mined epoch is persisted crash-safely (temp file,
// fsync, rename, fsync dir) before the block is submitted, and checked before mining, like
// Lotus's slash filter. One log line per epoch gives the time budget used.
import { EventEmitter } from 'node:events';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import * as proofs from '../proofs/index.js';
import { type ChainClient, type HeadSubscription, RpcError } from '../chain/client.js';
import { blockCid, computeWinCount } from '../chain/crypto.js';
import { WINNING_POST_LOOKBACK, electionVrfInput, randomnessBeacon, ticketVrfInput, winningPoStRandomness } from '../chain/mining.js';
import { actorId } from '../chain/address.js';
import type { BeaconEntry, HeadChange, MiningBaseInfo, SignedMessage, TipSet } from '../chain/api-types.js';
import { b64, fromB64 } from '../chain/encoding.js';
import { writeFileAtomic } from '../util/durable.js';
import { type Logger, logger } from '../log.js';
import { type ProofRunner, DirectRunner, ProofCancelledError } from './runner.js';
import type { ClaimRefused, SharedSlashFilter } from './slash-filter.js';
import { locateSector } from './storage.js';
import { type Base, type RoundOutcome, MiningLoopPlan, abandonOnHead, baseOf, blockTimestamp, overtaken, overtakenReason, roundOf, roundStartMs, sameBase, workFits } from './winning-plan.js';

export interface WinningPoStOptions {
  client: ChainClient;
  /** The miner actor, e.g. "f01000". */
  miner: string;
  storage: string[];
  /** The slash-filter file: the last epoch this miner produced a block for. */
  stateFile: string;
  /**
   * The slash filter shared with the miner id's other Winning PoSt hosts (src/post/slash-filter.ts),
   * claimed after the file's check and before a block leaves; opened by start().
   */
  sharedFilter?: SharedSlashFilter;
  runner?: ProofRunner;
  /** Expected leaders per epoch (Filecoin: 5; the devnet's `expectedLeaders`). */
  expectedLeaders?: number;
  /** Include the mpool's messages (MpoolSelect) when the chain node offers it. Default true. */
  includeMessages?: boolean;
  /**
   * Wait after a base tipset's time before mining on it, so blocks of the same height can
   * still join it (Lotus's PropagationDelaySecs: 10 s on mainnet and calibnet, 1 s in the 2k
   * devnet build). Default: 10 s with epochs of 30 s or more, else 1 s.
   */
  propagationDelayMs?: number;
  log?: Logger;
}

/** What happened in one round. */
export interface RoundResult {
  round: number;
  /** The base tipset's height and the null rounds counted on it (round = base + nullRounds + 1). */
  base: number;
  nullRounds: number;
  outcome: RoundOutcome;
  wins?: number;
  /**
   * Timings in ms from the round's start (its base chosen, the propagation delay over): base
   * info received, proof done, block sent. Work done ahead, during the delay, counts 0.
   */
  baseMs?: number;
  proofMs?: number;
  sentMs?: number;
  /** Native proof time alone. */
  proveMs?: number;
  /** How long before the round's start its work began (base info, election, proof; see RoundWork). */
  aheadMs?: number;
  /**
   * How long after its scheduled start (base time + null rounds × block delay + propagation
   * delay) the round started: a base seen late (a chain node behind the clock, a busy host).
   */
  lateMs?: number;
  /** From the election to the native proof's start (tickets, locating the sealed files, the queue). */
  readyMs?: number;
  /** ms the block was ready before its timestamp, when it may be sent (negative: ready late). */
  slackMs?: number;
  block?: string;
  error?: string;
}

/**
 * The part of a round that does not depend on which blocks its base tipset ends up holding:
 * the base info (eligibility, power, the challenged sectors), the election, and on a win the
 * Winning PoSt. Blocks that join a tipset share its parents, and the beacon, the lookback state
 * and the parent state that these come from are the parents' (Lotus's MinerGetBaseInfo), so
 * the work is keyed by round and parents (the lookback, 10 epochs, lies below the base; after
 * null rounds the base is old and no longer grows): started when the base arrives, while its tipset
 * fills during the propagation delay, and taken once by the round (never computed twice). Only
 * the ticket (the base's smallest ticket), the messages and the block wait for the delay.
 */
interface RoundWork {
  round: number;
  baseHeight: number;
  parents: string;
  startedAt: number;
  abort: AbortController;
  /** Taken by the round's mineOn: from then on only a tipset above the base aborts it. */
  taken: boolean;
  election: Promise<Election>;
  /** When the native proof began (undefined: not begun). */
  proofStartedAt?: number;
}

interface Election {
  info: MiningBaseInfo | null;
  /** When the base info came. */
  baseAt: number;
  wins?: number;
  rbase?: BeaconEntry;
  vrf?: Buffer;
  /** On a win: the Winning PoSt, and when it was done. */
  proof?: Promise<{ proof: Awaited<ReturnType<typeof proofs.generateWinningPoSt>>; doneAt: number }>;
}

interface SlashState {
  miner: string;
  lastMinedEpoch: number;
}

/** The slash-filter file of a miner repository (the winning-post role's; init --from-lotus-miner seeds it). */
export const lastMinedFile = (repo: string): string => join(repo, 'winning-post', 'last-mined.json');

/** Reads the slash-filter file; a file that cannot be read is an error (never silently reset). */
export function readLastMined(path: string, miner: string): number {
  if (!existsSync(path)) return -1;
  let j: SlashState;
  try {
    j = JSON.parse(readFileSync(path, 'utf8')) as SlashState;
  } catch (e) {
    throw new Error(`${path}: cannot read the last mined epoch (${(e as Error).message}); fix or remove it only if you are sure no block was mined after the epoch it held`, { cause: e });
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
  private readonly shared: SharedSlashFilter | undefined;
  private readonly expectedLeaders: number;
  private includeMessages: boolean;
  readonly storage: string[];
  private lastMined: number;
  private sub: HeadSubscription | undefined;
  private blockDelayS = 30;
  private propagationDelayMs: number | undefined;
  /** The last head ChainNotify gave. */
  private head: Base | undefined;
  /**
   * The next round's work (base info, election, proof), begun before the round starts; aborted
   * once a tipset above its base arrives (the round is decided without it), or, before the
   * round took it, once the head is no longer a tipset on its parents.
   */
  private work: RoundWork | undefined;
  private loop: Promise<void> | undefined;
  /** Wakes the loop's waits: a new head arrived, or stop(). */
  private wake: () => void = () => undefined;
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
    this.shared = opts.sharedFilter;
    this.expectedLeaders = opts.expectedLeaders ?? 5;
    this.includeMessages = opts.includeMessages ?? true;
    this.propagationDelayMs = opts.propagationDelayMs;
    this.log = opts.log ?? logger('winning-post', { miner: opts.miner });
    this.lastMined = readLastMined(this.stateFile, this.miner); // checked on start
    this.on('error', () => undefined);
  }

  /** Why the chain looks gone (no head for three epochs), or null; see HeadSubscription.trouble. */
  chainTrouble(): string | null {
    return this.sub?.trouble(this.blockDelayS * 1000) ?? null;
  }

  get lastMinedEpoch(): number {
    return this.lastMined;
  }

  async start(): Promise<void> {
    await this.shared?.open();
    await this.init();
    this.sub = this.c.chainNotify((changes: HeadChange[]) => {
      for (const ch of changes) if (ch.Type !== 'revert') this.onHead(ch.Val);
    });
    this.sub.on('error', (e) => this.emit('error', e));
    this.log.info({ storage: this.storage, lastMinedEpoch: this.lastMined, propagationDelayMs: this.propagationDelayMs, sharedSlashFilter: this.shared?.description }, 'winning PoSt miner started');
    this.loop = this.mine();
  }

  async init(): Promise<void> {
    this.blockDelayS = (await this.c.version()).BlockDelay || this.blockDelayS;
    this.propagationDelayMs ??= this.blockDelayS >= 30 ? 10_000 : 1000;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.work && !this.work.taken) this.work.abort.abort(new Error('stopped'));
    this.sub?.close();
    this.wake();
    await this.loop?.catch(() => undefined);
    await this.shared?.close();
  }

  /** Resolves when round `round` has been decided (on base `round - 1` unless `base` says), or after `timeoutMs`. */
  async settled(round: number, timeoutMs = 60_000, base = round - 1): Promise<RoundResult | undefined> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const r = this.results.find((x) => x.round === round && x.base === base);
      if (r) return r;
      if (Date.now() > until) return undefined;
      await new Promise((res) => setTimeout(res, 20));
    }
  }

  /** A new head from ChainNotify: wakes the mining loop (which reads the heaviest head itself). */
  onHead(ts: TipSet): void {
    if (this.stopped) return;
    const b = baseOf(ts);
    if (this.head && sameBase(b, this.head)) return;
    this.head = b;
    const w = this.work;
    const why = w && !w.abort.signal.aborted ? abandonOnHead(w, b) : undefined;
    if (why) w!.abort.abort(new Error(why));
    this.wake();
  }

  /** Sleeps until `atMs` (wall clock), a new head when `onHead` is set, or stop(). */
  private async sleepUntil(atMs: number, onHead: boolean): Promise<void> {
    const ms = atMs - Date.now();
    if (ms <= 0 || this.stopped) return;
    await new Promise<void>((res) => {
      const prev = this.wake;
      const done = () => {
        clearTimeout(t);
        this.wake = prev;
        res();
      };
      const t = setTimeout(done, ms);
      this.wake = () => {
        if (onHead || this.stopped) done();
        prev();
      };
    });
  }

  /** The mining loop (lotus-miner's, decided by MiningLoopPlan): base = heaviest tipset, null rounds counted, propagation delay waited. */
  private async mine(): Promise<void> {
    const plan = new MiningLoopPlan(this.timing());
    let beyondLookback = '';
    while (!this.stopped) {
      let head: TipSet;
      try {
        head = await this.c.chainHead();
      } catch (e) {
        this.log.error({ err: e }, 'winning PoSt: cannot read the chain head');
        await this.sleepUntil(Date.now() + 5000, true);
        continue;
      }
      if (this.stopped) break;
      // Every step the plan gives is about the head it was given (a base it keeps is the same tipset).
      const step = plan.next(baseOf(head), Date.now());
      if (step.kind === 'wait') {
        if (step.beyondLookback && beyondLookback !== head.Cids[0]['/']) {
          beyondLookback = head.Cids[0]['/'];
          this.log.warn({ base: head.Height, lookback: WINNING_POST_LOOKBACK }, 'winning PoSt: null rounds on this base reached the lookback; waiting for a new head');
        }
        if (step.prepare) this.prepare(head, step.prepare.nullRounds);
        await this.sleepUntil(step.untilMs, step.wakeOnHead);
        continue;
      }
      const res = await this.mineOn(head, step.nullRounds);
      if (this.stopped) break;
      plan.roundDone(res.outcome, Date.now());
    }
  }

  private timing() {
    return { blockDelayMs: this.blockDelayS * 1000, propagationDelayMs: this.propagationDelayMs ?? 0 };
  }

  /**
   * Mines round ts.Height + nullRounds + 1 on top of `ts` (the mining loop's step; public for
   * tests and tools).
   */
  async mineOn(ts: TipSet, nullRounds = 0): Promise<RoundResult> {
    const arrived = Date.now();
    const base = baseOf(ts);
    const round = roundOf(base, nullRounds);
    const res: RoundResult = { round, base: ts.Height, nullRounds, outcome: 'failed' };
    const since = () => Date.now() - arrived;
    const after = (at: number) => Math.max(0, at - arrived);
    try {
      if (round <= this.lastMined) {
        res.outcome = 'slash-filter';
        res.error = `round ${round} is not after the last mined epoch ${this.lastMined}`;
        return res;
      }
      const w = this.take(ts, nullRounds);
      if (w.startedAt < arrived) res.aheadMs = arrived - w.startedAt;
      const scheduled = roundStartMs(base, nullRounds, this.timing());
      if (arrived > scheduled) res.lateMs = arrived - scheduled;
      // No deadline on the proof: on a chain behind the wall clock the round's time has passed
      // long ago, yet the block is still wanted until a tipset at or above its round arrives.
      // Given up (and its process stopped) as soon as a tipset above the base arrives: the
      // round is decided without this block, and the next round must not wait for its proof.
      if (overtaken(this.head, base)) w.abort.abort(new Error(`a tipset at height ${this.head!.height} arrived`));
      const el = await w.election;
      res.baseMs = after(el.baseAt);
      if (!el.info || !el.info.EligibleForMining) {
        res.outcome = 'not-eligible';
        return res;
      }
      res.wins = el.wins;
      if (!el.proof) {
        res.outcome = 'lost';
        return res;
      }
      const info = el.info;
      const ticketP = this.c.walletSign(info.WorkerKey, ticketVrfInput(el.rbase!, round, this.miner, ts));
      const msgsP = this.selectMessages(ts);
      // Neither is left unhandled when the proof fails first.
      ticketP.catch(() => undefined);
      msgsP.catch(() => undefined);
      let proved: Awaited<NonNullable<Election['proof']>>;
      try {
        proved = await el.proof;
      } catch (e) {
        if (w.proofStartedAt !== undefined) res.readyMs = Math.max(0, w.proofStartedAt - el.baseAt);
        if (!(e instanceof ProofCancelledError) && !w.abort.signal.aborted) throw e;
        res.proveMs = w.proofStartedAt === undefined ? 0 : Date.now() - w.proofStartedAt;
        res.outcome = 'late';
        res.error = `${overtakenReason(this.head!.height, round, base, `while proving round ${round}`)}: proof abandoned after ${res.proveMs} ms`;
        return res;
      }
      const proof = proved.proof;
      const wins = el.wins!;
      const vrf = el.vrf!;
      res.proveMs = proved.doneAt - w.proofStartedAt!;
      res.readyMs = Math.max(0, w.proofStartedAt! - el.baseAt);
      res.proofMs = after(proved.doneAt);
      if (this.stopped) throw new Error('stopped');
      const [ticket, messages] = await Promise.all([ticketP, msgsP]);
      const blk = await this.c.minerCreateBlock({
        Miner: this.miner,
        Parents: ts.Cids,
        Ticket: { VRFProof: ticket.Data },
        Eproof: { WinCount: wins, VRFProof: b64(vrf) },
        BeaconValues: info.BeaconEntries,
        Messages: messages,
        Epoch: round,
        Timestamp: blockTimestamp(base, round, this.timing()),
        WinningPoStProof: proof.map((p) => ({ PoStProof: p.postProof, ProofBytes: b64(p.proofBytes) })),
      });
      // Like lotus-miner: a block is not broadcast before its time (nodes refuse blocks from the
      // future). A chain behind the wall clock is past it already.
      res.slackMs = blk.Header.Timestamp * 1000 - Date.now();
      // A tipset above the base arriving meanwhile: at or above the round, the round is decided
      // without us; inside the null rounds this block assumed, it would extend a lighter chain.
      // Either way the block is dropped before the slash filter records its epoch, which stays
      // free for the round on the new head.
      const above = () => overtaken(this.head, base);
      while (Date.now() < blk.Header.Timestamp * 1000 && !this.stopped && !above()) await this.sleepUntil(blk.Header.Timestamp * 1000, true);
      if (this.stopped) throw new Error('stopped');
      if (above()) {
        res.outcome = 'late';
        res.error = overtakenReason(this.head!.height, round, base, `while proving round ${round}`);
        return res;
      }
      // Record the epoch before the block leaves this process (slash filter), then send it.
      if (round <= readLastMined(this.stateFile, this.miner)) {
        res.outcome = 'slash-filter';
        res.error = `round ${round} was mined meanwhile (${this.stateFile})`;
        return res;
      }
      const refused = await this.claimShared(round, base, blk.Header.Timestamp * 1000, above);
      if (refused !== undefined) {
        // Another host of this miner id sent this round's block: nothing was lost.
        res.outcome = refused.otherHost !== undefined ? 'other-host' : 'slash-filter';
        res.error = refused.reason;
        return res;
      }
      // The claim took time: a tipset above the base may have come meanwhile. The block has not
      // left, so the epoch is given back for the round on the new head (ours or another host's).
      if (above() || this.stopped) {
        await this.shared?.release(round);
        if (this.stopped) throw new Error('stopped');
        res.outcome = 'late';
        res.error = overtakenReason(this.head!.height, round, base, `while the shared slash filter was claiming round ${round}`);
        return res;
      }
      writeLastMined(this.stateFile, this.miner, round);
      this.lastMined = round;
      await this.c.syncSubmitBlock(blk);
      await this.shared?.sent(round);
      res.sentMs = since();
      res.block = blockCid(blk.Header)['/'];
      res.outcome = 'mined';
      return res;
    } catch (e) {
      res.outcome = 'failed';
      res.error = (e as Error).message;
      return res;
    } finally {
      if (this.work?.round === round && this.work.taken) this.work = undefined; // used once
      this.results.push(res);
      if (this.results.length > 10_000) this.results.splice(0, 5_000);
      const line = {
        round,
        base: ts.Height,
        nullRounds,
        outcome: res.outcome,
        wins: res.wins,
        baseMs: res.baseMs,
        proofMs: res.proofMs,
        sentMs: res.sentMs,
        proveMs: res.proveMs,
        aheadMs: res.aheadMs,
        lateMs: res.lateMs,
        readyMs: res.readyMs,
        slackMs: res.slackMs,
        block: res.block,
        err: res.error,
      };
      if ((res.outcome === 'failed' && !this.stopped) || res.outcome === 'late') this.log.error(line, 'winning PoSt round');
      else this.log.info(line, 'winning PoSt round');
      this.emit('round', res);
      if (res.outcome === 'mined') this.emit('block', res);
    }
  }

  /**
   * Begins round ts.Height + nullRounds + 1's work (RoundWork) before the round starts, unless
   * it is under way already; work for another round or base that no round took is given up.
   */
  private prepare(ts: TipSet, nullRounds: number): void {
    const base = baseOf(ts);
    if (this.stopped || roundOf(base, nullRounds) <= this.lastMined) return;
    if (this.work && !this.work.abort.signal.aborted && workFits(this.work, base, nullRounds)) return;
    this.begin(ts, roundOf(base, nullRounds));
  }

  /** The round's work: begun ahead by prepare() when it is still good, else begun now. */
  private take(ts: TipSet, nullRounds: number): RoundWork {
    const base = baseOf(ts);
    const w = this.work;
    const good = w && !w.taken && !w.abort.signal.aborted && workFits(w, base, nullRounds);
    const taken = good ? w : this.begin(ts, roundOf(base, nullRounds));
    taken.taken = true;
    return taken;
  }

  private begin(ts: TipSet, round: number): RoundWork {
    if (this.work && !this.work.taken && !this.work.abort.signal.aborted) this.work.abort.abort(new Error(`superseded by round ${round} on height ${ts.Height}`));
    const w: RoundWork = {
      round,
      baseHeight: ts.Height,
      parents: baseOf(ts).parents,
      startedAt: Date.now(),
      abort: new AbortController(),
      taken: false,
      election: Promise.resolve(undefined as never),
    };
    w.election = this.elect(ts, round, w);
    w.election.catch(() => undefined); // read by the round that takes it; work nobody takes fails quietly
    this.work = w;
    return w;
  }

  /** Base info, election and, on a win, the Winning PoSt (begun, not awaited) for `round` on `ts`. */
  private async elect(ts: TipSet, round: number, w: RoundWork): Promise<Election> {
    const info = await this.c.minerGetBaseInfo(this.miner, round, ts.Cids);
    const baseAt = Date.now();
    if (!info || !info.EligibleForMining) return { info, baseAt };
    const rbase = randomnessBeacon(info.PrevBeaconEntry, info.BeaconEntries);
    const vrf = fromB64((await this.c.walletSign(info.WorkerKey, electionVrfInput(rbase, round, this.miner))).Data);
    const wins = computeWinCount(vrf, BigInt(info.MinerPower), BigInt(info.NetworkPower), this.expectedLeaders);
    if (wins < 1) return { info, baseAt, wins, rbase, vrf };
    const proof = this.prove(info, rbase, round, w);
    proof.catch(() => undefined);
    return { info, baseAt, wins, rbase, vrf, proof };
  }

  private async prove(info: MiningBaseInfo, rbase: BeaconEntry, round: number, w: RoundWork): Promise<NonNullable<Awaited<Election['proof']>>> {
    const rand = winningPoStRandomness(rbase, round, this.miner);
    const proverId = proofs.proverIdFromMinerId(this.minerId);
    const replicas: proofs.PrivateReplicaInfo[] = await Promise.all(
      info.Sectors.map(async (s) => {
        const f = await locateSector(this.storage, this.minerId, s.SectorNumber);
        if (!f) throw new Error(`challenged sector ${s.SectorNumber} has no sealed file in ${this.storage.join(', ')}`);
        return {
          sectorNumber: s.SectorNumber,
          commR: proofs.cidToCommR(s.SealedCID['/']),
          cacheDir: f.cacheDir,
          sealedPath: f.sealedPath,
          postProof: proofs.winningPoStProofFor(s.SealProof as proofs.RegisteredSealProof),
        };
      }),
    );
    // Given up before it began (the head moved on while the base info came): no proof at all.
    if (w.abort.signal.aborted) throw new ProofCancelledError(String((w.abort.signal.reason as Error)?.message ?? 'cancelled'));
    w.proofStartedAt = Date.now();
    const proof = await this.runner.run({ kind: 'winning-post', args: [rand, replicas, proverId], signal: w.abort.signal }, () => proofs.generateWinningPoSt(rand, replicas, proverId));
    return { proof, doneAt: Date.now() };
  }

  /**
   * Claims `round` in the shared slash filter (when there is one), again while the filter does
   * not answer and the round still has time: until its block's epoch is over (a block later
   * than that misses the next round's tipset), a tipset above the base arrives, or stop().
   */
  private async claimShared(round: number, base: Base, blockTimeMs: number, above: () => boolean): Promise<ClaimRefused | undefined> {
    if (!this.shared) return undefined;
    const until = Math.max(blockTimeMs, Date.now()) + this.blockDelayS * 1000;
    let tries = 0;
    for (;;) {
      const refused = await this.shared.claim(round, base.key);
      tries++;
      if (!refused?.transient || this.stopped || above() || Date.now() + 250 >= until) {
        if (refused && tries > 1) refused.reason += ` (${tries} tries)`;
        return refused;
      }
      await this.sleepUntil(Date.now() + 250, true);
    }
  }

  /** Why this role cannot do its job now (the chain looks gone, the shared filter does not answer), or null. */
  trouble(): string | null {
    return this.chainTrouble() ?? this.shared?.trouble() ?? null;
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
