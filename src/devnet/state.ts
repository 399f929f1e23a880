// The devnet's shared state and the reads every part of it makes: the options and genesis
// record, the fields (chain, keys, accounts, miners, market, mpool, nonces), the wallet and
// account lookups, chain accessors, the beacon and randomness, and the system block with the
// state and receipt roots. It is the base of the devnet's layers, each a class extending the
// one before in its own file: state.ts → store.ts (genesis, loading, snapshot) → exec.ts
// (message execution) → mpool.ts (message pool) → node.ts (Devnet: mining and epochs). Kept
// apart so that every layer shares one set of fields without passing them around.
import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../util/durable.js';
import { RpcError } from '../net/json-rpc.js';
import { blake2b } from '@noble/hashes/blake2.js';
import * as proofs from '../proofs/index.js';
import type { ProvingPolicy } from '../chain/deadlines.js';
import { type BlsKey, blsKeyAddress, blsKeyInfo, drawRandomness, newBlsKey } from '../chain/crypto.js';
import { MARKET_ACTOR_ID } from '../chain/market.js';
import { minTicketBlock } from '../chain/mining.js';
import { type Network, idAddress, parseAddress } from '../chain/address.js';
import type { BeaconEntry, BlockHeader, Message, MsgLookup, SignedMessage, TipSet } from '../chain/api-types.js';
import { DomainSeparationTag } from '../chain/builtin-actors.js';
import { cborEncode } from '../chain/cbor.js';
import { type Cid, cborCid, tipsetKeyString } from '../chain/cid.js';
import { b64, fromB64 } from '../chain/encoding.js';
import { MarketActor } from './market.js';
import type { ActorLimits, MinerActor, ProofVerifier } from './miner.js';

export interface PinnedSealRandomness {
  /** Miner id (1000) or address. */
  miner: number | string;
  sector: number;
  /** 32 bytes, hex. */
  ticket: string;
  seed: string;
}

export interface DevnetOptions {
  dir: string;
  /** Genesis miners (ids from firstMinerId). Only used when the directory is new. */
  miners?: number;
  firstMinerId?: number;
  /** Epoch length in ms (timestamps and, when autoAdvance, the epoch clock). Default 4000. */
  blockDelayMs?: number;
  /** Advance epochs on a timer (default) or only via advance() (tests; startClock() later). */
  autoAdvance?: boolean;
  /**
   * Devnet-only, for tests: the genesis time (default now). A time in the past lets a test run
   * its setup by hand and then hand a chain that is not ahead of the wall clock to startClock().
   */
  genesisTimeMs?: number;
  network?: Network;
  policy?: Partial<ProvingPolicy>;
  limits?: Partial<ActorLimits>;
  /** Expected leaders per epoch in the election (Filecoin: 5). */
  expectedLeaders?: number;
  /**
   * The chance (0..1) that a round no miner submitted a block for is a null round rather than a
   * block of "the rest of the network" (the system block that keeps the chain moving without
   * power). Default 0; 1 makes a chain like a Lotus devnet whose only miners are the clients'.
   * Drawn from the round's beacon entry, so a chain's null rounds are reproducible.
   */
  nullRoundChance?: number;
  sealProof?: proofs.RegisteredSealProof;
  /**
   * Devnet-only: ticket/seed the prove-commit check uses for given sectors instead of the
   * chain's randomness, so sectors sealed ahead of time (test fixtures) can be committed.
   */
  pinnedSealRandomness?: PinnedSealRandomness[];
  /** Replaces the real proof verifier (unit tests of state logic only). */
  verifier?: ProofVerifier;
}

export interface Genesis {
  version: 1;
  network: Network;
  blockDelayMs: number;
  genesisTimeMs: number;
  policy: ProvingPolicy;
  limits: ActorLimits;
  expectedLeaders: number;
  sealProof: number;
  seed: string;
  /** ownerId/workerId: the account actors (ID addresses) of the keys, as StateMinerInfo shows them. */
  miners: { id: number; owner: string; worker: string; ownerId: number; workerId: number }[];
  pinnedSealRandomness: PinnedSealRandomness[];
  /** The chance that a round nobody submitted a block for is a null round (absent: 0). */
  nullRoundChance?: number;
}

