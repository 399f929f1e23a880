// Lotus v1 full-node JSON-RPC client with failover: HTTP POST for calls, WebSocket for
// ChainNotify (go-jsonrpc channels: `xrpc.ch.val`). Configured the Lotus way:
//   FULLNODE_API_INFO=TOKEN:/ip4/127.0.0.1/tcp/1234/http[,TOKEN2:/ip4/…/tcp/…/http]
// A daemon that fails (connection error, timeout, 5xx) is skipped for `retryAfterMs` and the
// next one is asked within the same call; head subscriptions move to the next daemon and
// replay the heights they missed (ChainGetTipSetByHeight), so no head is lost or repeated.
import { EventEmitter } from 'node:events';
import WebSocket from 'ws';
import type { DeadlineInfo } from './deadlines.js';
import type {
  APIVersion,
  BlockMsg,
  BlockTemplate,
  DeadlineJson,
  HeadChange,
  Message,
  MessageSendSpec,
  MinerInfo,
  MinerPower,
  MiningBaseInfo,
  MsgLookup,
  PartitionJson,
  SectorLocation,
  SectorOnChainInfo,
  SectorPreCommitOnChainInfo,
  SectorPreCommitInfo,
  KeyType,
  Signature,
  SignedMessage,
  TipSet,
  TipSetKey,
} from './api-types.js';
import { type BitSet, bitfieldFromJson, bitfieldToJson } from './bitfield.js';
import { DomainSeparationTag } from './builtin-actors.js';
import { type Cid, tipsetKeyString } from './cid.js';
import { b64, fromB64 } from './encoding.js';
import { logger } from '../log.js';
import { LiveSet, counter, gauge } from '../metrics/index.js';
import { type Limiter, limiter } from '../util/limit.js';
import { RpcError } from '../net/json-rpc.js';
import { rpcCall } from '../net/rpc-client.js';

const log = logger('chain-client');

// Metrics (src/metrics; counted in the thread that uses the client).
const failovers = counter({
  name: 'distminer_chain_failovers_total',
  help: 'Times a chain daemon stopped answering (or streaming heads) and the client went on to the next one (or, with one daemon, waits to retry it)',
  labelNames: ['endpoint'],
});
const liveSubscriptions = new LiveSet<HeadSubscription>();
gauge({
  name: 'distminer_chain_head_lag_seconds',
  help: 'Seconds between now and the timestamp of the last chain head received from the daemon (by endpoint streaming heads; none before the first head)',
  labelNames: ['endpoint'],
  collect() {
    this.reset();
    const lag = new Map<string, number>();
    for (const s of liveSubscriptions) {
      const t = s.headTimestamp;
      const ep = s.endpointUrl;
      if (t !== undefined && ep !== undefined) lag.set(ep, Math.max(lag.get(ep) ?? -Infinity, Date.now() / 1000 - t));
    }
    for (const [endpoint, v] of lag) this.set({ endpoint }, v);
  },
});

export interface Endpoint {
  token: string;
  /** http://host:port/rpc/v1 */
  http: string;
  /** ws://host:port/rpc/v1 */
  ws: string;
}

/** Parses FULLNODE_API_INFO: `TOKEN:/ip4/A/tcp/P/http` (or `/ws`, or a URL), comma-separated. */
export function parseApiInfo(info: string): Endpoint[] {
  const out: Endpoint[] = [];
  for (const raw of info
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const i = raw.indexOf(':');
    const token = i >= 0 && !/^(https?|wss?):$/.test(raw.slice(0, i + 1)) ? raw.slice(0, i) : '';
    const addr = token || raw.startsWith(':') ? raw.slice(i + 1) : raw;
    let host: string;
    let port: string;
    let secure: boolean;
    const m = /^\/(ip4|ip6|dns|dns4|dns6)\/([^/]+)\/tcp\/(\d+)(?:\/(http|https|ws|wss))?\/?$/.exec(addr);
    if (m) {
      host = m[1] === 'ip6' ? `[${m[2]}]` : m[2];
      port = m[3];
      secure = m[4] === 'https' || m[4] === 'wss';
    } else {
      let u: URL;
      try {
        u = new URL(addr);
      } catch {
        throw new Error(`cannot parse API info "${raw.replace(token, '<token>')}": expected TOKEN:/ip4/HOST/tcp/PORT/http`);
      }
      host = u.hostname.includes(':') ? `[${u.hostname}]` : u.hostname;
      port = u.port || (u.protocol === 'https:' || u.protocol === 'wss:' ? '443' : '80');
      secure = u.protocol === 'https:' || u.protocol === 'wss:';
    }
    out.push({ token, http: `${secure ? 'https' : 'http'}://${host}:${port}/rpc/v1`, ws: `${secure ? 'wss' : 'ws'}://${host}:${port}/rpc/v1` });
  }
  if (out.length === 0) throw new Error('API info is empty');
  return out;
}

