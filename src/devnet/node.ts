// The embedded devnet: one chain, its miner actors, a message pool, block validation with
// real proofs, and durable state in its directory. The JSON-RPC server (rpc.ts) serves the
// Lotus API on top of the methods here.
//
// Files in the directory:
//   genesis.json   options fixed at genesis (policy, miners, network, pinned randomness)
//   wallet.json    Lotus KeyInfo of every key the node holds (owner/worker BLS keys)
//   jwt-secret     HS256 secret of the API tokens; `token` holds an admin token
//   chain.ndjson   one line per epoch: tipset, beacon entry, receipts (append + fsync)
//   state.json     snapshot of actor state after `height` (temp + fsync + rename + fsync dir)
//   mpool.ndjson   messages pushed since the last snapshot (append + fsync)
import { EventEmitter } from 'node:events';
import { closeSync, existsSync, fstatSync, fsyncSync, mkdirSync, openSync, readFileSync, ftruncateSync } from 'node:fs';
import { join } from 'node:path';
import { Auth } from '../auth/index.js';
import { writeAllSync, writeFileAtomic } from '../util/durable.js';
import { blake2b } from '@noble/hashes/blake2.js';
import { bls12_381 as bls } from '@noble/curves/bls12-381.js';
import * as proofs from '../proofs/index.js';
import { type ProvingPolicy, MAINNET_POLICY, checkPolicy, nextNotElapsed } from '../chain/deadlines.js';
import {
  type BlsKey,
  blockCid,
  blockSigningBytes,
  blsKeyAddress,
  blsKeyFromKeyInfo,
  blsKeyInfo,
  blsSign,
  blsVerify,
  computeWinCount,
  drawRandomness,
  messageCbor,
  messageCid,
  newBlsKey,
  newSecret,
} from '../chain/crypto.js';
import { MARKET_ACTOR_ID, MarketMethod, decodePublishStorageDeals, encodePublishReturn } from '../chain/market.js';
import { formatFil } from '../chain/fees.js';
import { verifySignature } from '../deals/keys.js';
import { electionVrfInput, minTicketBlock, randomnessBeacon, ticketVrfInput, winningPoStRandomness } from '../chain/mining.js';
import {
  ParamsError,
  decodeCreateMiner,
  decodeDealIdPayload,
  decodeDeclarations,
  decodePreCommitBatch2,
  decodeProveCommitSectors3,
  decodeWindowPoSt,
  encodeCreateMinerReturn,
} from '../chain/params.js';
import {
  type BeaconEntry,
  type BlockHeader,
  type BlockMsg,
  type BlockTemplate,
  type Cid,
  type Message,
  type MessageSendSpec,
  type MiningBaseInfo,
  type MsgLookup,
  type Network,
  type SignedMessage,
  type TipSet,
  DomainSeparationTag,
  ExitCode,
  MinerMethod,
  POWER_ACTOR_ID,
  PowerMethod,
  addressCbor,
  addressFromBytes,
  b64,
  bigFromJson,
  cborCid,
  cborDecode,
  cborEncode,
  CborCid,
  cidBytes,
  fromB64,
  idAddress,
  parseAddress,
} from '../chain/types.js';
import { logger } from '../log.js';
import { MarketActor, providerCollateralBounds, sectorCommD } from './market.js';
import { ActorError, type ActorLimits, MinerActor, type MinerInit, type PreCommitRecord, type ProofVerifier, type SectorRecord } from './miner.js';

const log = logger('devnet');

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
  sealProof?: proofs.RegisteredSealProof;
  /**
   * Devnet-only: ticket/seed the prove-commit check uses for given sectors instead of the
   * chain's randomness, so sectors sealed ahead of time (test fixtures) can be committed.
   */
  pinnedSealRandomness?: PinnedSealRandomness[];
  /** Replaces the real proof verifier (unit tests of state logic only). */
  verifier?: ProofVerifier;
}

interface Genesis {
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
}

interface EpochRecord {
  tipset: TipSet;
  beacon: BeaconEntry;
  receipts: MsgLookup[];
  /** The messages executed in this tipset, in order (absent in records from older devnets). */
  messages?: Message[];
}

interface Snapshot {
  height: number;
  miners: unknown[];
  /** The market actor (absent in chains from before it existed). */
  market?: unknown;
  nonces: Record<string, number>;
  mpool: SignedMessage[];
  weight: string;
  /** Account actors (absent in chains from before balances: the genesis keys are funded then). */
  accounts?: { id: number; key: string; balance: string }[];
  nextActorId?: number;
}