/** One round of the chain: its tipset, or null for a null round (no block: no messages run, cron does). */
export interface EpochRecord {
  tipset: TipSet | null;
  /** The round's beacon entry (its Round is the record's height, null rounds included). */
  beacon: BeaconEntry;
  receipts: MsgLookup[];
  /** The messages executed in this tipset, in order (absent in records from older devnets). */
  messages?: Message[];
}

/** A JSON-RPC-visible error of the chain (code 1 like go-jsonrpc handler errors). */
export class ApiError extends RpcError {
  constructor(message: string, code = 1) {
    super(code, message);
    this.name = 'ApiError';
  }
}

/** The real verifier: proofs from src/proofs (the native addon). */
export const realVerifier: ProofVerifier = {
  async verifySeal(m, pc, proof, ticket, seed) {
    const commR = proofs.cidToCommR(pc.info.sealedCid['/']);
    const commD = pc.info.unsealedCid ? proofs.cidToCommD(pc.info.unsealedCid['/']) : await proofs.generateDataCommitment(m.info.sealProof, []);
    return proofs.verifySeal({ proof: m.info.sealProof, commR, commD, proverId: proofs.proverIdFromMinerId(m.info.id), ticket, seed, sectorNumber: pc.info.sectorNumber, proofBytes: proof });
  },
  async verifyWindowPoSt(m, randomness, sectors, ps) {
    const replicas = sectors.map((s) => ({ sectorNumber: s.number, commR: proofs.cidToCommR(s.sealedCid['/']), postProof: m.info.windowPoStProof }));
    return proofs.verifyWindowPoSt(
      randomness,
      replicas,
      ps.map((p) => ({ postProof: p.postProof, proofBytes: p.proofBytes })),
      proofs.proverIdFromMinerId(m.info.id),
    );
  },
};

/**
 * The devnet's money. Amounts are its own, flat per sector (the network derives them from
 * reward and power estimates); what is the network's is where they are asked for and checked:
 * CreateMiner needs the creation deposit as value (FIP-0077), PreCommitSectorBatch2 locks the
 * deposit, ProveCommitSectors3 the pledge less the released deposit, out of the miner's
 * available balance plus the message value, else exit code 19 (ErrInsufficientFunds).
 */
export const FIL = 10n ** 18n;
export const devnetFunds = {
  preCommitDeposit: (sectorSize: number) => BigInt(sectorSize) * 10n ** 12n,
  initialPledge: (sectorSize: number) => BigInt(sectorSize) * 3n * 10n ** 12n,
  creationDeposit: () => FIL / 10n,
  /** Each genesis key's account, and each genesis miner's own balance (pre-funded, like a miner whose owner sent it funds). */
  genesisAccount: 100_000n * FIL,
  genesisMiner: 100n * FIL,
};

/** An account actor: a key address with an ID and a balance. */
export interface Account {
  id: number;
  /** The key address (network prefix as created). */
  key: string;
  balance: bigint;
}

/** The fields and reads of the devnet (see the header); Devnet (node.ts) is the class to use. */
export abstract class DevnetState extends EventEmitter {
  readonly dir: string;
  protected genesis!: Genesis;
  private keys = new Map<string, BlsKey>();
  protected secret!: Buffer;
  readonly miners = new Map<string, MinerActor>();
  market = new MarketActor();
  protected accounts = new Map<string, Account>();
  protected nextActorId = 0;
  protected chain: EpochRecord[] = [];
  protected lookups = new Map<string, MsgLookup>();
  /** Every message pushed, executed or pending, by CID (ChainGetMessage). */
  protected messages = new Map<string, Message>();
  protected mpool: SignedMessage[] = [];
  protected nonces: Record<string, number> = {};
  /** MpoolPushMessage's MsgUuid → the message signed for it (Lotus's MessageSigner keeps these for good). */
  protected msgUuids = new Map<string, SignedMessage>();
  protected weight = 0n;
  protected mpoolFd = -1;
  protected closed = false;
  protected verifier: ProofVerifier;
  protected readonly opts: DevnetOptions;
  /** Window PoSt / seal / winning verifications done (for the benchmark). */
  readonly stats = { proofVerifications: 0, messagesApplied: 0, epochs: 0, nullRounds: 0 };