/** An error the daemon answered with (JSON-RPC error object, net/json-rpc.ts): not a reason to fail over. */
export { RpcError };

/** No daemon answered. */
export class ChainUnavailableError extends Error {
  override name = 'ChainUnavailableError';
}

export interface ClientOptions {
  /** Per-request deadline (ms); a daemon that does not answer within it is skipped. Default 10 s. */
  timeoutMs?: number;
  /** How long a failed daemon is skipped before it is tried again. Default 10 s. */
  retryAfterMs?: number;
  /**
   * Calls in flight at once (default 16); more wait their turn. Node's fetch opens one
   * connection per concurrent request, and a node (or a proxy, or the devnet's hardened server)
   * may refuse a client that opens dozens at once: `proving deadlines` asks for 48 deadlines.
   */
  maxInFlight?: number;
}

export interface CallOptions {
  timeoutMs?: number;
}

export interface WaitOptions {
  /** Bounds the whole wait (default 10 min). */
  timeoutMs?: number;
  /** Between two StateSearchMsg polls (default 1 s). */
  pollMs?: number;
}

/** A message had no receipt within the wait's bound; it may still land later. */
export class MessageWaitTimeoutError extends Error {
  override name = 'MessageWaitTimeoutError';
}

/** Lotus writes an empty list as `null` (a Go nil slice); callers always get an array. */
export function list<T>(x: T[] | null | undefined): T[] {
  return x ?? [];
}

export class ChainClient {
  readonly endpoints: Endpoint[];
  private readonly timeoutMs: number;
  private readonly retryAfterMs: number;
  private downUntil: number[];
  private preferred = 0;
  private nextId = 1;
  private readonly limit: Limiter;

  constructor(apiInfo: string | Endpoint[], opts: ClientOptions = {}) {
    this.endpoints = typeof apiInfo === 'string' ? parseApiInfo(apiInfo) : apiInfo;
    this.timeoutMs = opts.timeoutMs ?? 10_000;
    this.retryAfterMs = opts.retryAfterMs ?? 10_000;
    this.limit = limiter(Math.max(1, opts.maxInFlight ?? 16));
    this.downUntil = this.endpoints.map(() => 0);
  }

  /** From the environment, as Lotus tools read it. */
  static fromEnv(env: NodeJS.ProcessEnv = process.env, opts?: ClientOptions): ChainClient {
    const info = env.FULLNODE_API_INFO;
    if (!info) throw new Error('FULLNODE_API_INFO is not set (TOKEN:/ip4/127.0.0.1/tcp/1234/http)');
    return new ChainClient(info, opts);
  }

  /** Endpoint indices in the order to try: the preferred first, failed ones last. */
  order(): number[] {
    const now = Date.now();
    const n = this.endpoints.length;
    const idx = Array.from({ length: n }, (_, k) => (this.preferred + k) % n);
    return [...idx.filter((i) => this.downUntil[i] <= now), ...idx.filter((i) => this.downUntil[i] > now)];
  }

  markDown(i: number, why: string): void {
    if (this.downUntil[i] <= Date.now()) {
      log.warn({ endpoint: this.endpoints[i].http, why }, 'chain daemon unavailable, failing over');
      failovers.inc({ endpoint: this.endpoints[i].http });
    }
    this.downUntil[i] = Date.now() + this.retryAfterMs;
    if (this.preferred === i) this.preferred = (i + 1) % this.endpoints.length;
  }

