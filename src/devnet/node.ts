// The embedded devnet: one chain, its miner actors, a message pool, block validation with
// real proofs, and durable state in its directory. The JSON-RPC server (rpc.ts) serves the
// Lotus API on top of the methods here.
//
// This file holds the Devnet class: opening a directory, mining (MinerGetBaseInfo,
// MinerCreateBlock, SyncSubmitBlock's block checks) and the epoch clock that makes each
// tipset. The rest of its methods and fields are layers it extends, one file each:
// state.ts (fields, wallet and accounts, accessors, beacon and randomness), store.ts (the
// files in its directory: genesis, loading, snapshot), exec.ts (message execution: the
// account, power, market and miner actors' methods) and mpool.ts (the message pool).
import { closeSync, existsSync, ftruncateSync, mkdirSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { blake2b } from '@noble/hashes/blake2.js';
import { bls12_381 as bls } from '@noble/curves/bls12-381.js';
import * as proofs from '../proofs/index.js';
import { nextNotElapsed } from '../chain/deadlines.js';
import { blockCid, blockSigningBytes, blsSign, blsVerify, computeWinCount, messageCid } from '../chain/crypto.js';
import { WINNING_POST_LOOKBACK, electionVrfInput, randomnessBeacon, roundWithinLookback, ticketVrfInput, winningPoStRandomness } from '../chain/mining.js';
import { parseAddress } from '../chain/address.js';
import type { BeaconEntry, BlockHeader, BlockMsg, BlockTemplate, MiningBaseInfo, MsgLookup, TipSet } from '../chain/api-types.js';
import { cborEncode } from '../chain/cbor.js';
import { type Cid, cborCid, CborCid, tipsetKeyString } from '../chain/cid.js';
import { b64, fromB64 } from '../chain/encoding.js';
import { logger } from '../log.js';
import type { SectorRecord } from './miner.js';
import { ApiError, type DevnetOptions, type EpochRecord } from './state.js';
import { appendDurable } from './store.js';
import { DevnetMpool, signedMessageCid } from './mpool.js';

const log = logger('devnet');

export class Devnet extends DevnetMpool {
  private pending = new Map<number, { header: BlockHeader; cid: string }[]>();
  /** Blocks being verified (submitBlock), waited for by the next advance. */
  private readonly arriving = new Set<Promise<void>>();
  private chainFd = -1;
  private timer: NodeJS.Timeout | undefined;
  private immediate: NodeJS.Immediate | undefined;
  private clockRunning = false;
  /** Rounds are formed one at a time: the last formation queued (never rejects). */
  private forming: Promise<unknown> = Promise.resolve();

  /** Opens the devnet in `opts.dir`, creating genesis if the directory is new. */
  static async open(opts: DevnetOptions): Promise<Devnet> {
    const d = new Devnet(opts);
    mkdirSync(opts.dir, { recursive: true });
    if (existsSync(join(opts.dir, 'genesis.json'))) d.load();
    else d.createGenesis();
    d.mpoolFd = openSync(join(opts.dir, 'mpool.ndjson'), 'a');
    d.chainFd = openSync(join(opts.dir, 'chain.ndjson'), 'a');
    if (opts.autoAdvance ?? true) d.startClock();
    return d;
  }

  /**
   * Starts the epoch clock: each epoch is produced at its time (genesis + height × block
   * delay); a chain behind the clock catches up at once. Idempotent.
   */
  startClock(): void {
    if (this.clockRunning) return;
    this.clockRunning = true;
    this.schedule();
  }

  // ------------------------------------------------------------------ mining

  /** MinerGetBaseInfo: null when the miner has no provable sectors (as Lotus). */
  async baseInfo(maddr: string, round: number, tsk: Cid[] | null): Promise<MiningBaseInfo | null> {
    const base = this.resolveTsk(tsk);
    const m = this.miner(maddr);
    if (!Number.isInteger(round) || round <= base.Height) throw new ApiError(`round ${round} must be after the base tipset's height ${base.Height}`);
    // As Lotus (chain/stmgr GetLookbackTipSetForRound): the round's lookback must lie below its base.
    if (!roundWithinLookback(base.Height, round)) throw new ApiError(`getting lookback miner actor state: lookback height ${round - WINNING_POST_LOOKBACK} is at or after base height ${base.Height}`);
    const prev = this.chain[base.Height].beacon;
    // Rounds after the base were null (or are taken to be): one entry each, up to the round
    // whose time has come (beaconAt refuses later ones).
    const entries = this.beaconsAfter(base.Height, round);
    const active = m.activeSectors();
    if (active.length === 0) return null;
    const rand = winningPoStRandomness(randomnessBeacon(prev, entries), round, m.info.address);
    const idx = await proofs.generateWinningPoStSectorChallenge(m.info.winningPoStProof, rand, active.length, proofs.proverIdFromMinerId(m.info.id));
    const sectors = idx.map((i) => m.sectors.get(active[i])!);
    const power = m.power();
    return {
      MinerPower: power.toString(),
      NetworkPower: this.totalPower().toString(),
      Sectors: sectors.map((s) => ({ SealProof: s.sealProof, SectorNumber: s.number, SectorKey: null, SealedCID: s.sealedCid })),
      WorkerKey: m.info.worker,
      SectorSize: m.info.sectorSize,
      PrevBeaconEntry: prev,
      BeaconEntries: entries,
      EligibleForMining: power > 0n,
    };
  }

  /** MinerCreateBlock: the header from a template, signed with the miner's worker key. */
  createBlock(t: BlockTemplate): BlockMsg {
    const m = this.miner(t.Miner);
    const key = this.keyFor(m.info.worker);
    if (!key) throw new ApiError(`key not found: worker ${m.info.worker}`);
    const parent = this.resolveTsk(t.Parents);
    const msgs = t.Messages ?? [];
    // BLS messages by their own CIDs, their signatures aggregated; secp256k1 ones by their signed CIDs.
    const secp = msgs.filter((x) => x.Signature?.Type === 1);
    const blsCids = msgs.filter((x) => x.Signature?.Type !== 1).map((x) => x.CID ?? messageCid(x.Message));
    const secpCids = secp.map((x) => x.CID ?? signedMessageCid(x.Message, x.Signature));
    const sigs = msgs.filter((x) => x.Signature?.Type === 2).map((x) => fromB64(x.Signature.Data));
    const agg = sigs.length > 0 ? Buffer.from(bls.longSignatures.aggregateSignatures(sigs).toBytes()) : Buffer.alloc(0);
    const header: BlockHeader = {
      Miner: m.info.address,
      Ticket: t.Ticket,
      ElectionProof: t.Eproof,
      BeaconEntries: t.BeaconValues ?? [],
      WinPoStProof: t.WinningPoStProof ?? [],
      Parents: parent.Cids,
      ParentWeight: this.weight.toString(),
      Height: t.Epoch,
      ParentStateRoot: this.stateRoot(parent.Height),
      ParentMessageReceipts: this.receiptsRoot(parent.Height),
      Messages: cborCid(cborEncode([blsCids.map((c) => new CborCid(c)), secpCids.map((c) => new CborCid(c))])),
      BLSAggregate: { Type: 2, Data: b64(agg) },
      Timestamp: t.Timestamp,
      BlockSig: null,
      ForkSignaling: 0,
      ParentBaseFee: '100',
    };
    header.BlockSig = { Type: 2, Data: b64(blsSign(key, blockSigningBytes(header))) };
    return { Header: header, BlsMessages: blsCids, SecpkMessages: secpCids };
  }

  /**
   * SyncSubmitBlock: accepted only on the current head, for the next epoch, with a correct
   * beacon, ticket, election proof (VRF + win count) and a Winning PoSt that verifies.
   */
  async submitBlock(bm: BlockMsg): Promise<void> {
    // A block for a later round than the one being mined, once that round's time has come:
    // the rounds before it passed without a tipset its miner saw, so they are formed first
    // (as the clock would form them; null rounds when nobody made a block for them) and the
    // block is judged on that chain — as Lotus takes a block after null rounds.
    const h = bm?.Header;
    if (this.onHead(h?.Parents) && Number.isSafeInteger(h.Height) && h.Height > this.nextRound() && this.timestampOf(h.Height) * 1000 <= Date.now()) await this.formThrough(h.Height - 1);
    // The next tipset waits for blocks that arrived before it was due and are still being
    // verified (a Lotus node adds a block to its tipset once it has validated it).
    const p = this.acceptBlock(bm);
    this.arriving.add(p);
    try {
      await p;
    } finally {
      this.arriving.delete(p);
    }
  }

  /** Whether a block's parents (as sent: anything) are the current head tipset. */
  private onHead(parents: unknown): boolean {
    return Array.isArray(parents) && tipsetKeyString(parents as Cid[]) === tipsetKeyString(this.head().Cids);
  }

  private async acceptBlock(bm: BlockMsg): Promise<void> {
    const h = bm?.Header;
    if (!h || typeof h !== 'object') throw new ApiError('invalid block: missing Header');
    const bad = (why: string) => new ApiError(`block rejected: ${why}`);
    const head = this.head();
    const round = this.nextRound();
    if (h.Height !== round) throw bad(`height ${h.Height} is not the round being mined ${round}`);
    if (!this.onHead(h.Parents)) throw bad('parents are not the current head');
    const m = this.miner(h.Miner);
    if ((this.pending.get(h.Height) ?? []).some((b) => b.header.Miner === m.info.address)) throw bad(`miner ${h.Miner} already has a block at height ${h.Height}`);
    if (h.Timestamp !== this.timestampOf(h.Height)) throw bad(`timestamp ${h.Timestamp}, expected ${this.timestampOf(h.Height)}`);
    const prev = this.chain[head.Height].beacon;
    // One entry per round since the parent (its null rounds and this one), as Lotus checks them.
    const expected = this.beaconsAfter(head.Height, h.Height);
    if (!Array.isArray(h.BeaconEntries) || h.BeaconEntries.length !== expected.length || expected.some((e, i) => h.BeaconEntries[i]?.Round !== e.Round || h.BeaconEntries[i]?.Data !== e.Data))
      throw bad(`wrong beacon entries (expected rounds ${expected[0].Round}..${h.Height})`);
    const worker = parseAddress(m.info.worker).payload;
    const rbase = randomnessBeacon(prev, h.BeaconEntries);
    if (!h.Ticket || !blsVerify(worker, ticketVrfInput(rbase, h.Height, m.info.address, head), fromB64(h.Ticket.VRFProof))) throw bad('invalid ticket VRF');
    if (!h.ElectionProof || !blsVerify(worker, electionVrfInput(rbase, h.Height, m.info.address), fromB64(h.ElectionProof.VRFProof))) throw bad('invalid election proof VRF');
    const power = m.power();
    if (power <= 0n) throw bad(`miner ${h.Miner} has no power`);
    const wins = computeWinCount(fromB64(h.ElectionProof.VRFProof), power, this.totalPower(), this.genesis.expectedLeaders);
    if (wins < 1) throw bad('miner did not win the election');
    if (h.ElectionProof.WinCount !== wins) throw bad(`win count ${h.ElectionProof.WinCount}, computed ${wins}`);
    if (!h.BlockSig || h.BlockSig.Type !== 2 || !blsVerify(worker, blockSigningBytes(h), fromB64(h.BlockSig.Data))) throw bad('invalid block signature');
    // Winning PoSt over the challenged sector(s).
    const active = m.activeSectors();
    const rand = winningPoStRandomness(rbase, h.Height, m.info.address);
    const proverId = proofs.proverIdFromMinerId(m.info.id);
    const idx = await proofs.generateWinningPoStSectorChallenge(m.info.winningPoStProof, rand, active.length, proverId);
    const replicas = idx.map((i) => {
      const s = m.sectors.get(active[i]) as SectorRecord;
      return { sectorNumber: s.number, commR: proofs.cidToCommR(s.sealedCid['/']), postProof: m.info.winningPoStProof };
    });
    if (!Array.isArray(h.WinPoStProof) || h.WinPoStProof.length === 0) throw bad('no Winning PoSt proof');
    this.stats.proofVerifications++;
    let v: proofs.Verdict;
    try {
      v = await proofs.verifyWinningPoSt(
        rand,
        replicas,
        h.WinPoStProof.map((p) => ({ postProof: p.PoStProof, proofBytes: fromB64(p.ProofBytes) })),
        proverId,
      );
    } catch (e) {
      v = { valid: false, reason: (e as Error).message };
    }
    if (!v.valid) throw bad(`invalid Winning PoSt: ${v.reason}`);
    // The round may have been formed while verifying.
    if (this.nextRound() !== h.Height) throw bad('arrived after its epoch closed');
    const list = this.pending.get(h.Height) ?? [];
    if (list.some((b) => b.header.Miner === m.info.address)) throw bad(`miner ${h.Miner} already has a block at height ${h.Height}`);
    list.push({ header: h, cid: blockCid(h)['/'] });
    this.pending.set(h.Height, list);
    log.info({ miner: h.Miner, height: h.Height, wins }, 'block accepted');
  }

  // ------------------------------------------------------------------ epochs

  /**
   * Tests: the null-round chance from now on, in this process only (genesis.json keeps the one
   * the directory was made with). Setup runs on system blocks, then the miner's rounds alone.
   */
  setNullRoundChance(chance: number): void {
    if (!(chance >= 0 && chance <= 1)) throw new Error(`the null-round chance must be 0..1, got ${chance}`);
    this.genesis.nullRoundChance = chance;
  }

  /** Stops the epoch clock (tests: later epochs only by advance()). */
  stopClock(): void {
    this.clockRunning = false;
    if (this.timer) clearTimeout(this.timer);
    if (this.immediate) clearImmediate(this.immediate);
    this.timer = undefined;
    this.immediate = undefined;
  }

  private schedule(): void {
    if (this.closed || !this.clockRunning) return;
    const next = this.nextRound();
    // A tipset is formed shortly after its time: miners broadcast a block at its timestamp,
    // never before (as lotus-miner does; nodes refuse blocks from the future), so a tipset made
    // at the very time would race the blocks meant for it. The grace stays well inside the
    // miners' propagation delay (1 s on short epochs), after which a miner that has not seen
    // the tipset mines the next round on the old base as a null round. Half of it: a block
    // sent at its time by a miner on a loaded host (its own proof just done, another miner's
    // still running) reached the devnet 250 ms late in the power test and was refused.
    const delay = this.genesis.blockDelayMs;
    const due = this.genesis.genesisTimeMs + next * delay + Math.min(500, delay / 8);
    const wait = Math.max(0, due - Date.now());
    // Formed after one turn of I/O (setImmediate runs after the poll phase): when this process
    // was busy past the due time, its timers run before the sockets are read, and a block that
    // reached the node before the tipset was due would be refused as late. Read first, then
    // form (a block taken in is waited for: `arriving`).
    this.timer = setTimeout(() => {
      this.immediate = setImmediate(() => {
        this.immediate = undefined;
        this.formThrough(next).then(
          () => this.schedule(),
          (e) => {
            log.error({ err: e }, 'epoch failed');
            this.schedule();
          },
        );
      });
    }, wait);
  }

  /**
   * Forms the next round: a tipset of the blocks submitted for it, else a system block or, by
   * the genesis's null-round chance, a null round. Resolves to the head after it.
   */
  advance(): Promise<TipSet> {
    return this.serially(() => this.doAdvance());
  }

  /** Advances until the head reaches `height` (or passes it, when that round was null). */
  async advanceTo(height: number): Promise<TipSet> {
    while (this.head().Height < height) await this.advance();
    return this.head();
  }

  /** Forms every round up to `round` not formed yet (none when it is; checked in turn, so callers never form one too many). */
  private formThrough(round: number): Promise<TipSet> {
    return this.serially(async () => {
      while (this.nextRound() <= round) await this.doAdvance();
      return this.head();
    });
  }

  private serially<T>(f: () => Promise<T>): Promise<T> {
    const p = this.forming.then(f);
    this.forming = p.catch(() => undefined);
    return p;
  }

  private async doAdvance(): Promise<TipSet> {
    if (this.closed) throw new ApiError('devnet is closed');
    const t0 = Date.now();
    if (this.arriving.size > 0) await Promise.allSettled([...this.arriving]);
    const t1 = Date.now();
    const parent = this.head();
    const h = this.nextRound();
    const beacon = this.beaconAt(h);
    const blocks = this.pending.get(h) ?? [];
    this.pending.delete(h);
    if (blocks.length === 0 && this.isNullRound(beacon)) return this.nullRound(h, beacon, t0);
    const headers = blocks.length > 0 ? blocks.map((b) => b.header) : [this.systemBlock(h, parent, this.beaconsAfter(parent.Height, h), this.weight.toString())];
    // Order blocks by ticket like Lotus orders a tipset.
    headers.sort((a, b) => Buffer.compare(Buffer.from(blake2b(fromB64(a.Ticket?.VRFProof ?? ''), { dkLen: 32 })), Buffer.from(blake2b(fromB64(b.Ticket?.VRFProof ?? ''), { dkLen: 32 }))));
    const tipset: TipSet = { Cids: headers.map((x) => blockCid(x)), Blocks: headers, Height: h };
    const msgs = this.mpool;
    this.mpool = [];
    const receipts: MsgLookup[] = [];
    for (const sm of msgs) {
      const r = await this.execute(sm, h);
      this.stats.messagesApplied++;
      if (r.error) log.info({ cid: sm.CID?.['/'], method: sm.Message.Method, exitCode: r.exitCode, error: r.error }, 'message failed');
      receipts.push({
        Message: sm.CID!,
        Receipt: { ExitCode: r.exitCode, Return: r.ret ? b64(r.ret) : null, GasUsed: r.exitCode === 0 ? 1_000_000 : 100_000, EventsRoot: null },
        ReturnDec: r.error ? { Error: r.error } : (r.retDec ?? null),
        TipSet: tipset.Cids,
        Height: h,
      });
    }
    const t2 = Date.now();
    this.cron(h);
    this.weight += BigInt(headers.reduce((a, b) => a + (b.ElectionProof?.WinCount ?? 0), 0)) + 1n;
    const rec: EpochRecord = { tipset, beacon, receipts, messages: msgs.map((sm) => sm.Message) };
    appendDurable(this.chainFd, JSON.stringify(rec));
    this.chain.push(rec);
    for (const l of receipts) this.lookups.set(l.Message['/'], l);
    const t3 = Date.now();
    this.snapshot();
    ftruncateSync(this.mpoolFd, 0);
    this.stats.epochs++;
    this.emit('head', tipset);
    // A tipset formed well after its time shortens the next round for every miner (one formed
    // after a miner's propagation delay, 1 s on short epochs, makes it try the next round as a
    // null round first): say where the time went (a busy or starved process, blocks still
    // verifying, messages, the disk). Half a second past its due time counts.
    const done = Date.now();
    const due = this.genesis.genesisTimeMs + h * this.genesis.blockDelayMs + Math.min(500, this.genesis.blockDelayMs / 8);
    // (Catching up after a stop starts every epoch late by design: not reported.)
    if (this.clockRunning && done - due > 500 && t0 - due < 2 * this.genesis.blockDelayMs)
      log.warn({ epoch: h, lateMs: done - due, startedLateMs: t0 - due, blocksMs: t1 - t0, messagesMs: t2 - t1, cronMs: t3 - t2, writeMs: done - t3, messages: msgs.length }, 'tipset formed late');
    return tipset;
  }

  /** Whether a round no miner made a block for is null: drawn from its beacon entry (reproducible). */
  private isNullRound(beacon: BeaconEntry): boolean {
    const chance = this.genesis.nullRoundChance ?? 0;
    return chance > 0 && fromB64(beacon.Data).readUInt32BE(0) / 2 ** 32 < chance;
  }

  /**
   * A null round: no tipset, so no message runs (the pool waits for the next block) and the
   * weight and head stay; the actors' cron still runs, as Lotus runs it for each null round.
   * ChainNotify says nothing (there is no new head).
   */
  private nullRound(h: number, beacon: BeaconEntry, t0: number): TipSet {
    this.cron(h);
    const rec: EpochRecord = { tipset: null, beacon, receipts: [] };
    appendDurable(this.chainFd, JSON.stringify(rec));
    this.chain.push(rec);
    this.snapshot();
    this.stats.epochs++;
    this.stats.nullRounds++;
    log.debug({ epoch: h, ms: Date.now() - t0 }, 'null round');
    return this.head();
  }

  private cron(h: number): void {
    for (const m of this.miners.values()) {
      const faulted = m.cron(h);
      if (faulted.length > 0) log.warn({ miner: m.info.address, epoch: h, sectors: faulted.length }, 'deadline closed without proof: sectors faulted');
    }
  }

  /** Stops the epoch clock and closes files (state is already durable). */
  async close(): Promise<void> {
    if (this.closed) return;
    if (this.timer) clearTimeout(this.timer);
    if (this.immediate) clearImmediate(this.immediate);
    await this.forming;
    this.closed = true;
    this.emit('close');
    closeSync(this.mpoolFd);
    closeSync(this.chainFd);
  }

  /** Next deadline (as StateMinerProvingDeadline) for a miner at the head. */
  provingDeadline(maddr: string) {
    return nextNotElapsed(this.miner(maddr).deadlineInfo(this.head().Height));
  }
}