  protected constructor(opts: DevnetOptions) {
    super();
    this.setMaxListeners(0);
    this.opts = opts;
    this.dir = opts.dir;
    this.verifier = opts.verifier ?? realVerifier;
  }

  // ------------------------------------------------------------------ keys

  protected addKey(k: BlsKey): void {
    this.keys.set(blsKeyAddress(k, 'testnet').slice(1), k);
  }

  /** The key for an address (key or account ID address, either network prefix). */
  keyFor(addr: string): BlsKey | undefined {
    return this.keys.get(this.resolveKeyAddress(addr).slice(1));
  }

  /** StateAccountKey: an account's key address for its ID address (others unchanged). */
  resolveKeyAddress(addr: string): string {
    if (addr[1] !== '0') return addr;
    const a = addr.slice(2);
    for (const acct of this.accounts.values()) if (String(acct.id) === a) return addr[0] + acct.key.slice(1);
    return addr;
  }

  /** The account ID address of a key address (as actor state records it). */
  accountIdAddress(keyAddr: string): string {
    const acct = this.accounts.get(keyAddr.slice(1));
    return acct ? idAddress(acct.id, this.network) : keyAddr;
  }

  protected account(addr: string): Account | undefined {
    return this.accounts.get(this.resolveKeyAddress(addr).slice(1));
  }

  // ------------------------------------------------------------------ wallet and accounts

  /** WalletNew: a new BLS key in the devnet's wallet (kept in wallet.json). */
  walletNew(type: string): string {
    if (type !== 'bls') throw new ApiError(`the devnet wallet makes BLS keys only, not ${JSON.stringify(type)}`);
    const k = newBlsKey();
    const file = join(this.dir, 'wallet.json');
    const wallet = JSON.parse(readFileSync(file, 'utf8')) as ReturnType<typeof blsKeyInfo>[];
    wallet.push(blsKeyInfo(k));
    writeFileAtomic(file, JSON.stringify(wallet), 0o600);
    this.addKey(k);
    return blsKeyAddress(k, this.network);
  }

  /** WalletDefaultAddress: the first genesis miner's owner key (as the Lotus devnet imports the pre-seal key). */
  walletDefaultAddress(): string {
    const m = this.genesis.miners[0];
    if (!m) throw new ApiError('no default wallet address: the devnet has no genesis miner');
    return m.owner;
  }

  /** WalletBalance: an account's balance (0 for a key not on chain yet), or a miner actor's. */
  balance(addr: string): bigint {
    const p = parseAddress(addr);
    if (p.id === BigInt(MARKET_ACTOR_ID)) return this.market.totalEscrow();
    if (p.id !== undefined) {
      const m = this.miners.get(idAddress(p.id, this.network));
      if (m) return m.funds.balance;
    }
    return this.account(addr)?.balance ?? 0n;
  }

  /** StateLookupID. */
  lookupId(addr: string): string {
    const p = parseAddress(addr);
    if (p.id !== undefined) {
      const id = Number(p.id);
      if (id < 100 || this.miners.has(idAddress(id, this.network)) || [...this.accounts.values()].some((a) => a.id === id)) return idAddress(id, this.network);
    } else {
      const acct = this.accounts.get(addr.slice(1));
      if (acct) return idAddress(acct.id, this.network);
    }
    throw new ApiError(`resolution lookup failed (${addr}): actor not found`);
  }

  /** The ID of the account or miner actor an address names (the FVM's resolve_address), or undefined. */
  actorId(addr: string): number | undefined {
    try {
      return Number(parseAddress(this.lookupId(addr)).id);
    } catch {
      return undefined;
    }
  }

  // ------------------------------------------------------------------ accessors