  isUp(i: number): boolean {
    return this.downUntil[i] <= Date.now();
  }

  markUp(i: number): void {
    this.downUntil[i] = 0;
    this.preferred = i;
  }

  /** A raw call: `method` without or with the `Filecoin.` prefix. */
  call<T>(method: string, params: unknown[] = [], opts: CallOptions = {}): Promise<T> {
    return this.limit(() => this.callNow<T>(method, params, opts));
  }

  private async callNow<T>(method: string, params: unknown[], opts: CallOptions): Promise<T> {
    const full = method.includes('.') ? method : `Filecoin.${method}`;
    const errors: string[] = [];
    for (const i of this.order()) {
      const ep = this.endpoints[i];
      let result: T;
      try {
        result = await rpcCall<T>(ep.http, full, params, { token: ep.token, timeoutMs: opts.timeoutMs ?? this.timeoutMs, id: this.nextId++ });
      } catch (e) {
        // The daemon's own answer (an error object) is not a reason to fail over.
        if (e instanceof RpcError) {
          this.markUp(i);
          throw new RpcError(e.code, `${full}: ${e.message}`, full);
        }
        // No answer, or a wrong token for this daemon (another daemon may have the right one).
        const why = (e as Error).message;
        errors.push(why);
        this.markDown(i, why);
        continue;
      }
      this.markUp(i);
      return result;
    }
    throw new ChainUnavailableError(`${full}: no chain daemon answered (${errors.join('; ')})`);
  }

  // ------------------------------------------------------------------ typed API