/** A JSON-RPC-visible error (code 1 like go-jsonrpc handler errors). */
export class ApiError extends Error {
  constructor(
    message: string,
    readonly code = 1,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

function appendDurable(fd: number, line: string): void {
  const size = fstatSync(fd).size;
  try {
    writeAllSync(fd, Buffer.from(line + '\n'));
    fsyncSync(fd);
  } catch (e) {
    // A full disk may have taken part of the line: cut it so the next append starts a clean line.
    try {
      ftruncateSync(fd, size);
    } catch {
      // the reader drops a torn line after the snapshot's height
    }
    throw e;
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
    return proofs.verifyWindowPoSt(randomness, replicas, ps.map((p) => ({ postProof: p.postProof, proofBytes: p.proofBytes })), proofs.proverIdFromMinerId(m.info.id));
  },
};

/**
 * The gas the devnet fills in (MpoolPushMessage, GasEstimateMessageGas): a flat limit and fee
 * cap/premium, capped like Lotus's CapGasFee by the send spec's MaxFee, or by Lotus's default
 * MaxFee (0.07 FIL, node config DefaultMaxFee) when it names none. Gas is not charged.
 */
const GAS_LIMIT_DEFAULT = 50_000_000;
const GAS_FEE_CAP_DEFAULT = 100_000n;
const GAS_PREMIUM_DEFAULT = 100_000n;
const DEFAULT_MAX_FEE = 7n * 10n ** 16n;
/** Lotus's block gas limit: no message may ask for more. */
const BLOCK_GAS_LIMIT = 10_000_000_000;

/** Lotus's messagepool.CapGasFee: GasFeeCap × GasLimit ≤ MaxFee (exactly MaxFee with MaximizeFeeCap), premium ≤ fee cap. */
function capGasFee(m: Message, spec: MessageSendSpec | null | undefined): void {
  let maxFee = spec?.MaxFee !== undefined && spec.MaxFee !== null ? bigFromJson(spec.MaxFee, 'MaxFee') : 0n;
  if (maxFee === 0n) maxFee = DEFAULT_MAX_FEE;
  const limit = BigInt(m.GasLimit);
  if (spec?.MaximizeFeeCap || BigInt(m.GasFeeCap) * limit > maxFee) m.GasFeeCap = (maxFee / limit).toString();
  if (BigInt(m.GasPremium) > BigInt(m.GasFeeCap)) m.GasPremium = m.GasFeeCap;
}

/**
 * The CID a signed message is known by (Lotus's types.SignedMessage.Cid): a BLS-signed
 * message's is the message's own (its signature goes into the block's aggregate), a
 * secp256k1-signed one's is that of the CBOR tuple [message, signature bytes (type ‖ data)].
 */
export function signedMessageCid(m: Message, sig: { Type: number; Data: string }): Cid {
  if (sig.Type === 2) return messageCid(m);
  const sigBytes = Buffer.concat([Buffer.from([sig.Type]), fromB64(sig.Data, 'Signature')]);
  return cborCid(Buffer.concat([Buffer.from([0x82]), messageCbor(m), cborEncode(sigBytes)]));
}

type ExecResult = { exitCode: ExitCode; error?: string; ret?: Buffer; retDec?: unknown };

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
interface Account {
  id: number;
  /** The key address (network prefix as created). */
  key: string;
  balance: bigint;
}

/** Methods the miner actor no longer has (builtin-actors v13+): the actors answer exit code 22. */
const REMOVED_MINER_METHODS = new Set<number>([MinerMethod.PreCommitSector, MinerMethod.ProveCommitSector, MinerMethod.ProveCommitAggregate]);

export class Devnet extends EventEmitter {
  readonly dir: string;
  private genesis!: Genesis;
  private keys = new Map<string, BlsKey>();
  private secret!: Buffer;
  readonly miners = new Map<string, MinerActor>();
  market = new MarketActor();
  private accounts = new Map<string, Account>();
  private nextActorId = 0;
  private chain: EpochRecord[] = [];
  private lookups = new Map<string, MsgLookup>();
  /** Every message pushed, executed or pending, by CID (ChainGetMessage). */
  private messages = new Map<string, Message>();
  private mpool: SignedMessage[] = [];
  private nonces: Record<string, number> = {};
  private weight = 0n;
  private pending = new Map<number, { header: BlockHeader; cid: string }[]>();
  /** Blocks being verified (submitBlock), waited for by the next advance. */
  private readonly arriving = new Set<Promise<void>>();
  private mpoolFd = -1;
  private chainFd = -1;
  private timer: NodeJS.Timeout | undefined;
  private clockRunning = false;
  private advancing: Promise<TipSet> | undefined;
  private closed = false;
  private verifier: ProofVerifier;
  private readonly opts: DevnetOptions;
  /** Window PoSt / seal / winning verifications done (for the benchmark). */
  readonly stats = { proofVerifications: 0, messagesApplied: 0, epochs: 0 };

  private constructor(opts: DevnetOptions) {
    super();
    this.setMaxListeners(0);
    this.opts = opts;
    this.dir = opts.dir;
    this.verifier = opts.verifier ?? realVerifier;
  }

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

  // ------------------------------------------------------------------ genesis and loading

  private createGenesis(): void {
    const o = this.opts;
    const policy = checkPolicy({ ...MAINNET_POLICY, ...o.policy });
    const limits: ActorLimits = { maxPreCommitRandomnessLookback: 2880 + 900, maxProveCommitDuration: 30 * 2880 + policy.preCommitChallengeDelay, maxPartitionsPerDeadline: 3000, ...o.limits };
    const network = o.network ?? 'testnet';
    const first = o.firstMinerId ?? 1000;
    const n = o.miners ?? 1;
    if (!Number.isInteger(n) || n < 0 || n > 100) throw new Error(`--miners must be 0..100, got ${n}`);
    const wallet: ReturnType<typeof blsKeyInfo>[] = [];
    const miners: Genesis['miners'] = [];
    for (let i = 0; i < n; i++) {
      const owner = newBlsKey();
      const worker = newBlsKey();
      wallet.push(blsKeyInfo(owner), blsKeyInfo(worker));
      miners.push({ id: first + i, owner: blsKeyAddress(owner, network), worker: blsKeyAddress(worker, network), ownerId: 100 + 2 * i, workerId: 101 + 2 * i });
    }
    const delay = o.blockDelayMs ?? 4000;
    if (!(delay > 0)) throw new Error(`block delay must be > 0 ms, got ${delay}`);
    this.genesis = {
      version: 1,
      network,
      blockDelayMs: delay,
      genesisTimeMs: o.genesisTimeMs ?? Date.now(),
      policy,
      limits,
      expectedLeaders: o.expectedLeaders ?? 5,
      sealProof: o.sealProof ?? proofs.RegisteredSealProof.StackedDrg2KiBV1_1,
      seed: Buffer.from(newSecret()).toString('hex'),
      miners,
      pinnedSealRandomness: o.pinnedSealRandomness ?? [],
    };
    this.secret = newSecret();
    writeFileAtomic(join(this.dir, 'wallet.json'), JSON.stringify(wallet), 0o600);
    writeFileAtomic(join(this.dir, 'jwt-secret'), this.secret.toString('hex'), 0o600);
    writeFileAtomic(join(this.dir, 'token'), new Auth(this.secret).issue('admin'), 0o600);
    for (const ki of wallet) this.addKey(blsKeyFromKeyInfo(ki));
    for (const m of miners) {
      const actor = this.newMinerActor(m, 0);
      actor.funds.balance = devnetFunds.genesisMiner;
      this.miners.set(idAddress(m.id, network), actor);
    }
    this.genesisAccounts();
    // Genesis tipset (height 0): one block by the system actor.
    const beacon = this.beaconEntry(0, null);
    const header = this.systemBlock(0, [], beacon, '0');
    this.chain = [{ tipset: { Cids: [blockCid(header)], Blocks: [header], Height: 0 }, beacon, receipts: [] }];
    writeFileAtomic(join(this.dir, 'chain.ndjson'), JSON.stringify(this.chain[0]) + '\n');
    writeFileAtomic(join(this.dir, 'mpool.ndjson'), '');
    this.snapshot();
    writeFileAtomic(join(this.dir, 'genesis.json'), JSON.stringify(this.genesis, null, 2));
    log.info({ dir: this.dir, miners: miners.map((m) => m.id) }, 'devnet genesis created');
  }

  private newMinerActor(m: { id: number; owner: string; worker: string }, epoch: number): MinerActor {
    const g = this.genesis;
    return MinerActor.create(this.minerInit(m), g.policy, g.limits, epoch);
  }

  private minerInit(m: { id: number; owner: string; worker: string }): MinerInit {
    const g = this.genesis;
    const seal = g.sealProof as proofs.RegisteredSealProof;
    return {
      id: m.id,
      address: idAddress(m.id, g.network),
      owner: m.owner,
      worker: m.worker,
      sealProof: seal,
      windowPoStProof: proofs.windowPoStProofFor(seal),
      winningPoStProof: proofs.winningPoStProofFor(seal),
      sectorSize: proofs.sealProofSectorSize(seal),
      partitionSectors: proofs.windowPoStPartitionSectors(proofs.windowPoStProofFor(seal)),
    };
  }

  /** The genesis keys' accounts; new actors (accounts, miners) get ids after the genesis miners. */
  private genesisAccounts(): void {
    this.accounts.clear();
    for (const m of this.genesis.miners) {
      this.accounts.set(m.owner.slice(1), { id: m.ownerId, key: m.owner, balance: devnetFunds.genesisAccount });
      this.accounts.set(m.worker.slice(1), { id: m.workerId, key: m.worker, balance: devnetFunds.genesisAccount });
    }
    this.nextActorId = Math.max(1000, ...this.genesis.miners.map((m) => m.id + 1));
  }

  private load(): void {
    const dir = this.dir;
    this.genesis = JSON.parse(readFileSync(join(dir, 'genesis.json'), 'utf8')) as Genesis;
    if (this.genesis.version !== 1) throw new Error(`${dir}/genesis.json: unsupported version ${this.genesis.version}`);
    this.secret = Buffer.from(readFileSync(join(dir, 'jwt-secret'), 'utf8').trim(), 'hex');
    for (const ki of JSON.parse(readFileSync(join(dir, 'wallet.json'), 'utf8'))) this.addKey(blsKeyFromKeyInfo(ki));
    const snap = JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')) as Snapshot;
    for (const mj of snap.miners) {
      const m = MinerActor.fromJSON(mj, this.genesis.policy, this.genesis.limits, devnetFunds.genesisMiner);
      this.miners.set(m.info.address, m);
    }
    if (snap.accounts) {
      for (const a of snap.accounts) this.accounts.set(a.key.slice(1), { id: a.id, key: a.key, balance: BigInt(a.balance) });
      this.nextActorId = snap.nextActorId ?? Math.max(1000, ...[...this.miners.values()].map((m) => m.info.id + 1));
    } else this.genesisAccounts();
    this.market = MarketActor.fromJSON(snap.market);
    this.nonces = snap.nonces;
    this.weight = BigInt(snap.weight);
    // Chain records up to the snapshot; a record written after it (crash between the two
    // writes) is dropped: its epoch is produced again.
    const lines = readFileSync(join(dir, 'chain.ndjson'), 'utf8').split('\n');
    for (const line of lines) {
      if (this.chain.length > snap.height) break;
      if (!line.trim()) continue;
      const rec = JSON.parse(line) as EpochRecord;
      if (rec.tipset.Height !== this.chain.length) throw new Error(`${dir}/chain.ndjson: record for height ${rec.tipset.Height} where ${this.chain.length} was expected`);
      this.chain.push(rec);
    }
    if (this.chain.length !== snap.height + 1) throw new Error(`${dir}: state.json is at height ${snap.height} but chain.ndjson only reaches ${this.chain.length - 1}`);
    writeFileAtomic(join(dir, 'chain.ndjson'), this.chain.map((r) => JSON.stringify(r)).join('\n') + '\n');
    for (const r of this.chain) for (const l of r.receipts) this.lookups.set(l.Message['/'], l);
    for (const r of this.chain) (r.messages ?? []).forEach((m, i) => this.messages.set((r.receipts[i]?.Message ?? m.CID!)['/'], m));
    // Messages pushed after the snapshot, not yet executed.
    const seen = new Set<string>();
    this.mpool = [];
    for (const m of snap.mpool) seen.add(m.CID!['/']);
    const journal = existsSync(join(dir, 'mpool.ndjson')) ? readFileSync(join(dir, 'mpool.ndjson'), 'utf8').split('\n') : [];
    const extra: SignedMessage[] = [];
    for (const line of journal) {
      if (!line.trim()) continue;
      try {
        const m = JSON.parse(line) as SignedMessage;
        if (!seen.has(m.CID!['/']) && !this.lookups.has(m.CID!['/'])) {
          extra.push(m);
          seen.add(m.CID!['/']);
        }
      } catch {
        // a torn last line: that push never returned to its caller
      }
    }
    this.mpool = [...snap.mpool, ...extra];
    for (const m of this.mpool) this.messages.set(m.CID!['/'], m.Message);
    for (const m of extra) {
      const k = this.resolveKeyAddress(m.Message.From).slice(1);
      this.nonces[k] = Math.max(this.nonces[k] ?? 0, m.Message.Nonce + 1);
    }
    log.info({ dir, height: this.head().Height, miners: [...this.miners.keys()], mpool: this.mpool.length }, 'devnet state loaded');
  }

  private snapshot(): void {
    const snap: Snapshot = {
      height: this.chain.length - 1,
      miners: [...this.miners.values()].map((m) => m.toJSON()),
      market: this.market.toJSON(),
      nonces: this.nonces,
      mpool: this.mpool,
      weight: this.weight.toString(),
      accounts: [...this.accounts.values()].map((a) => ({ id: a.id, key: a.key, balance: a.balance.toString() })),
      nextActorId: this.nextActorId,
    };
    writeFileAtomic(join(this.dir, 'state.json'), JSON.stringify(snap));
  }

  private addKey(k: BlsKey): void {
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

  private account(addr: string): Account | undefined {
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

  head(): TipSet {
    return this.chain[this.chain.length - 1].tipset;
  }

  tipsetAt(height: number): TipSet {
    if (!Number.isInteger(height) || height < 0) throw new ApiError(`invalid height ${height}`);
    const r = this.chain[height];
    if (!r) throw new ApiError(`looking for tipset with height greater than start point (height ${height}, head ${this.head().Height})`);
    return r.tipset;
  }

  /** Checks a tipset key names a tipset of this chain (null/empty = head); returns it. */
  resolveTsk(tsk: Cid[] | null): TipSet {
    if (!tsk || tsk.length === 0) return this.head();
    const key = tsk.map((c) => c['/']).join(',');
    for (let h = this.chain.length - 1; h >= 0 && h >= this.chain.length - 10000; h--) {
      const ts = this.chain[h].tipset;
      if (ts.Cids.map((c) => c['/']).join(',') === key) return ts;
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
  private beaconEntry(round: number, prev: BeaconEntry | null): BeaconEntry {
    const r = Buffer.alloc(8);
    r.writeBigUInt64BE(BigInt(round));
    const prevData = prev ? fromB64(prev.Data) : Buffer.from(this.genesis.seed, 'hex');
    // 96 bytes like a drand signature: three chained blake2b-256 blocks.
    const a = blake2b(Buffer.concat([prevData, r]), { dkLen: 32 });
    const b = blake2b(a, { dkLen: 32 });
    const c = blake2b(b, { dkLen: 32 });
    return { Round: round, Data: b64(Buffer.concat([a, b, c])) };
  }

  /** Beacon entry for a round up to head + 1 (the entry of the epoch being mined). */
  beaconAt(round: number): BeaconEntry {
    const h = this.head().Height;
    if (round <= h) return this.chain[round].beacon;
    if (round === h + 1) return this.beaconEntry(round, this.chain[h].beacon);
    throw new ApiError(`beacon entry for round ${round} is not available yet (head ${h})`);
  }

  randomnessFromTickets(tag: DomainSeparationTag, epoch: number, entropy: Uint8Array): Buffer {
    if (epoch > this.head().Height) throw new ApiError(`cannot draw randomness from the future (epoch ${epoch}, head ${this.head().Height})`);
    if (epoch < 0) epoch = 0;
    const ticket = minTicketBlock(this.chain[epoch].tipset).Ticket;
    return drawRandomness(fromB64(ticket?.VRFProof ?? ''), tag, epoch, entropy);
  }

  randomnessFromBeacon(tag: DomainSeparationTag, epoch: number, entropy: Uint8Array): Buffer {
    if (epoch > this.head().Height) throw new ApiError(`cannot draw randomness from the future (epoch ${epoch}, head ${this.head().Height})`);
    if (epoch < 0) epoch = 0;
    return drawRandomness(fromB64(this.chain[epoch].beacon.Data), tag, epoch, entropy);
  }

  // ------------------------------------------------------------------ messages

  /** MpoolPushMessage: fills nonce and gas (capped by `spec`), signs with the sender's key, queues the message. */
  pushMessage(msg: Message, spec: MessageSendSpec | null = null): SignedMessage {
    let from;
    try {
      from = parseAddress(msg.From);
      parseAddress(msg.To);
      bigFromJson(msg.Value ?? '0', 'Value');
    } catch (e) {
      throw new ApiError(`invalid message: ${(e as Error).message}`);
    }
    if (!Number.isSafeInteger(msg.Method) || msg.Method < 0) throw new ApiError(`invalid message: Method must be a non-negative integer`);
    const key = this.keyFor(msg.From);
    if (!key || (from.protocol !== 3 && from.protocol !== 0)) throw new ApiError(`key not found: the wallet has no key for ${msg.From}`);
    const fromKey = this.resolveKeyAddress(msg.From).slice(1);
    // As Lotus's mpool: the sender must exist and hold the value of this and its pending messages.
    const acct = this.accounts.get(fromKey);
    if (!acct) throw new ApiError(`mpool push: sender ${msg.From}: actor not found`);
    const pending = this.mpool.filter((x) => this.resolveKeyAddress(x.Message.From).slice(1) === fromKey).reduce((a, x) => a + BigInt(x.Message.Value ?? '0'), 0n);
    const value = BigInt(msg.Value ?? '0');
    if (value < 0n) throw new ApiError('invalid message: negative Value');
    if (acct.balance < pending + value) throw new ApiError(`mpool push: not enough funds including pending messages (required: ${pending + value}, balance: ${acct.balance})`);
    const m: Message = {
      Version: 0,
      To: msg.To,
      From: msg.From,
      Nonce: this.nonces[fromKey] ?? 0,
      Value: msg.Value ?? '0',
      GasLimit: msg.GasLimit,
      GasFeeCap: msg.GasFeeCap,
      GasPremium: msg.GasPremium,
      Method: msg.Method,
      Params: msg.Params ?? null,
    };
    if (m.Params) fromB64(m.Params, 'Params');
    this.fillGas(m, spec);
    this.estimateGas(m);
    const cid = messageCid(m);
    m.CID = cid;
    const signed: SignedMessage = { Message: m, Signature: { Type: 2, Data: b64(blsSign(key, cidBytes(cid))) }, CID: cid };
    this.nonces[fromKey] = m.Nonce + 1;
    appendDurable(this.mpoolFd, JSON.stringify(signed));
    this.mpool.push(signed);
    this.messages.set(cid['/'], m);
    return signed;
  }

  /**
   * What Lotus's gas estimation refuses (MpoolPushMessage estimates gas by executing the
   * message on the head's state at the head's epoch): a SubmitWindowedPoSt whose deadline is
   * not open at the head, or whose commitment epoch is not behind it. Lotus's words.
   */
  private estimateGas(m: Message): void {
    const failed = (to: string, e: ActorError) =>
      new ApiError(`GasEstimateMessageGas error: estimating gas used: message execution failed (exit=[${e.exitCode}], revert reason=[message failed with backtrace:\n00: ${to} (method ${m.Method}) -- ${e.message} (${e.exitCode})])`);
    let to;
    try {
      to = parseAddress(m.To);
    } catch {
      return; // execution reports it
    }
    if (to.id === BigInt(MARKET_ACTOR_ID) && m.Method === MarketMethod.AddBalance) {
      try {
        this.addBalanceTarget(BigInt(m.Value ?? '0'), fromB64(m.Params));
      } catch (e) {
        if (e instanceof ActorError) throw failed(`f0${MARKET_ACTOR_ID}`, e);
      }
      return;
    }
    if (m.Method !== MinerMethod.SubmitWindowedPoSt || !m.Params) return;
    let miner: MinerActor;
    try {
      miner = this.miner(m.To);
    } catch {
      return; // not a miner: execution reports it
    }
    const epoch = this.head().Height;
    try {
      miner.checkWindowPoStTiming(epoch, decodeWindowPoSt(fromB64(m.Params)));
    } catch (e) {
      if (e instanceof ActorError) throw failed(`f0${miner.info.id}`, e);
      if (e instanceof ParamsError) return; // execution reports it
      throw e;
    }
  }

  /** The gas MpoolPushMessage and GasEstimateMessageGas fill in: unset (zero) fields get the devnet's flat figures, then Lotus's cap. */
  private fillGas(m: Message, spec: MessageSendSpec | null | undefined): void {
    try {
      if (!(m.GasLimit > 0)) m.GasLimit = GAS_LIMIT_DEFAULT;
      if (!m.GasPremium || bigFromJson(m.GasPremium, 'GasPremium') === 0n) m.GasPremium = GAS_PREMIUM_DEFAULT.toString();
      if (!m.GasFeeCap || bigFromJson(m.GasFeeCap, 'GasFeeCap') === 0n) m.GasFeeCap = GAS_FEE_CAP_DEFAULT.toString();
      capGasFee(m, spec);
    } catch (e) {
      throw new ApiError(`invalid message: ${(e as Error).message}`);
    }
  }

  /**
   * A message as a caller sent it, its fields checked and nothing else (Version 0, addresses,
   * amounts, method, params, nonce); `gas` also wants a gas limit and fee cap ≥ premium, as
   * Lotus's ValidForBlockInclusion does.
   */
  private wellFormed(msg: Message, gas: boolean): Message {
    const bad = (why: string) => new ApiError(`invalid message: ${why}`);
    if (!msg || typeof msg !== 'object') throw bad('expected a Message');
    if ((msg.Version ?? 0) !== 0) throw bad(`unsupported message version ${msg.Version}`);
    const m: Message = {
      Version: 0,
      To: msg.To,
      From: msg.From,
      Nonce: msg.Nonce ?? 0,
      Value: msg.Value ?? '0',
      GasLimit: msg.GasLimit ?? 0,
      GasFeeCap: msg.GasFeeCap ?? '0',
      GasPremium: msg.GasPremium ?? '0',
      Method: msg.Method,
      Params: msg.Params ?? null,
    };
    try {
      parseAddress(m.To);
      parseAddress(m.From);
      if (!Number.isSafeInteger(m.Nonce) || m.Nonce < 0) throw new Error('Nonce must be a non-negative integer');
      if (!Number.isSafeInteger(m.Method) || m.Method < 0) throw new Error('Method must be a non-negative integer');
      if (!Number.isSafeInteger(m.GasLimit) || m.GasLimit < 0) throw new Error('GasLimit must be a non-negative integer');
      const value = bigFromJson(m.Value, 'Value');
      const feeCap = bigFromJson(m.GasFeeCap, 'GasFeeCap');
      const premium = bigFromJson(m.GasPremium, 'GasPremium');
      if (value < 0n) throw new Error("'Value' field cannot be negative");
      if (feeCap < 0n || premium < 0n) throw new Error('gas fee cap and premium cannot be negative');
      if (m.Params) fromB64(m.Params, 'Params');
      if (gas) {
        if (m.GasLimit === 0) throw new Error("'GasLimit' field cannot be zero");
        if (m.GasLimit > BLOCK_GAS_LIMIT) throw new Error("'GasLimit' field cannot be greater than a block's gas limit");
        if (premium > feeCap) throw new Error("'GasFeeCap' less than 'GasPremium'");
      }
    } catch (e) {
      throw bad((e as Error).message);
    }
    return m;
  }

  /**
   * GasEstimateMessageGas: the message with GasLimit, GasFeeCap and GasPremium filled as
   * MpoolPushMessage fills them (fields already set are kept, then capped by `spec`), after
   * the same dry runs MpoolPushMessage makes (a message execution would refuse fails here
   * with Lotus's words).
   */
  estimateMessageGas(msg: Message, spec: MessageSendSpec | null = null): Message {
    const m = this.wellFormed(msg, false);
    if (!this.account(m.From)) throw new ApiError(`GasEstimateMessageGas error: estimating gas used: getting key address: resolution lookup failed (${m.From}): actor not found`);
    this.fillGas(m, spec);
    this.estimateGas(m);
    m.CID = messageCid(m);
    return m;
  }

  /**
   * MpoolGetNonce: the sender's next nonce, its pending messages counted. An address with no
   * actor on chain is an error, as Lotus's mpool reads the nonce from the actor.
   */
  nextNonce(addr: string): number {
    const acct = this.account(addr);
    if (!acct) throw new ApiError(`resolution lookup failed (${addr}): actor not found`);
    return this.nonces[acct.key.slice(1)] ?? 0;
  }

  /**
   * MpoolPush: a message signed with a key the devnet does not hold (a client's). Checked as
   * Lotus's mpool checks it: well formed, signed by its From (secp256k1 or BLS, over the
   * message CID's bytes), sender on chain, nonce not below its state nonce, the gas (fee cap ×
   * limit) covered and — stricter than Lotus, as MpoolPushMessage here — the value too, with
   * the sender's pending messages. The devnet runs each sender's messages in nonce order: a
   * nonce gap or a replacement of a pending message is refused. Returns the CID the message is
   * known by (signedMessageCid), which StateWaitMsg, StateSearchMsg and ChainGetMessage take.
   */
  pushSignedMessage(sm: SignedMessage): Cid {
    if (!sm || typeof sm !== 'object' || !sm.Message || !sm.Signature) throw new ApiError('invalid signed message: expected {Message, Signature}');
    const m = this.wellFormed(sm.Message, true);
    const why = verifySignature(m.From, cidBytes(messageCid(m)), sm.Signature);
    if (why) throw new ApiError(`failed to validate signature: ${why}`);
    const acct = this.account(m.From);
    if (!acct) throw new ApiError(`failed to look up actor state nonce: resolution lookup failed (${m.From}): actor not found`);
    const k = acct.key.slice(1);
    const pending = this.mpool.filter((x) => this.resolveKeyAddress(x.Message.From).slice(1) === k);
    const next = this.nonces[k] ?? 0;
    const stateNonce = pending.length > 0 ? Math.min(...pending.map((x) => x.Message.Nonce)) : next;
    if (m.Nonce < stateNonce) throw new ApiError(`minimum expected nonce is ${stateNonce}, got ${m.Nonce}: message nonce too low`);
    const cid = signedMessageCid(m, sm.Signature);
    const same = pending.find((x) => x.Message.Nonce === m.Nonce);
    if (same?.CID?.['/'] === cid['/']) throw new ApiError(`message from ${m.From} with nonce ${m.Nonce} already in mpool: message with nonce already exists`);
    if (same) throw new ApiError(`message from ${m.From} with nonce ${m.Nonce} already in mpool: the devnet does not replace pending messages (replace by fee)`);
    if (m.Nonce > next) throw new ApiError(`nonce gap: the devnet runs ${m.From}'s messages in nonce order and expects nonce ${next}, got ${m.Nonce}`);
    const gas = (x: Message) => BigInt(x.GasFeeCap) * BigInt(x.GasLimit);
    const need = gas(m);
    if (acct.balance < need) throw new ApiError(`not enough funds (required: ${formatFil(need)}, balance: ${formatFil(acct.balance)}): not enough funds to execute transaction`);
    const total = pending.reduce((a, x) => a + gas(x.Message) + BigInt(x.Message.Value ?? '0'), need + BigInt(m.Value));
    if (acct.balance < total) throw new ApiError(`not enough funds including pending messages (required: ${formatFil(total)}, balance: ${formatFil(acct.balance)})`);
    // The message as Lotus shows it (ChainGetMessage) carries its own CID; the signed one is known by `cid`.
    m.CID = messageCid(m);
    const signed: SignedMessage = { Message: m, Signature: { Type: sm.Signature.Type, Data: sm.Signature.Data }, CID: cid };
    appendDurable(this.mpoolFd, JSON.stringify(signed));
    this.nonces[k] = m.Nonce + 1;
    this.mpool.push(signed);
    this.messages.set(cid['/'], m);
    return cid;
  }

  /** The messages waiting in the mpool (MpoolPending). */
  pendingMessages(): SignedMessage[] {
    return [...this.mpool];
  }

  /**
   * Test hook: takes a pending message out of the mpool, as a reorg that drops the tipset
   * carrying it (with the node forgetting it) loses it. True when it was pending.
   */
  dropPending(cid: string): boolean {
    const i = this.mpool.findIndex((m) => m.CID?.['/'] === cid);
    if (i < 0) return false;
    this.mpool.splice(i, 1);
    ftruncateSync(this.mpoolFd, 0);
    for (const m of this.mpool) appendDurable(this.mpoolFd, JSON.stringify(m));
    return true;
  }

  lookup(cid: Cid): MsgLookup | undefined {
    return this.lookups.get(cid['/']);
  }

  /** ChainGetMessage: a message pushed to this devnet (executed or still pending). */
  getMessage(cid: Cid): Message {
    const m = this.messages.get(cid['/']);
    if (!m) throw new ApiError(`failed to load message: ${cid['/']} not found`);
    return m;
  }

  /**
   * StateListMessages as Lotus does it: the CIDs of the messages executed in the tipsets from
   * `from` back to `toHeight` (inclusive) whose To and From equal the match's, compared as given
   * (Lotus compares the addresses as written in the message too). At least one is required.
   */
  listMessages(match: { To?: string; From?: string }, from: TipSet, toHeight: number): Cid[] {
    if (!match.To && !match.From) throw new ApiError('must specify at least To or From in message filter');
    const out: Cid[] = [];
    for (let h = from.Height; h >= Math.max(0, toHeight); h--) {
      const rec = this.chain[h];
      (rec?.messages ?? []).forEach((m, i) => {
        if (match.To && m.To !== match.To) return;
        if (match.From && m.From !== match.From) return;
        // The CID the message is known by: a secp256k1-signed message's is its signed message's (the receipt's).
        out.push(rec.receipts[i]?.Message ?? m.CID!);
      });
    }
    return out;
  }

  /** Resolves when the message has been executed and `confidence` more epochs passed. */
  async waitMessage(cid: Cid, confidence: number, signal?: AbortSignal): Promise<MsgLookup> {
    for (;;) {
      const l = this.lookups.get(cid['/']);
      if (l && this.head().Height >= l.Height + confidence) return l;
      if (this.closed) throw new ApiError('devnet is shutting down');
      await new Promise<void>((resolve, reject) => {
        const onHead = () => {
          cleanup();
          resolve();
        };
        const onAbort = () => {
          cleanup();
          reject(new ApiError('request cancelled'));
        };
        const cleanup = () => {
          this.off('head', onHead);
          this.off('close', onHead);
          signal?.removeEventListener('abort', onAbort);
        };
        this.on('head', onHead);
        this.on('close', onHead);
        signal?.addEventListener('abort', onAbort);
        if (signal?.aborted) onAbort();
      });
    }
  }

  /**
   * Applies a message: the value leaves the sender first and comes back if the call fails (as
   * the FVM reverts a failed call's transfer); gas is not charged on the devnet.
   */
  private async execute(sm: SignedMessage, epoch: number): Promise<ExecResult> {
    const m = sm.Message;
    const value = BigInt(m.Value ?? '0');
    const from = this.account(m.From);
    if (!from) return { exitCode: ExitCode.SysErrSenderInvalid, error: `sender ${m.From}: actor not found` };
    if (from.balance < value) return { exitCode: ExitCode.SysErrInsufficientFunds, error: `sender ${m.From} holds ${from.balance}, the message sends ${value}` };
    from.balance -= value;
    const r = await this.call(sm, epoch, value);
    if (r.exitCode !== ExitCode.Ok) from.balance += value;
    return r;
  }

  private async call(sm: SignedMessage, epoch: number, value: bigint): Promise<ExecResult> {
    const m = sm.Message;
    let miner: MinerActor | undefined;
    let to: ReturnType<typeof parseAddress>;
    try {
      to = parseAddress(m.To);
    } catch (e) {
      return { exitCode: ExitCode.SysErrInvalidReceiver, error: (e as Error).message };
    }
    if (m.Method === 0) return this.send(to, m.To, value);
    if (to.id === BigInt(MARKET_ACTOR_ID)) return this.executeMarket(sm, epoch, value);
    if (to.id === BigInt(POWER_ACTOR_ID)) return this.executePower(sm, epoch, value);
    miner = to.id !== undefined ? this.miners.get(idAddress(to.id, this.network)) : undefined;
    if (!miner) return { exitCode: ExitCode.SysErrInvalidReceiver, error: `actor ${m.To} not found` };
    if (REMOVED_MINER_METHODS.has(m.Method)) return { exitCode: ExitCode.ErrUnhandledMessage, error: `invalid method: ${m.Method}` };
    if (!miner.isController(this.resolveKeyAddress(m.From))) {
      return { exitCode: ExitCode.ErrForbidden, error: `caller ${m.From} is not the worker or owner of ${m.To}` };
    }
    const params = fromB64(m.Params);
    try {
      const ret: ExecResult = { exitCode: ExitCode.Ok };
      switch (m.Method) {
        case MinerMethod.PreCommitSectorBatch2: {
          const list = decodePreCommitBatch2(params);
          const taken = miner.preCommittedDeals();
          for (const p of list) {
            await this.market.checkPreCommit(epoch, miner.info.id, miner.info.sealProof, p, taken);
            for (const d of p.dealIds) taken.add(d);
          }
          miner.preCommit(epoch, list, isSealedCid, { value, deposit: devnetFunds.preCommitDeposit(miner.info.sectorSize) });
          return ret;
        }
        case MinerMethod.ProveCommitSectors3:
          return await this.proveCommitSectors3(miner, params, epoch, value);
        case MinerMethod.SubmitWindowedPoSt: {
          const p = decodeWindowPoSt(params);
          const entropy = addressCbor(miner.info.address);
          const counting: ProofVerifier = {
            verifySeal: this.verifier.verifySeal,
            verifyWindowPoSt: (...a) => {
              this.stats.proofVerifications++;
              return this.verifier.verifyWindowPoSt(...a);
            },
          };
          await miner.submitWindowPoSt(
            epoch,
            p,
            (e) => this.randomnessFromTickets(DomainSeparationTag.PoStChainCommit, e, Buffer.alloc(0)),
            (e) => this.randomnessFromBeacon(DomainSeparationTag.WindowedPoStChallengeSeed, e, entropy),
            counting,
          );
          break;
        }
        case MinerMethod.DeclareFaults:
          miner.declareFaults(epoch, decodeDeclarations(params, 'Faults'));
          break;
        case MinerMethod.DeclareFaultsRecovered:
          miner.declareRecoveries(epoch, decodeDeclarations(params, 'Recoveries'));
          break;
        default:
          return { exitCode: ExitCode.ErrUnhandledMessage, error: `method ${m.Method} is not supported by the devnet miner actor` };
      }
      miner.funds.balance += value;
      return ret;
    } catch (e) {
      return this.failure(e, m.Method);
    }
  }

  private failure(e: unknown, method: number): ExecResult {
    if (e instanceof ActorError) return { exitCode: e.exitCode, error: e.message };
    if (e instanceof ParamsError) return { exitCode: ExitCode.ErrSerialization, error: e.message };
    if (e instanceof proofs.ProofsError || e instanceof TypeError) return { exitCode: ExitCode.ErrIllegalArgument, error: (e as Error).message };
    log.error({ err: e, method }, 'message execution failed unexpectedly');
    return { exitCode: ExitCode.ErrIllegalState, error: (e as Error).message };
  }

  /** Method 0: a plain transfer; a key address seen for the first time gets an account (and an id). */
  private send(to: ReturnType<typeof parseAddress>, addr: string, value: bigint): ExecResult {
    if (to.id !== undefined) {
      const miner = this.miners.get(idAddress(to.id, this.network));
      if (miner) {
        miner.funds.balance += value;
        return { exitCode: ExitCode.Ok };
      }
      const acct = this.account(addr);
      if (!acct) return { exitCode: ExitCode.SysErrInvalidReceiver, error: `actor ${addr} not found` };
      acct.balance += value;
      return { exitCode: ExitCode.Ok };
    }
    if (to.protocol !== 1 && to.protocol !== 3) return { exitCode: ExitCode.SysErrInvalidReceiver, error: `the devnet creates accounts for key addresses only, not ${addr}` };
    const acct = this.accounts.get(addr.slice(1));
    if (acct) acct.balance += value;
    else this.accounts.set(addr.slice(1), { id: this.nextActorId++, key: addr, balance: value });
    return { exitCode: ExitCode.Ok };
  }

  /** The storage power actor (f04): CreateMiner with the creation deposit as value (FIP-0077). */
  private executePower(sm: SignedMessage, epoch: number, value: bigint): ExecResult {
    const m = sm.Message;
    if (m.Method !== PowerMethod.CreateMiner) return { exitCode: ExitCode.ErrUnhandledMessage, error: `method ${m.Method} is not supported by the devnet power actor (only CreateMiner, 2)` };
    try {
      const p = decodeCreateMiner(fromB64(m.Params), this.network);
      const resolve = (addr: string, what: string) => {
        const acct = this.account(addr);
        if (!acct) throw new ActorError(ExitCode.ErrIllegalArgument, `unable to resolve ${what} address ${addr}: no such account`);
        return acct;
      };
      const owner = resolve(p.owner, 'owner');
      const worker = resolve(p.worker, 'worker');
      if (parseAddress(worker.key).protocol !== 3) throw new ActorError(ExitCode.ErrIllegalArgument, `worker address must be a BLS account, got ${worker.key}`);
      const seal = this.genesis.sealProof as proofs.RegisteredSealProof;
      if (p.windowPoStProofType !== proofs.windowPoStProofFor(seal)) throw new ActorError(ExitCode.ErrIllegalArgument, `unsupported Window PoSt proof type ${p.windowPoStProofType} (the devnet's sectors need ${proofs.windowPoStProofFor(seal)})`);
      const deposit = devnetFunds.creationDeposit();
      if (value < deposit) throw new ActorError(ExitCode.ErrInsufficientFunds, `not enough balance to lock for create miner deposit: sent balance ${value} < deposit ${deposit}`);
      const id = this.nextActorId++;
      const actor = MinerActor.create(this.minerInit({ id, owner: owner.key, worker: worker.key }), this.genesis.policy, this.genesis.limits, epoch);
      actor.funds = { balance: value, locked: deposit, preCommitDeposits: 0n, initialPledge: 0n };
      this.miners.set(actor.info.address, actor);
      // The robust (f2) address: a hash of the creating message, as the init actor derives it.
      const robust = addressFromBytes(Buffer.concat([Buffer.from([2]), Buffer.from(blake2b(cidBytes(sm.CID!), { dkLen: 20 }))]), this.network);
      log.info({ miner: actor.info.address, owner: owner.key, worker: worker.key, epoch }, 'miner created');
      return { exitCode: ExitCode.Ok, ret: encodeCreateMinerReturn({ idAddress: actor.info.address, robustAddress: robust }), retDec: { IDAddress: actor.info.address, RobustAddress: robust } };
    } catch (e) {
      return this.failure(e, m.Method);
    }
  }

  /**
   * ProveCommitSectors3 (method 34), as builtin-actors runs it: per-sector proofs (the devnet
   * verifies no aggregates), each sector's pieces must give its pre-committed CommD, each
   * notification goes to the market with a deal id; a sector that fails is skipped unless
   * activation success is required (then the message fails); the proven sectors' pledge is
   * locked out of the available balance, the message value and their released deposits.
   */
  private async proveCommitSectors3(miner: MinerActor, params: Buffer, epoch: number, value: bigint): Promise<ExecResult> {
    const p = decodeProveCommitSectors3(params, this.network);
    const illegal = (why: string) => new ActorError(ExitCode.ErrIllegalArgument, why);
    if (p.sectorActivations.length === 0) throw illegal('no sectors to prove');
    if ((p.sectorProofs.length === 0) === (p.aggregateProof.length === 0)) throw illegal('exactly one of sector proofs or aggregate proof must be non-empty');
    if (p.sectorProofs.length === 0) throw illegal('aggregate proofs are not verified by the devnet: send one proof per sector');
    if (p.aggregateProofType !== null) throw illegal('aggregate proof type must be null with batched proofs');
    if (p.sectorProofs.length !== p.sectorActivations.length) throw illegal(`mismatched lengths: ${p.sectorActivations.length} sector activations, ${p.sectorProofs.length} proofs`);
    const seen = new Set<number>();
    const pcs = p.sectorActivations.map((a) => {
      if (seen.has(a.sectorNumber)) throw illegal(`duplicate sector ${a.sectorNumber}`);
      seen.add(a.sectorNumber);
      const pc = miner.precommits.get(a.sectorNumber);
      if (!pc) throw new ActorError(ExitCode.ErrNotFound, `no pre-committed sector ${a.sectorNumber}`);
      return pc;
    });
    const proven: { pc: PreCommitRecord; deals: number[] }[] = [];
    const fails: { Idx: number; Code: number }[] = [];
    const reasons: string[] = [];
    const dealsInBatch = new Set<number>();
    for (let i = 0; i < pcs.length; i++) {
      const pc = pcs[i];
      const a = p.sectorActivations[i];
      const n = a.sectorNumber;
      try {
        miner.checkProveCommit(epoch, n);
        const { ticket, seed } = this.sealRandomness(miner, pc);
        this.stats.proofVerifications++;
        const v = await this.verifier.verifySeal(miner, pc, p.sectorProofs[i], ticket, seed);
        if (!v.valid) throw illegal(`invalid seal proof for sector ${n}: ${v.reason}`);
        for (const piece of a.pieces) if (piece.verifiedAllocationKey) throw illegal(`sector ${n}: verified (FIL+) allocations are not supported by the devnet`);
        let commPs: proofs.PieceInfo[];
        try {
          commPs = a.pieces.map((x) => ({ size: x.size, commP: proofs.cidToCommP(x.cid['/']) }));
        } catch (e) {
          throw illegal(`sector ${n}: a piece CID is not a piece commitment: ${(e as Error).message}`);
        }
        const commD = await sectorCommD(miner.info.sealProof, commPs, `sector ${n}`);
        const declared = pc.info.unsealedCid?.['/'] ?? (await sectorCommD(miner.info.sealProof, [], `sector ${n}`));
        if (commD !== declared) throw illegal(`sector ${n}: the pieces' CommD ${commD} is not the pre-committed UnsealedCid ${declared}`);
        const deals: number[] = [];
        for (const piece of a.pieces) {
          for (const note of piece.notify) {
            try {
              const target = parseAddress(note.address);
              if (target.id !== BigInt(MARKET_ACTOR_ID)) throw illegal(`the devnet delivers activation notifications only to the market actor (f05), not ${note.address}`);
              let dealId: number;
              try {
                dealId = decodeDealIdPayload(note.payload);
              } catch (e) {
                throw new ActorError(ExitCode.ErrSerialization, `notification payload is not a deal id: ${(e as Error).message}`);
              }
              this.market.checkNotification(epoch, miner.info.id, { dealId, pieceCid: piece.cid['/'], pieceSize: piece.size, sectorExpiration: pc.info.expiration }, dealsInBatch);
              deals.push(dealId);
            } catch (e) {
              if (p.requireNotificationSuccess) throw e;
              log.info({ miner: miner.info.address, sector: n, err: e }, 'activation notification rejected');
            }
          }
        }
        for (const d of deals) dealsInBatch.add(d);
        proven.push({ pc, deals });
      } catch (e) {
        if (p.requireActivationSuccess) throw e;
        fails.push({ Idx: i, Code: e instanceof ActorError ? e.exitCode : ExitCode.ErrIllegalArgument });
        reasons.push(`sector ${n}: ${(e as Error).message}`);
      }
    }
    if (proven.length === 0) throw illegal(`no valid proofs specified: ${reasons.join('; ')}`);
    const pledge = devnetFunds.initialPledge(miner.info.sectorSize);
    const released = proven.reduce((sum, x) => sum + BigInt(x.pc.deposit ?? '0'), 0n);
    miner.lockInitialPledge(value, released, pledge * BigInt(proven.length));
    miner.activate(epoch, proven.map((x) => x.pc), () => pledge);
    for (const x of proven) this.market.activate(epoch, x.pc.info.sectorNumber, x.deals);
    const batch = { SuccessCount: proven.length, FailCodes: fails };
    return { exitCode: ExitCode.Ok, ret: cborEncode([proven.length, fails.map((f) => [f.Idx, f.Code])]), retDec: batch };
  }

  /**
   * AddBalance's checks, in the actor's order: a positive value, then the address in the
   * params resolved to an actor (account or miner; builtin-actors' escrow_address). Returns
   * the actor ID whose escrow the value goes to; throws an ActorError.
   */
  private addBalanceTarget(value: bigint, params: Buffer): number {
    if (value <= 0n) throw new ActorError(ExitCode.ErrIllegalArgument, `balance to add must be greater than zero was: ${value}`);
    let addr: string;
    try {
      const b = cborDecode(params);
      if (!(b instanceof Uint8Array)) throw new TypeError('expected the address bytes');
      addr = addressFromBytes(b, this.network);
    } catch (e) {
      throw new ActorError(ExitCode.ErrSerialization, `failed to decode AddBalance params: ${(e as Error).message}`);
    }
    const id = this.actorId(addr);
    if (id === undefined) throw new ActorError(ExitCode.ErrIllegalArgument, `failed to resolve address ${addr}`);
    return id;
  }

  /** A message to the market actor (t05): AddBalance, PublishStorageDeals. */
  private executeMarket(sm: SignedMessage, epoch: number, value: bigint): ExecResult {
    const m = sm.Message;
    if (m.Method !== MarketMethod.PublishStorageDeals && m.Method !== MarketMethod.AddBalance) {
      return { exitCode: ExitCode.ErrUnhandledMessage, error: `method ${m.Method} is not supported by the devnet market actor (only AddBalance, 2, and PublishStorageDeals, 4)` };
    }
    try {
      if (m.Method === MarketMethod.AddBalance) {
        // The value stays with the market actor (the sender's balance was debited by execute()).
        this.market.addBalance(this.addBalanceTarget(value, fromB64(m.Params)), value);
        return { exitCode: ExitCode.Ok };
      }
      const deals = decodePublishStorageDeals(fromB64(m.Params), this.network);
      const caller = this.resolveKeyAddress(m.From);
      const r = this.market.publish(epoch, caller, deals, {
        provider: (addr) => {
          try {
            const a = parseAddress(addr);
            const miner = a.id !== undefined ? this.miners.get(idAddress(a.id, this.network)) : undefined;
            return miner && { id: miner.info.id, sectorSize: miner.info.sectorSize, isController: (x: string) => miner.isController(x) };
          } catch {
            return undefined;
          }
        },
        clientId: (addr) => {
          const id = this.actorId(addr);
          return id !== undefined && this.account(idAddress(id, this.network)) ? id : undefined;
        },
        networkRawPower: this.totalPower(),
      });
      if (r.rejected.length) log.info({ cid: sm.CID?.['/'], rejected: r.rejected }, 'PublishStorageDeals dropped invalid deals');
      return { exitCode: ExitCode.Ok, ret: encodePublishReturn({ IDs: r.ids, ValidDeals: r.valid }), retDec: { IDs: r.ids, ValidDeals: r.valid } };
    } catch (e) {
      if (e instanceof ActorError) return { exitCode: e.exitCode, error: e.message };
      if (e instanceof ParamsError) return { exitCode: ExitCode.ErrSerialization, error: e.message };
      return { exitCode: ExitCode.ErrIllegalArgument, error: (e as Error).message };
    }
  }

  /** StateDealProviderCollateralBounds (builtin-actors' bounds over the devnet's figures; see market.ts). */
  providerCollateralBounds(pieceSize: number): { min: bigint; max: bigint } {
    return providerCollateralBounds(pieceSize, this.totalPower());
  }

  /** Ticket and seed of a pre-committed sector: the chain's, or the pinned fixture values. */
  sealRandomness(miner: MinerActor, pc: PreCommitRecord): { ticket: Buffer; seed: Buffer } {
    const pin = this.genesis.pinnedSealRandomness.find(
      (p) => p.sector === pc.info.sectorNumber && (p.miner === miner.info.id || (typeof p.miner === 'string' && p.miner.slice(1) === miner.info.address.slice(1))),
    );
    if (pin) return { ticket: Buffer.from(pin.ticket, 'hex'), seed: Buffer.from(pin.seed, 'hex') };
    const entropy = addressCbor(miner.info.address);
    return {
      ticket: this.randomnessFromTickets(DomainSeparationTag.SealRandomness, pc.info.sealRandEpoch, entropy),
      seed: this.randomnessFromBeacon(DomainSeparationTag.InteractiveSealChallengeSeed, miner.interactiveEpoch(pc), entropy),
    };
  }

  // ------------------------------------------------------------------ mining

  /** MinerGetBaseInfo: null when the miner has no provable sectors (as Lotus). */
  async baseInfo(maddr: string, round: number, tsk: Cid[] | null): Promise<MiningBaseInfo | null> {
    const base = this.resolveTsk(tsk);
    const m = this.miner(maddr);
    if (!Number.isInteger(round) || round <= base.Height) throw new ApiError(`round ${round} must be after the base tipset's height ${base.Height}`);
    if (round > this.head().Height + 1) throw new ApiError(`round ${round} is in the future (head ${this.head().Height})`);
    const prev = this.chain[base.Height].beacon;
    const entries: BeaconEntry[] = [];
    for (let r = base.Height + 1; r <= round; r++) entries.push(this.beaconAt(r));
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

  private systemBlock(height: number, parents: Cid[], beacon: BeaconEntry, parentWeight: string): BlockHeader {
    const ticket = blake2b(Buffer.concat([fromB64(beacon.Data), Buffer.from(`devnet-${height}`)]), { dkLen: 32 });
    return {
      Miner: idAddress(0, this.genesis.network),
      Ticket: { VRFProof: b64(ticket) },
      ElectionProof: null,
      BeaconEntries: [beacon],
      WinPoStProof: [],
      Parents: parents,
      ParentWeight: parentWeight,
      Height: height,
      ParentStateRoot: this.stateRoot(height - 1),
      ParentMessageReceipts: this.receiptsRoot(height - 1),
      Messages: cborCid(cborEncode([[], []])),
      BLSAggregate: null,
      Timestamp: this.timestampOf(height),
      BlockSig: null,
      ForkSignaling: 0,
      ParentBaseFee: '100',
    };
  }

  private stateRoot(height: number): Cid {
    return cborCid(cborEncode(['devnet-state', this.genesis.seed, Math.max(height, -1)]));
  }

  private receiptsRoot(height: number): Cid {
    const r = height >= 0 && this.chain[height] ? this.chain[height].receipts.map((l) => [l.Receipt.ExitCode, l.Message['/']]) : [];
    return cborCid(cborEncode(r));
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

  private async acceptBlock(bm: BlockMsg): Promise<void> {
    const h = bm?.Header;
    if (!h || typeof h !== 'object') throw new ApiError('invalid block: missing Header');
    const bad = (why: string) => new ApiError(`block rejected: ${why}`);
    const head = this.head();
    if (h.Height !== head.Height + 1) throw bad(`height ${h.Height} is not the next epoch ${head.Height + 1}`);
    if (!Array.isArray(h.Parents) || h.Parents.map((c) => c['/']).join(',') !== head.Cids.map((c) => c['/']).join(',')) throw bad('parents are not the current head');
    const m = this.miner(h.Miner);
    if ((this.pending.get(h.Height) ?? []).some((b) => b.header.Miner === m.info.address)) throw bad(`miner ${h.Miner} already has a block at height ${h.Height}`);
    if (h.Timestamp !== this.timestampOf(h.Height)) throw bad(`timestamp ${h.Timestamp}, expected ${this.timestampOf(h.Height)}`);
    const prev = this.chain[head.Height].beacon;
    const expected = this.beaconAt(h.Height);
    if (!Array.isArray(h.BeaconEntries) || h.BeaconEntries.length !== 1 || h.BeaconEntries[0].Round !== expected.Round || h.BeaconEntries[0].Data !== expected.Data) throw bad('wrong beacon entries');
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
      v = await proofs.verifyWinningPoSt(rand, replicas, h.WinPoStProof.map((p) => ({ postProof: p.PoStProof, proofBytes: fromB64(p.ProofBytes) })), proverId);
    } catch (e) {
      v = { valid: false, reason: (e as Error).message };
    }
    if (!v.valid) throw bad(`invalid Winning PoSt: ${v.reason}`);
    // The head may have moved while verifying.
    if (this.head().Height + 1 !== h.Height) throw bad('arrived after its epoch closed');
    const list = this.pending.get(h.Height) ?? [];
    if (list.some((b) => b.header.Miner === m.info.address)) throw bad(`miner ${h.Miner} already has a block at height ${h.Height}`);
    list.push({ header: h, cid: blockCid(h)['/'] });
    this.pending.set(h.Height, list);
    log.info({ miner: h.Miner, height: h.Height, wins }, 'block accepted');
  }

  // ------------------------------------------------------------------ epochs

  /** Stops the epoch clock (tests: later epochs only by advance()). */
  stopClock(): void {
    this.clockRunning = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private schedule(): void {
    if (this.closed || !this.clockRunning) return;
    const next = this.head().Height + 1;
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
    this.timer = setTimeout(() => {
      this.advance().then(
        () => this.schedule(),
        (e) => {
          log.error({ err: e }, 'epoch failed');
          this.schedule();
        },
      );
    }, wait);
  }

  /** Produces the next tipset: blocks submitted for it (or a system block), messages, cron. */
  advance(): Promise<TipSet> {
    if (this.advancing) return this.advancing.then(() => this.advance());
    this.advancing = this.doAdvance().finally(() => {
      this.advancing = undefined;
    });
    return this.advancing;
  }

  /** Advances until the head reaches `height`. */
  async advanceTo(height: number): Promise<TipSet> {
    while (this.head().Height < height) await this.advance();
    return this.head();
  }

  private async doAdvance(): Promise<TipSet> {
    if (this.closed) throw new ApiError('devnet is closed');
    if (this.arriving.size > 0) await Promise.allSettled([...this.arriving]);
    const parent = this.head();
    const h = parent.Height + 1;
    const beacon = this.beaconAt(h);
    const blocks = this.pending.get(h) ?? [];
    this.pending.delete(h);
    const headers = blocks.length > 0 ? blocks.map((b) => b.header) : [this.systemBlock(h, parent.Cids, beacon, this.weight.toString())];
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
    for (const m of this.miners.values()) {
      const faulted = m.cron(h);
      if (faulted.length > 0) log.warn({ miner: m.info.address, epoch: h, sectors: faulted.length }, 'deadline closed without proof: sectors faulted');
    }
    this.weight += BigInt(headers.reduce((a, b) => a + (b.ElectionProof?.WinCount ?? 0), 0)) + 1n;
    const rec: EpochRecord = { tipset, beacon, receipts, messages: msgs.map((sm) => sm.Message) };
    appendDurable(this.chainFd, JSON.stringify(rec));
    this.chain.push(rec);
    for (const l of receipts) this.lookups.set(l.Message['/'], l);
    this.snapshot();
    ftruncateSync(this.mpoolFd, 0);
    this.stats.epochs++;
    this.emit('head', tipset);
    return tipset;
  }

  /** Stops the epoch clock and closes files (state is already durable). */
  async close(): Promise<void> {
    if (this.closed) return;
    if (this.timer) clearTimeout(this.timer);
    await this.advancing?.catch(() => undefined);
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

function isSealedCid(c: Cid): boolean {
  try {
    proofs.cidToCommR(c['/']);
    return true;
  } catch {
    return false;
  }
}