  get network(): Network {
    return this.genesis.network;
  }
  get policy(): ProvingPolicy {
    return this.genesis.policy;
  }
  get blockDelayMs(): number {
    return this.genesis.blockDelayMs;
  }
  get expectedLeaders(): number {
    return this.genesis.expectedLeaders;
  }
  /** An admin API token (read, write, sign, admin). */
  adminToken(): string {
    return readFileSync(join(this.dir, 'token'), 'utf8').trim();
  }
  get jwtSecret(): Buffer {
    return this.secret;
  }

  /** The heaviest tipset: the last round that was not null. */
  head(): TipSet {
    for (let h = this.chain.length - 1; h >= 0; h--) {
      const ts = this.chain[h].tipset;
      if (ts) return ts;
    }
    throw new Error('devnet chain has no genesis');
  }

  /** The round being mined: the one after the last round formed (null rounds count). */
  nextRound(): number {
    return this.chain.length;
  }

  /** ChainGetTipSetByHeight: the tipset at `height`, or the one before it when that round was null (as Lotus). */
  tipsetAt(height: number): TipSet {
    if (!Number.isInteger(height) || height < 0) throw new ApiError(`invalid height ${height}`);
    if (height >= this.chain.length) throw new ApiError(`looking for tipset with height greater than start point (height ${height}, head ${this.head().Height})`);
    for (let h = height; h >= 0; h--) {
      const ts = this.chain[h].tipset;
      if (ts) return ts;
    }
    throw new Error('devnet chain has no genesis');
  }

  /** Checks a tipset key names a tipset of this chain (null/empty = head); returns it. */
  resolveTsk(tsk: Cid[] | null): TipSet {
    if (!tsk || tsk.length === 0) return this.head();
    const key = tipsetKeyString(tsk);
    for (let h = this.chain.length - 1; h >= 0 && h >= this.chain.length - 10000; h--) {
      const ts = this.chain[h].tipset;
      if (ts && tipsetKeyString(ts.Cids) === key) return ts;
    }
    throw new ApiError(`loading tipset ${key}: not found`);
  }

  timestampOf(height: number): number {
    return Math.floor((this.genesis.genesisTimeMs + height * this.genesis.blockDelayMs) / 1000);
  }

  miner(addr: string): MinerActor {
    let p;
    try {
      p = parseAddress(addr);
    } catch (e) {
      throw new ApiError((e as Error).message);
    }
    const m = p.id !== undefined ? this.miners.get(idAddress(p.id, this.network)) : undefined;
    if (!m) throw new ApiError(`actor not found: ${addr}`);
    return m;
  }

  totalPower(): bigint {
    let t = 0n;
    for (const m of this.miners.values()) t += m.power();
    return t;
  }

  // ------------------------------------------------------------------ beacon and randomness

  /** Beacon entry of `round`: a hash chain from the genesis seed (drand-like, deterministic). */
  protected beaconEntry(round: number, prev: BeaconEntry | null): BeaconEntry {
    const r = Buffer.alloc(8);
    r.writeBigUInt64BE(BigInt(round));
    const prevData = prev ? fromB64(prev.Data) : Buffer.from(this.genesis.seed, 'hex');
    // 96 bytes like a drand signature: three chained blake2b-256 blocks.
    const a = blake2b(Buffer.concat([prevData, r]), { dkLen: 32 });
    const b = blake2b(a, { dkLen: 32 });
    const c = blake2b(b, { dkLen: 32 });
    return { Round: round, Data: b64(Buffer.concat([a, b, c])) };
  }

  /**
   * The beacon entry of `round`: recorded for rounds already formed; for later ones, once the
   * round's time has come (as drand publishes a round at its time) and always for the round
   * being mined — so MinerGetBaseInfo answers for null rounds the clock has passed, as Lotus does.
   */
  beaconAt(round: number): BeaconEntry {
    if (!Number.isInteger(round) || round < 0) throw new ApiError(`invalid beacon round ${round}`);
    if (round < this.chain.length) return this.chain[round].beacon;
    return this.beaconsAfter(round - 1, round)[0];
  }