  version(): Promise<APIVersion> {
    return this.call('Version');
  }
  chainHead(): Promise<TipSet> {
    return this.call('ChainHead');
  }
  chainGetTipSet(tsk: TipSetKey): Promise<TipSet> {
    return this.call('ChainGetTipSet', [tsk]);
  }
  chainGetTipSetByHeight(height: number, tsk: TipSetKey | null = null): Promise<TipSet> {
    return this.call('ChainGetTipSetByHeight', [height, tsk]);
  }
  async stateMinerInfo(miner: string, tsk: TipSetKey | null = null): Promise<MinerInfo> {
    const info = await this.call<MinerInfo>('StateMinerInfo', [miner, tsk]);
    return { ...info, ControlAddresses: list(info.ControlAddresses) };
  }
  stateAccountKey(addr: string, tsk: TipSetKey | null = null): Promise<string> {
    return this.call('StateAccountKey', [addr, tsk]);
  }
  stateMinerPower(miner: string, tsk: TipSetKey | null = null): Promise<MinerPower> {
    return this.call('StateMinerPower', [miner, tsk]);
  }
  stateMinerProvingDeadline(miner: string, tsk: TipSetKey | null = null): Promise<DeadlineInfo> {
    return this.call('StateMinerProvingDeadline', [miner, tsk]);
  }
  async stateMinerDeadlines(miner: string, tsk: TipSetKey | null = null): Promise<DeadlineJson[]> {
    return list(await this.call<DeadlineJson[] | null>('StateMinerDeadlines', [miner, tsk]));
  }
  async stateMinerPartitions(miner: string, deadline: number, tsk: TipSetKey | null = null): Promise<PartitionJson[]> {
    return list(await this.call<PartitionJson[] | null>('StateMinerPartitions', [miner, deadline, tsk]));
  }
  /** Sectors of the miner, all of them or those in `filter`. */
  async stateMinerSectors(miner: string, filter: BitSet | null = null, tsk: TipSetKey | null = null): Promise<SectorOnChainInfo[]> {
    return list(await this.call<SectorOnChainInfo[] | null>('StateMinerSectors', [miner, filter ? bitfieldToJson(filter) : null, tsk]));
  }
  async stateMinerActiveSectors(miner: string, tsk: TipSetKey | null = null): Promise<SectorOnChainInfo[]> {
    return list(await this.call<SectorOnChainInfo[] | null>('StateMinerActiveSectors', [miner, tsk]));
  }
  stateSectorGetInfo(miner: string, sector: number, tsk: TipSetKey | null = null): Promise<SectorOnChainInfo | null> {
    return this.call('StateSectorGetInfo', [miner, sector, tsk]);
  }
  stateSectorPartition(miner: string, sector: number, tsk: TipSetKey | null = null): Promise<SectorLocation> {
    return this.call('StateSectorPartition', [miner, sector, tsk]);
  }
  stateSectorPreCommitInfo(miner: string, sector: number, tsk: TipSetKey | null = null): Promise<SectorPreCommitOnChainInfo | null> {
    return this.call('StateSectorPreCommitInfo', [miner, sector, tsk]);
  }
  stateMinerSectorAllocated(miner: string, sector: number, tsk: TipSetKey | null = null): Promise<boolean> {
    return this.call('StateMinerSectorAllocated', [miner, sector, tsk]);
  }
  /** Every sector number the miner has allocated (pre-committed at least once), sorted. */
  async stateMinerAllocated(miner: string, tsk: TipSetKey | null = null): Promise<BitSet> {
    return bitfieldFromJson(await this.call('StateMinerAllocated', [miner, tsk]), 'StateMinerAllocated');
  }
  async stateMinerFaults(miner: string, tsk: TipSetKey | null = null): Promise<BitSet> {
    return bitfieldFromJson(await this.call('StateMinerFaults', [miner, tsk]), 'StateMinerFaults');
  }
  async stateMinerRecoveries(miner: string, tsk: TipSetKey | null = null): Promise<BitSet> {
    return bitfieldFromJson(await this.call('StateMinerRecoveries', [miner, tsk]), 'StateMinerRecoveries');
  }
  async stateGetRandomnessFromTickets(tag: DomainSeparationTag, epoch: number, entropy: Uint8Array, tsk: TipSetKey | null = null): Promise<Buffer> {
    return fromB64(await this.call('StateGetRandomnessFromTickets', [tag, epoch, b64(entropy), tsk]));
  }
  async stateGetRandomnessFromBeacon(tag: DomainSeparationTag, epoch: number, entropy: Uint8Array, tsk: TipSetKey | null = null): Promise<Buffer> {
    return fromB64(await this.call('StateGetRandomnessFromBeacon', [tag, epoch, b64(entropy), tsk]));
  }
  /** Null when the miner has nothing to mine with (Lotus returns null too). */
  async minerGetBaseInfo(miner: string, round: number, tsk: TipSetKey): Promise<MiningBaseInfo | null> {
    const bi = await this.call<MiningBaseInfo | null>('MinerGetBaseInfo', [miner, round, tsk]);
    return bi && { ...bi, Sectors: list(bi.Sectors), BeaconEntries: list(bi.BeaconEntries) };
  }
  minerCreateBlock(t: BlockTemplate): Promise<BlockMsg> {
    return this.call('MinerCreateBlock', [t]);
  }
  async syncSubmitBlock(b: BlockMsg): Promise<void> {
    await this.call('SyncSubmitBlock', [b]);
  }
  /** Pushes a message: the daemon fills nonce and gas and signs with From's key. */
  mpoolPushMessage(m: Partial<Message> & Pick<Message, 'To' | 'From' | 'Method'>, spec: MessageSendSpec | null = null): Promise<SignedMessage> {
    const msg: Message = { Version: 0, Nonce: 0, Value: '0', GasLimit: 0, GasFeeCap: '0', GasPremium: '0', Params: null, ...m };
    return this.call('MpoolPushMessage', [msg, spec]);
  }
  /**
   * Waits for a message's receipt with `confidence` tipsets on top of the one that holds it, as
   * Lotus's StateWaitMsg does, by polling StateSearchMsg every `pollMs` (default 1 s). Not the
   * StateWaitMsg long poll: over HTTP the client cuts a request unanswered for 300 s (undici's
   * headers timeout: "Headers Timeout Error"), a daemon restart loses it, and failing over
   * would wait on a daemon that may not have the message yet. Each poll is a short call that
   * fails over like any other; a daemon down for a while is retried until `timeoutMs` (default
   * 10 min) bounds the whole wait. Logs once a minute while it waits.
   */
  async stateWaitMsg(cid: Cid, confidence = 0, opts: WaitOptions = {}): Promise<MsgLookup> {
    const timeoutMs = opts.timeoutMs ?? 600_000;
    const pollMs = opts.pollMs ?? 1000;
    const started = Date.now();
    let lastLog = started;
    let why: string;
    for (;;) {
      try {
        const l = await this.stateSearchMsg(cid);
        if (l) {
          if (confidence <= 0) return l;
          const head = await this.chainHead();
          if (head.Height >= l.Height + confidence) return l;
          why = `at height ${l.Height}, head ${head.Height}, waiting for ${confidence} on top`;
        } else why = 'not yet on chain';
      } catch (e) {
        if (!(e instanceof ChainUnavailableError)) throw e;
        why = e.message;
      }
      const now = Date.now();
      if (now - started + pollMs > timeoutMs)
        throw new MessageWaitTimeoutError(`StateWaitMsg ${cid['/']}: no receipt with ${confidence} confirmation(s) within ${Math.round(timeoutMs / 1000)} s (${why})`);
      if (now - lastLog >= 60_000) {
        lastLog = now;
        log.info({ cid: cid['/'], waitedS: Math.round((now - started) / 1000), why }, 'still waiting for a message');
      }
      await new Promise((r) => setTimeout(r, pollMs));
    }
  }
  stateSearchMsg(cid: Cid): Promise<MsgLookup | null> {
    return this.call('StateSearchMsg', [null, cid, -1, true]);
  }
  /** CIDs of the messages executed from the head back to `toHeight` (inclusive) matching To/From as written. */
  stateListMessages(match: { To?: string; From?: string }, toHeight: number, tsk: TipSetKey | null = null, opts: CallOptions = {}): Promise<Cid[] | null> {
    return this.call('StateListMessages', [match, tsk, toHeight], opts);
  }
  /** The signed messages waiting in the node's mpool as of `tsk` (Lotus writes none as null: []). */
  async mpoolPending(tsk: TipSetKey | null = null): Promise<SignedMessage[]> {
    return (await this.call<SignedMessage[] | null>('MpoolPending', [tsk])) ?? [];
  }
  chainGetMessage(cid: Cid): Promise<Message> {
    return this.call('ChainGetMessage', [cid]);
  }
  async walletSign(addr: string, data: Uint8Array): Promise<Signature> {
    return this.call('WalletSign', [addr, b64(data)]);
  }

  // ---- sealing funds and miner creation (what lotus-miner asks before it sends value)

  /** The deposit PreCommitSectorBatch2 locks for this sector (attoFIL). */
  async stateMinerPreCommitDepositForPower(miner: string, info: SectorPreCommitInfo, tsk: TipSetKey | null = null): Promise<bigint> {
    return BigInt(await this.call<string>('StateMinerPreCommitDepositForPower', [miner, info, tsk]));
  }
  /** The initial pledge of a sector that lives `duration` epochs from `tsk` (attoFIL). */
  async stateMinerInitialPledgeForSector(duration: number, sectorSize: number, verifiedSize: number, tsk: TipSetKey | null = null): Promise<bigint> {
    return BigInt(await this.call<string>('StateMinerInitialPledgeForSector', [duration, sectorSize, verifiedSize, tsk]));
  }
  /** What CreateMiner must carry as value (FIP-0077), attoFIL. */
  async stateMinerCreationDeposit(tsk: TipSetKey | null = null): Promise<bigint> {
    return BigInt(await this.call<string>('StateMinerCreationDeposit', [tsk]));
  }
  stateNetworkVersion(tsk: TipSetKey | null = null): Promise<number> {
    return this.call('StateNetworkVersion', [tsk]);
  }
  /** The ID address of an actor (fails when the address has no actor on chain yet). */
  stateLookupID(addr: string, tsk: TipSetKey | null = null): Promise<string> {
    return this.call('StateLookupID', [addr, tsk]);
  }
  /** A new key in the node's wallet. */
  walletNew(type: KeyType = 'bls'): Promise<string> {
    return this.call('WalletNew', [type]);
  }
  walletDefaultAddress(): Promise<string> {
    return this.call('WalletDefaultAddress', []);
  }
  async walletBalance(addr: string): Promise<bigint> {
    return BigInt(await this.call<string>('WalletBalance', [addr]));
  }