  /** The beacon entries of rounds `after`+1 .. `to` (what a block on a tipset at `after` carries), in one pass. */
  beaconsAfter(after: number, to: number): BeaconEntry[] {
    if (!Number.isInteger(to) || to < 0) throw new ApiError(`invalid beacon round ${to}`);
    const byClock = Math.floor((Date.now() - this.genesis.genesisTimeMs) / this.genesis.blockDelayMs);
    if (to > Math.max(this.chain.length, byClock)) throw new ApiError(`beacon entry for round ${to} is not available yet (head ${this.head().Height})`);
    const out: BeaconEntry[] = [];
    let e = this.chain[this.chain.length - 1].beacon;
    // Entries not recorded yet chain on from the last recorded one.
    for (let r = this.chain.length; r <= after; r++) e = this.beaconEntry(r, e);
    for (let r = after + 1; r <= to; r++) {
      if (r < this.chain.length) out.push(this.chain[r].beacon);
      else out.push((e = this.beaconEntry(r, e)));
    }
    return out;
  }

  /**
   * Chain randomness at `epoch`: from the min ticket of the tipset at `epoch`, or of the first
   * one after it when that round was null (Lotus at network version 13 and later: lookback off).
   */
  randomnessFromTickets(tag: DomainSeparationTag, epoch: number, entropy: Uint8Array): Buffer {
    if (epoch > this.head().Height) throw new ApiError(`cannot draw randomness from the future (epoch ${epoch}, head ${this.head().Height})`);
    if (epoch < 0) epoch = 0;
    let ts = this.chain[epoch].tipset;
    for (let h = epoch + 1; !ts; h++) ts = this.chain[h].tipset; // the head is one: found by then
    const ticket = minTicketBlock(ts).Ticket;
    return drawRandomness(fromB64(ticket?.VRFProof ?? ''), tag, epoch, entropy);
  }

  /** Beacon randomness at `epoch`: that round's entry (a null round's is carried by the next block, as in Lotus). */
  randomnessFromBeacon(tag: DomainSeparationTag, epoch: number, entropy: Uint8Array): Buffer {
    if (epoch > this.head().Height) throw new ApiError(`cannot draw randomness from the future (epoch ${epoch}, head ${this.head().Height})`);
    if (epoch < 0) epoch = 0;
    return drawRandomness(fromB64(this.chain[epoch].beacon.Data), tag, epoch, entropy);
  }

  // ------------------------------------------------------------------ system blocks and roots

  /** The block of "the rest of the network" for a round no miner made one for; `beacons`: the entries since its parent's. */
  protected systemBlock(height: number, parent: TipSet | null, beacons: BeaconEntry[], parentWeight: string): BlockHeader {
    const ticket = blake2b(Buffer.concat([fromB64(beacons[beacons.length - 1].Data), Buffer.from(`devnet-${height}`)]), { dkLen: 32 });
    return {
      Miner: idAddress(0, this.genesis.network),
      Ticket: { VRFProof: b64(ticket) },
      ElectionProof: null,
      BeaconEntries: beacons,
      WinPoStProof: [],
      Parents: parent?.Cids ?? [],
      ParentWeight: parentWeight,
      Height: height,
      ParentStateRoot: this.stateRoot(parent?.Height ?? -1),
      ParentMessageReceipts: this.receiptsRoot(parent?.Height ?? -1),
      Messages: cborCid(cborEncode([[], []])),
      BLSAggregate: null,
      Timestamp: this.timestampOf(height),
      BlockSig: null,
      ForkSignaling: 0,
      ParentBaseFee: '100',
    };
  }

  protected stateRoot(height: number): Cid {
    return cborCid(cborEncode(['devnet-state', this.genesis.seed, Math.max(height, -1)]));
  }

  protected receiptsRoot(height: number): Cid {
    const r = height >= 0 && this.chain[height] ? this.chain[height].receipts.map((l) => [l.Receipt.ExitCode, l.Message['/']]) : [];
    return cborCid(cborEncode(r));
  }
}