  /** Follows the chain head; see {@link HeadSubscription}. */
  chainNotify(onChanges: (changes: HeadChange[]) => void | Promise<void>, opts: SubscriptionOptions = {}): HeadSubscription {
    return new HeadSubscription(this, onChanges, opts);
  }
}

export interface SubscriptionOptions {
  /** A daemon that sends no head for this long is considered stalled (default: none). */
  headTimeoutMs?: number;
  /** WebSocket ping interval; no pong within one more interval = dead (default 2 s). */
  pingMs?: number;
}

/**
 * A ChainNotify subscription that survives daemon failures. Changes are delivered in order,
 * one callback at a time: first `current`, then `apply`/`revert`. After a reconnect, heights
 * missed in between are fetched and delivered as `apply`, so every height is seen once.
 * Emits 'endpoint' (index) on (re)connection and 'error' only for callback failures.
 */
export class HeadSubscription extends EventEmitter {
  private ws: WebSocket | undefined;
  private closed = false;
  private lastHeight = -1;
  /** The key of the last head delivered (its CIDs, joined). */
  private lastKey: string | undefined;
  private queue: Promise<void> = Promise.resolve();
  private stallTimer: NodeJS.Timeout | undefined;
  private pingTimer: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  /** Index of the endpoint currently streaming heads. */
  endpoint = -1;
  /** Timestamp (s) of the last head delivered (its blocks' Timestamp). */
  headTimestamp: number | undefined;
  /** When the last head (or the subscription's start) was seen (ms, wall clock). */
  private lastHeadAt = Date.now();
  /** Why the last daemon failed, until one streams again. */
  private lastFailure: string | undefined;
  private readonly unlist: () => void;

  constructor(
    private readonly client: ChainClient,
    private readonly onChanges: (changes: HeadChange[]) => void | Promise<void>,
    private readonly opts: SubscriptionOptions,
  ) {
    super();
    this.unlist = liveSubscriptions.add(this);
    this.connect(0);
  }

  /** The http URL of the daemon streaming heads now (undefined before the first connection). */
  get endpointUrl(): string | undefined {
    return this.endpoint >= 0 ? this.client.endpoints[this.endpoint].http : undefined;
  }

  /**
   * Why the chain looks gone to this subscription — no new head for three epochs of
   * `blockDelayMs` (at least 10 s): the daemons are unreachable, or stalled — or null.
   */
  trouble(blockDelayMs: number): string | null {
    const silent = Date.now() - this.lastHeadAt;
    if (this.closed || silent <= Math.max(10_000, 3 * blockDelayMs)) return null;
    return `no chain head for ${Math.round(silent / 1000)} s (${this.lastFailure ?? 'the chain node sends none: stalled or syncing'})`;
  }

  /** Height of the last head delivered. */
  get height(): number {
    return this.lastHeight;
  }

  close(): void {
    this.closed = true;
    this.unlist();
    clearTimeout(this.stallTimer);
    clearInterval(this.pingTimer);
    clearTimeout(this.retryTimer);
    this.ws?.terminate();
  }

  private connect(attempt: number): void {
    if (this.closed) return;
    const order = this.client.order();
    const i = order[0];
    const ep = this.client.endpoints[i];
    const ws = new WebSocket(ep.ws, { headers: ep.token ? { authorization: `Bearer ${ep.token}` } : {}, handshakeTimeout: 5000 });
    this.ws = ws;
    let chan: number | undefined;
    let alive = true;
    let failed = false;
    const reqId = 1;
    const fail = (why: string) => {
      if (failed) return;
      failed = true;
      clearTimeout(this.stallTimer);
      clearInterval(this.pingTimer);
      ws.removeAllListeners();
      ws.on('error', () => undefined);
      ws.terminate();
      if (this.closed) return;
      this.client.markDown(i, why);
      this.lastFailure = `${ep.http}: ${why}`;
      // Next daemon at once; when every daemon has failed, back off a little before going round again.
      const anyUp = this.client.endpoints.some((_, k) => this.client.isUp(k));
      this.retryTimer = setTimeout(() => this.connect(attempt + 1), anyUp ? 0 : 500);
    };
    const armStall = () => {
      if (!this.opts.headTimeoutMs) return;
      clearTimeout(this.stallTimer);
      this.stallTimer = setTimeout(() => fail(`no head for ${this.opts.headTimeoutMs} ms`), this.opts.headTimeoutMs);
    };
    ws.on('open', () => {
      ws.send(JSON.stringify({ jsonrpc: '2.0', id: reqId, method: 'Filecoin.ChainNotify', params: [] }));
      const pingMs = this.opts.pingMs ?? 2000;
      this.pingTimer = setInterval(() => {
        if (!alive) return fail(`no pong within ${pingMs} ms`);
        alive = false;
        ws.ping();
      }, pingMs);
      armStall();
    });
    ws.on('pong', () => {
      alive = true;
    });
    ws.on('message', (data) => {
      let msg: { id?: number; result?: unknown; error?: { message: string }; method?: string; params?: unknown[] };
      try {
        msg = JSON.parse(data.toString());
      } catch {
        return fail('unparseable message');
      }
      if (msg.id === reqId) {
        if (msg.error) return fail(`ChainNotify refused: ${msg.error.message}`);
        chan = Number(msg.result);
        this.lastFailure = undefined;
        this.client.markUp(i);
        this.endpoint = i;
        this.emit('endpoint', i);
        return;
      }
      if (msg.method === 'xrpc.ch.val' && Array.isArray(msg.params) && msg.params[0] === chan) {
        armStall();
        const changes = msg.params[1] as HeadChange[];
        this.enqueue(() => this.deliver(changes));
      } else if (msg.method === 'xrpc.ch.close') {
        fail('daemon closed the channel');
      }
    });
    ws.on('close', () => fail('connection closed'));
    ws.on('error', (e) => fail(e.message));
  }

  private enqueue(f: () => Promise<void>): void {
    this.queue = this.queue.then(f).catch((e) => {
      this.emit('error', e);
    });
  }

  private async deliver(changes: HeadChange[]): Promise<void> {
    if (this.closed || !Array.isArray(changes)) return;
    for (const c of changes) {
      const ts = c.Val;
      if (c.Type === 'revert') {
        if (ts.Height <= this.lastHeight) {
          await this.onChanges([c]);
          this.lastHeight = ts.Height - 1;
          this.lastKey = tipsetKeyString(parentsOf(ts));
        }
        continue;
      }
      if (ts.Height <= this.lastHeight) continue; // already seen (a reconnect's `current`)
      if (this.lastHeight >= 0 && this.lastKey !== undefined && tipsetKeyString(parentsOf(ts)) !== this.lastKey) {
        // Tipsets missed while switching daemons: walked back from this head's parents (a gap
        // in heights whose parents are the last head delivered is null rounds: nothing missed).
        for (const missed of await this.missedBefore(ts)) {
          if (this.closed) return;
          await this.onChanges([{ Type: 'apply', Val: missed }]);
          this.lastHeight = missed.Height;
          this.lastKey = tipsetKeyString(missed.Cids);
        }
      }
      const type = this.lastHeight < 0 ? 'current' : 'apply';
      await this.onChanges([{ Type: type, Val: ts }]);
      this.lastHeight = ts.Height;
      this.lastKey = tipsetKeyString(ts.Cids);
      this.lastHeadAt = Date.now();
      this.headTimestamp = ts.Blocks?.[0]?.Timestamp ?? this.headTimestamp;
    }
  }

  /** The tipsets between the last head delivered and `ts`, oldest first: one call per tipset, none per null round. */
  private async missedBefore(ts: TipSet): Promise<TipSet[]> {
    const out: TipSet[] = [];
    for (let p = await this.client.chainGetTipSet(parentsOf(ts)); p.Height > this.lastHeight && !this.closed; p = await this.client.chainGetTipSet(parentsOf(p))) out.unshift(p);
    return out;
  }
}

/** A tipset's parents (every block of a tipset names the same ones). */
const parentsOf = (ts: TipSet): TipSetKey => ts.Blocks[0].Parents;
