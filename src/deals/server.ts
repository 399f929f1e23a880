// The deal miner's HTTP server (node:http): deal intake, the admin API and piece retrieval.
//
//   POST /deals/proposal            public   {deal: ClientDealProposal, transferSize} → 201 {uuid, uploadUrl}
//   PUT  /deals/{uuid}/data?token=  public   the data (exactly transferSize bytes), streamed to disk
//   GET  /deals                     admin    every deal, summarised
//   GET  /deals/{uuid}              admin    one deal
//   GET|HEAD /piece/{pieceCid}      public   the unsealed piece (Range supported)
//
// Admin calls need `Authorization: Bearer <JWT>` with the admin permission (src/auth; 401
// without a valid token, 403 with a lesser one). Memory stays flat however large the piece:
// the body streams (with back-pressure) into a staging file, transfers are bounded (503 +
// Retry-After beyond the limit), a body is cut at its declared size, and a stalled, too slow
// or overlong upload is cut off. The CommP is computed by the native proofs from the staged
// file once the body is on disk (see README.md for why not while streaming).
//
// Hostile peers (README.md, "Limits"): headers are bounded in size and in total time, every
// request but an upload must be complete within a short total deadline, connections are
// limited in all and per address; an upload slot goes only to a PUT with the upload token of
// an Accepted deal, at most a few per address, and is lost by a trickle (minimum rate over a
// window, a total deadline); deals waiting for their data are capped in all, per address and
// per client wallet, and expire (state Expired, with the reason) when no data comes.
// With a chain (the deal role), a proposal is also asked of the market before it is accepted:
// its start, its provider collateral against the market's bounds, and the client's available
// escrow less what its deals here not yet published will lock (402 when short).
import { randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { type Auth, bearerToken, missingPermission } from '../auth/index.js';
import { fsyncDir, writeFileAtomic } from '../util/durable.js';
import { listenSticky, portFromAddressFile } from '../util/listen.js';
import { type Logger, logger } from '../log.js';
import { cidToCommP, commPToCid } from '../proofs/cid.js';
import { RegisteredSealProof, sealProofSectorSize, unpaddedSize } from '../proofs/types.js';
import { type DealMinerArbiter, FileLeaseArbiter } from './arbiter.js';
import { chunkedNativeCommP } from './commp.js';
import { StoreDealPipeline } from './pipeline.js';
import { DealRejected, checkDealRequest } from './proposal.js';
import type { DealProposal } from '../chain/market.js';
import { type ProposalMarket, dealCosts, proposalProblem } from './escrow.js';
import { type DealRecord, DealStore, DealTransitionError, keptAfterFailure } from './store.js';
import { counter } from '../metrics/index.js';

// Metrics (src/metrics; the deal role's thread). Deals by state: src/deals/store.ts.
const dealUploads = counter({
  name: 'distminer_deal_uploads_total',
  help: 'Deal data uploads by outcome: ok (verified), rejected (CommP or size wrong), failed (cut, stalled, too slow), refused (no upload slot, 503)',
  labelNames: ['outcome'],
});
const dealUploadBytes = counter({ name: 'distminer_deal_upload_bytes_total', help: 'Bytes of deal data received in uploads' });
for (const o of ['ok', 'rejected', 'failed', 'refused']) dealUploads.inc({ outcome: o }, 0);

/** Defaults of the limits (README.md lists them). */
export const DEAL_LIMITS = {
  maxTransfers: 4,
  maxTransfersPerPeer: 2,
  stallMs: 60_000,
  uploadBaseMs: 60_000,
  uploadMinBytesPerSec: 1 << 20,
  minRateBytesPerSec: 64 * 1024,
  rateWindowMs: 30_000,
  maxPendingDeals: 128,
  maxPendingPerPeer: 16,
  maxPendingPerClient: 16,
  proposalTtlMs: 30 * 60_000,
  keptPieceRetentionMs: 7 * 24 * 3600_000,
  maxConnections: 512,
  maxConnectionsPerPeer: 32,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 10_000,
  idleMs: 60_000,
  maxHeaderBytes: 8 * 1024,
} as const;

/** The peer key of the per-address limits: the address, IPv4-mapped IPv6 as plain IPv4. */
export function peerOf(addr: string | undefined): string {
  if (!addr) return '?';
  return addr.startsWith('::ffff:') && addr.includes('.') ? addr.slice(7) : addr;
}

export interface DealServerOptions {
  /** Directory of the deal state: `db/` (KV store), `staging/`, `pieces/`, `api`. */
  dir: string;
  /** The miner id deals are taken for (f0…/t0…). */
  minerId: string;
  /** Seal proof of the miner's deal sectors: its sector size bounds a deal (default 2KiB). */
  sealProof?: RegisteredSealProof;
  /** Verifies the admin calls' bearer JWTs (the repository's API secret: `repoAuth(repo)`). */
  auth: Auth;
  host?: string;
  port?: number;
  /** Concurrent uploads; more are answered 503 with Retry-After (default 4). */
  maxTransfers?: number;
  /** Concurrent uploads from one network address (default 2). */
  maxTransfersPerPeer?: number;
  /** An upload with no data for this long is cut off (default 60 s). */
  stallMs?: number;
  /** Upload deadline: base + size / minimum rate (defaults 60 s and 1 MiB/s). */
  uploadBaseMs?: number;
  uploadMinBytesPerSec?: number;
  /** An upload that brings fewer bytes per second than this over a window loses its slot (64 KiB/s, 30 s; 0: off). */
  minRateBytesPerSec?: number;
  rateWindowMs?: number;
  /** Deals waiting for their data (Accepted or Transferring) or kept after failing: in all, per address, per client wallet. */
  maxPendingDeals?: number;
  maxPendingPerPeer?: number;
  maxPendingPerClient?: number;
  /** An Accepted deal whose data has not come within this expires (default 30 min). */
  proposalTtlMs?: number;
  /**
   * A failed deal's kept piece (dataKept) is deleted this long after the failure (default 7
   * days): the operator's time to act on it. Until then it counts in the intake caps, so that
   * deals made to fail cannot fill the disk.
   */
  keptPieceRetentionMs?: number;
  /** Open connections, in all and per address (default 512, 32). */
  maxConnections?: number;
  maxConnectionsPerPeer?: number;
  /** Headers must be complete within this from the connection's first byte (total; default 10 s). */
  headersTimeoutMs?: number;
  /** Every request but an upload must be complete (body too) within this (total; default 10 s). */
  requestTimeoutMs?: number;
  /** A connection with no traffic at all for this long is closed (default 60 s). */
  idleMs?: number;
  /** Largest request head (default 8 KiB; more → 431). */
  maxHeaderBytes?: number;
  /** Who decides there is one deal miner per miner id (default: a lease file in `sharedDir`). */
  arbiter?: DealMinerArbiter;
  /** Shared storage path for the default arbiter's lease (default `dir`). */
  sharedDir?: string;
  leaseMs?: number;
  /** Name of this holder in the arbiter (default host:pid). */
  holder?: string;
  /**
   * Deals are published on chain before they are packed (the deal role with a chain API:
   * src/deals/coordinator.ts publishes them); without it (`deals serve`), verified pieces are
   * offered for packing at once.
   */
  requirePublished?: boolean;
  /**
   * The chain's market, asked about each proposal before it is accepted (the deal role: the
   * client's escrow, the provider collateral bounds, the start; src/deals/escrow.ts
   * proposalProblem). Without it (`deals serve`) only the proposal itself is checked.
   */
  market?: ProposalMarket;
  /**
   * Wall clock for the deals' records, their proposal TTL and kept-piece retention (default
   * Date.now). Tests pass their own, so that an expiry happens when they move time, not when a
   * loaded host happens to stall past it.
   */
  clock?: () => number;
}

/** An upload that went wrong: status and reason for the client. */
class UploadError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const MAX_JSON = 64 * 1024;

/** When the deal failed (its last move to Failed). */
function failedAt(d: DealRecord): number {
  for (let i = d.history.length - 1; i >= 0; i--) if (d.history[i].state === 'Failed') return d.history[i].at;
  return d.updatedAt;
}

/** Whether this deal's verified piece is served at /piece, and whether it is kept on disk (also a failed deal's kept data). */
const servesPiece = (d: DealRecord) => d.state === 'Publishing' || d.state === 'Sealing' || d.state === 'Active';
const keepsPiece = (d: DealRecord) => servesPiece(d) || keptAfterFailure(d);

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent || res.destroyed) return;
  const text = JSON.stringify(body) + '\n';
  // Answered before its body was read: the connection is closed after this answer (see
  // listen()), so tell the client not to reuse it.
  if (!res.req.complete) headers = { ...headers, Connection: 'close' };
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': String(Buffer.byteLength(text)), ...headers });
  res.end(text);
}

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const cl = Number(req.headers['content-length'] ?? 0);
  if (cl > MAX_JSON) throw new DealRejected(413, `a proposal is at most ${MAX_JSON} bytes of JSON`);
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of req) {
    n += (c as Buffer).length;
    if (n > MAX_JSON) throw new DealRejected(413, `a proposal is at most ${MAX_JSON} bytes of JSON`);
    chunks.push(c as Buffer);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new DealRejected(400, 'the body is not JSON');
  }
}

/** A deal as the admin API shows it (without the upload secret). */
export function publicDeal(d: DealRecord): Omit<DealRecord, 'uploadToken'> {
  const { uploadToken: _secret, ...rest } = d;
  return rest;
}

export class DealServer {
  readonly store: DealStore;
  readonly pipeline: StoreDealPipeline;
  readonly sectorSize: number;
  readonly sealProof: RegisteredSealProof;
  private server!: Server;
  private active = 0;
  private readonly activeByPeer = new Map<string, number>();
  /** Deals whose upload holds a slot now (never expired under it). */
  private readonly uploading = new Set<string>();
  /** Open connections by peer address, oldest first (a Set keeps insertion order). */
  private readonly connsByPeer = new Map<string, Set<Socket>>();
  /** Connections with a request being handled (never closed to make room). */
  private readonly busy = new Set<Socket>();
  private expiryTimer: NodeJS.Timeout | undefined;
  private readonly sockets = new Set<Socket>();
  private readonly log: Logger;
  private readonly stagingDir: string;
  private readonly piecesDir: string;
  private readonly background = new Set<Promise<unknown>>();
  /** Set when stopping or when the deal-miner claim was lost: no new deals or uploads. */
  closing = false;
  private stopped = false;
  url = '';

  private constructor(
    private readonly opts: DealServerOptions,
    private readonly arbiter: DealMinerArbiter,
  ) {
    this.log = logger('deals', { miner: opts.minerId });
    this.sealProof = opts.sealProof ?? RegisteredSealProof.StackedDrg2KiBV1_1;
    this.sectorSize = sealProofSectorSize(this.sealProof);
    this.stagingDir = join(opts.dir, 'staging');
    this.piecesDir = join(opts.dir, 'pieces');
    mkdirSync(this.stagingDir, { recursive: true });
    mkdirSync(this.piecesDir, { recursive: true });
    this.store = DealStore.open(join(opts.dir, 'db'), opts.clock);
    this.pipeline = new StoreDealPipeline(this.store, (u) => this.piecePath(u), opts.requirePublished ?? false);
  }

  /** Claims the deal role, opens the state, recovers from a crash, listens. */
  static async start(opts: DealServerOptions): Promise<DealServer> {
    if (!opts.auth) throw new Error('the deal server needs the miner API secret (auth) to check its admin calls');
    let started: DealServer | undefined;
    const arbiter =
      opts.arbiter ??
      new FileLeaseArbiter(opts.sharedDir ?? opts.dir, {
        leaseMs: opts.leaseMs,
        onLost: (by) => {
          // Another deal miner took the role (this host hung past the lease): stop taking deals.
          logger('deals').fatal({ by }, 'lost the deal-miner claim to another holder; refusing new deals and uploads');
          if (started) started.closing = true;
        },
      });
    await arbiter.claim(opts.minerId, opts.holder ?? `deal-server ${process.pid}`);
    let s: DealServer | undefined;
    try {
      s = new DealServer(opts, arbiter);
      await s.recover();
      await s.listen();
      s.startExpiry();
      started = s;
      return s;
    } catch (e) {
      if (s) await s.store.close().catch(() => undefined);
      await arbiter.release();
      throw e;
    }
  }

  stagingPath(uuid: string): string {
    return join(this.stagingDir, `${uuid}.part`);
  }

  piecePath(uuid: string): string {
    return join(this.piecesDir, `${uuid}.piece`);
  }

  // ---------------------------------------------------------------- recovery

  /** After a crash: no deal is left in a state nobody will move it out of, no stray file kept. */
  private async recover(): Promise<void> {
    const verifying: DealRecord[] = [];
    for (const d of this.store.list()) {
      if (d.state === 'Transferring') {
        rmSync(this.stagingPath(d.uuid), { force: true });
        await this.store.transition([d.uuid], 'Failed', {}, 'the deal server stopped during the transfer (crash or restart); the partial data was deleted: propose the deal again');
        this.log.warn({ deal: d.uuid }, 'failed a deal whose transfer was cut by a restart');
      } else if (d.state === 'Verifying') {
        verifying.push(d);
      } else if ((d.state === 'Publishing' || d.state === 'Sealing' || d.state === 'Active') && !existsSync(this.piecePath(d.uuid))) {
        if (d.state === 'Publishing') {
          await this.store.transition([d.uuid], 'Failed', {}, `the verified piece file ${this.piecePath(d.uuid)} is missing`);
        }
        this.log.error({ deal: d.uuid, state: d.state }, 'the unsealed copy of a deal piece is missing: it cannot be retrieved');
      }
    }
    const keepStaging = new Set(verifying.map((d) => `${d.uuid}.part`));
    for (const f of readdirSync(this.stagingDir)) if (!keepStaging.has(f)) rmSync(join(this.stagingDir, f), { force: true });
    for (const f of readdirSync(this.piecesDir)) {
      const uuid = f.replace(/\.piece$/, '');
      const d = this.store.get(uuid);
      const keep = d && (keepsPiece(d) || d.state === 'Verifying');
      if (!keep) rmSync(join(this.piecesDir, f), { force: true });
    }
    // A deal whose body was complete on disk is verified again rather than failed.
    for (const d of verifying) this.track(this.verify(d.uuid).catch((e) => this.log.error({ deal: d.uuid, err: e }, 'verification after restart failed')));
  }

  private track(p: Promise<unknown>): void {
    this.background.add(p);
    void p.finally(() => this.background.delete(p));
  }

  // ---------------------------------------------------------------- HTTP

  private lim<K extends keyof typeof DEAL_LIMITS>(k: K): number {
    return (this.opts[k as keyof DealServerOptions] as number | undefined) ?? DEAL_LIMITS[k];
  }

  private async listen(): Promise<void> {
    const requestTimeoutMs = this.lim('requestTimeoutMs');
    this.server = createServer({ maxHeaderSize: this.lim('maxHeaderBytes') }, (req, res) => {
      try {
        const sock = req.socket;
        this.busy.add(sock);
        res.once('close', () => this.busy.delete(sock));
        // Every request but an upload (which has its own slot, rate and deadline) must be
        // complete, body included, within a total deadline that a trickle cannot extend.
        if (!isUpload(req)) {
          const t = setTimeout(() => {
            if (req.complete) return;
            send(res, 408, { error: `the request did not arrive within ${requestTimeoutMs} ms` }, { Connection: 'close' });
            setTimeout(() => req.socket.destroy(), 100).unref();
          }, requestTimeoutMs);
          res.once('close', () => clearTimeout(t));
        }
        // Answered before its body was read (a refused upload, an error): close the connection
        // rather than let Node read and discard the rest, which a trickle could make last forever.
        res.once('finish', () => {
          if (!req.complete) setTimeout(() => req.socket.destroy(), 100).unref();
        });
        this.route(req, res).catch((e) => {
          const status = e instanceof DealRejected || e instanceof UploadError ? e.status : 500;
          if (status === 500) this.log.error({ err: e }, 'request failed');
          send(res, status, { error: (e as Error).message });
        });
      } catch (e) {
        // Nothing a peer sends may reach the process: log it and close this request only.
        this.log.error({ err: e }, 'request handler failed');
        res.destroy();
      }
    });
    // Uploads have their own stall, rate and deadline timers; Node's whole-request timeout
    // would cut a large upload on a slow link (the other requests have the deadline above).
    this.server.requestTimeout = 0;
    // Total time for the request head, checked every second (a trickle does not extend it).
    this.server.headersTimeout = this.lim('headersTimeoutMs');
    (this.server as Server & { connectionsCheckingInterval?: number }).connectionsCheckingInterval = 1000;
    this.server.timeout = this.lim('idleMs');
    const maxConns = this.lim('maxConnections');
    // The limits below make room by closing idle connections; this is only the hard stop.
    this.server.maxConnections = 2 * maxConns;
    const perPeer = this.lim('maxConnectionsPerPeer');
    this.server.on('connection', (s: Socket) => {
      const peer = peerOf(s.remoteAddress);
      let mine = this.connsByPeer.get(peer);
      // Over a limit: close the oldest connection with no request in progress (a slow head, an
      // idle keep-alive) of this peer, or of the peer holding most when the total is reached;
      // refuse the new one only when all of them are busy. So strangers' trickles sharing an
      // address or flooding from many cannot keep a real client out.
      const full = (mine?.size ?? 0) >= perPeer ? peer : this.sockets.size >= maxConns ? this.busiestPeer() : undefined;
      if (full !== undefined) {
        const victim = [...(this.connsByPeer.get(full) ?? [])].find((x) => !this.busy.has(x));
        if (!victim) {
          this.log.debug({ peer }, 'connection limit reached and every connection busy; closing a new connection');
          s.destroy();
          return;
        }
        this.dropConn(victim, full);
        victim.destroy();
      }
      if (!mine) this.connsByPeer.set(peer, (mine = new Set()));
      mine.add(s);
      this.sockets.add(s);
      s.on('close', () => this.dropConn(s, peer));
    });
    this.server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
      // Malformed or oversized heads, header timeouts: answer if possible, never throw.
      if (!socket.writable) return void socket.destroy();
      const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
      socket.end(`HTTP/1.1 ${status} ${status === 431 ? 'Request Header Fields Too Large' : status === 408 ? 'Request Timeout' : 'Bad Request'}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
      setTimeout(() => socket.destroy(), 100).unref();
    });
    const apiFile = join(this.opts.dir, 'api');
    const previous = existsSync(apiFile) ? portFromAddressFile(readFileSync(apiFile, 'utf8')) : undefined;
    await listenSticky(this.server, this.opts.host ?? '127.0.0.1', this.opts.port ?? 0, previous);
    // Accept errors (EMFILE under a flood) come here: logged, never thrown at the process.
    this.server.on('error', (e) => this.log.error({ err: e }, 'deal server socket error'));
    const a = this.server.address() as AddressInfo;
    this.url = `http://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`;
    writeFileAtomic(join(this.opts.dir, 'api'), this.url + '\n');
    this.log.info({ url: this.url, sectorSize: this.sectorSize }, 'deal server listening');
  }

  private dropConn(s: Socket, peer: string): void {
    this.sockets.delete(s);
    this.busy.delete(s);
    const set = this.connsByPeer.get(peer);
    if (set?.delete(s) && set.size === 0) this.connsByPeer.delete(peer);
  }

  private busiestPeer(): string | undefined {
    let best: string | undefined;
    let most = 0;
    for (const [p, set] of this.connsByPeer) {
      if (set.size > most) {
        most = set.size;
        best = p;
      }
    }
    return best;
  }

  /** Admin calls: a valid JWT of this miner with the admin permission; else 401 / 403 answered. */
  private admin(req: IncomingMessage, res: ServerResponse, what: string): boolean {
    const perms = this.opts.auth.verify(bearerToken(req.headers.authorization));
    if (!perms) {
      send(res, 401, { error: 'this call needs Authorization: Bearer <a token of this miner with the admin permission>' }, { 'WWW-Authenticate': 'Bearer' });
      return false;
    }
    if (!perms.includes('admin')) {
      send(res, 403, { error: missingPermission('admin', what) });
      return false;
    }
    return true;
  }

  // ---------------------------------------------------------------- expiry

  private now(): number {
    return this.opts.clock ? this.opts.clock() : Date.now();
  }

  private startExpiry(): void {
    const ttl = this.lim('proposalTtlMs');
    const sweep = () => this.track(this.expire().catch((e) => this.log.error({ err: e }, 'expiring deals failed')));
    sweep();
    this.expiryTimer = setInterval(sweep, Math.max(20, Math.min(ttl / 2, this.lim('keptPieceRetentionMs') / 2, 30_000)));
    this.expiryTimer.unref();
  }

  /**
   * Accepted deals whose data never came: Expired, with the reason (nothing is dropped
   * silently). Failed deals' kept pieces past their retention: deleted, the record says when and why.
   */
  private async expire(): Promise<void> {
    const ttl = this.lim('proposalTtlMs');
    const retention = this.lim('keptPieceRetentionMs');
    const now = this.now();
    for (const d of this.store.list()) {
      if (!this.stopped && keptAfterFailure(d) && now - failedAt(d) >= retention) {
        const after = retention >= 3600_000 ? `${Math.round(retention / 3600_000)} h` : `${Math.round(retention / 1000)} s`;
        const reason = `the kept piece was deleted ${after} after the deal failed (its retention; the operator did not act on it)`;
        await this.store.update([d.uuid], () => ({ dataKept: false, dataRemoved: { at: now, reason } }));
        rmSync(this.piecePath(d.uuid), { force: true });
        this.log.info({ deal: d.uuid, client: d.proposal.Client, piece: d.pieceCid }, 'kept piece of a failed deal deleted: its retention ran out');
        continue;
      }
      if (this.stopped || d.state !== 'Accepted' || this.uploading.has(d.uuid) || now - d.createdAt < ttl) continue;
      rmSync(this.stagingPath(d.uuid), { force: true });
      try {
        await this.store.transition([d.uuid], 'Expired', {}, `no data was uploaded within ${Math.round(ttl / 1000)} s of the proposal; the deal expired (propose it again to store the data)`);
        this.log.info({ deal: d.uuid, client: d.proposal.Client, peer: d.peer }, 'deal expired without data');
      } catch (e) {
        if (!(e instanceof DealTransitionError)) throw e; // its upload began meanwhile
      }
    }
  }

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://deal-server');
    const parts = url.pathname.split('/').filter(Boolean);
    const method = req.method ?? 'GET';
    if (parts[0] === 'deals' && parts[1] === 'proposal' && parts.length === 2) {
      if (method !== 'POST') return send(res, 405, { error: 'POST a proposal' }, { Allow: 'POST' });
      return this.propose(req, res);
    }
    if (parts[0] === 'deals' && parts.length === 3 && parts[2] === 'data') {
      if (method !== 'PUT') return send(res, 405, { error: 'PUT the data' }, { Allow: 'PUT' });
      return this.upload(req, res, parts[1], url.searchParams.get('token') ?? '');
    }
    if (parts[0] === 'deals' && parts.length <= 2 && method === 'GET') {
      if (!this.admin(req, res, `GET ${url.pathname}`)) return;
      if (parts.length === 1) return send(res, 200, { deals: this.store.list().map(publicDeal) });
      const d = this.store.get(parts[1]);
      return d ? send(res, 200, publicDeal(d)) : send(res, 404, { error: `no deal ${parts[1]}` });
    }
    if (parts[0] === 'piece' && parts.length === 2 && (method === 'GET' || method === 'HEAD')) return this.retrieve(req, res, parts[1], method === 'HEAD');
    return send(res, 404, { error: `no route ${method} ${url.pathname}` });
  }

  // ---------------------------------------------------------------- intake

  /** The proposal before this one in the one-at-a-time intake (see propose). */
  private intake: Promise<void> = Promise.resolve();

  private async propose(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (this.closing) return send(res, 503, { error: 'the deal server is stopping' }, { 'Retry-After': '10' });
    const peer = peerOf(req.socket.remoteAddress);
    this.checkCaps(peer);
    const body = await readJson(req);
    const c = checkDealRequest(body, { minerId: this.opts.minerId, sectorSize: this.sectorSize });
    // One proposal at a time from here to its record: the chain check takes a while, and two
    // proposals checked side by side would each pass the caps, the escrow and the duplicate
    // check without the other.
    const turn = this.intake;
    let done!: () => void;
    this.intake = new Promise<void>((r) => (done = r));
    try {
      await turn;
      await this.record(res, c, peer);
    } finally {
      done();
    }
  }

  /** The intake caps on deals waiting for their data or kept after failing: in all, from this address, and of this client when given. */
  private checkCaps(peer: string, client?: string): void {
    const cap = (n: number, limit: number, who: string) => {
      if (n >= limit)
        throw new DealRejected(
          who === '' ? 503 : 429,
          `${n} deals${who} are waiting for their data or failed with their data kept (the limit is ${limit}); upload their data or wait until they expire, then retry`,
        );
    };
    const w = this.store.waitingCounts(peer, client);
    cap(w.total, this.lim('maxPendingDeals'), '');
    cap(w.peer, this.lim('maxPendingPerPeer'), ` proposed from ${peer}`);
    if (client !== undefined) cap(w.client, this.lim('maxPendingPerClient'), ` of client ${client}`);
  }

  /** A checked proposal, in its turn: the caps and duplicates again, the market's word, then the record. */
  private async record(res: ServerResponse, c: ReturnType<typeof checkDealRequest>, peer: string): Promise<void> {
    if (this.closing) return send(res, 503, { error: 'the deal server is stopping' }, { 'Retry-After': '10' });
    this.checkCaps(peer, c.proposal.Client);
    const prior = this.store.byProposal(c.proposalCid);
    if (prior && prior.state !== 'Failed' && prior.state !== 'Expired') {
      return send(res, 409, { error: `this proposal is already deal ${prior.uuid} (${prior.state})`, uuid: prior.uuid, state: prior.state });
    }
    if (this.opts.market) await this.screen(c.proposal);
    const now = this.now();
    const d: DealRecord = {
      uuid: randomUUID(),
      proposalCid: c.proposalCid,
      proposal: c.proposal,
      signature: c.signature,
      pieceCid: c.pieceCid,
      pieceSize: c.pieceSize,
      transferSize: c.transferSize,
      uploadToken: randomBytes(16).toString('hex'),
      peer,
      state: 'Accepted',
      createdAt: now,
      updatedAt: now,
      history: [{ state: 'Accepted', at: now }],
    };
    await this.store.insert(d);
    this.log.info({ deal: d.uuid, piece: d.pieceCid, size: d.pieceSize, client: c.proposal.Client }, 'deal accepted');
    send(res, 201, { uuid: d.uuid, state: d.state, proposalCid: d.proposalCid, uploadUrl: `${this.url}/deals/${d.uuid}/data?token=${d.uploadToken}` });
  }

  /** The chain's word on a proposal (escrow, collateral, start): throws DealRejected when the market would refuse it. */
  private async screen(p: DealProposal): Promise<void> {
    const pending = this.store.unpublished(p.Client).reduce((a, d) => a + dealCosts(d.proposal).client, 0n);
    let problem: Awaited<ReturnType<typeof proposalProblem>>;
    try {
      problem = await proposalProblem(this.opts.market!, p, pending);
    } catch (e) {
      this.log.warn({ err: e }, 'the chain node did not answer a proposal check');
      throw new DealRejected(503, `this provider could not check the proposal with its chain node: ${(e as Error).message}`);
    }
    if (problem) {
      this.log.info({ client: p.Client, piece: p.PieceCID['/'], reason: problem.reason }, 'proposal refused');
      throw new DealRejected(problem.status, problem.reason);
    }
  }

  /** Fails a deal, deleting whatever it staged. */
  private async fail(uuid: string, reason: string): Promise<void> {
    rmSync(this.stagingPath(uuid), { force: true });
    rmSync(this.piecePath(uuid), { force: true });
    const d = this.store.get(uuid);
    if (d && d.state !== 'Failed' && d.state !== 'Expired') await this.store.transition([uuid], 'Failed', {}, reason);
    this.log.warn({ deal: uuid, reason }, 'deal failed');
  }

  private async upload(req: IncomingMessage, res: ServerResponse, uuid: string, token: string): Promise<void> {
    const d = this.store.get(uuid);
    if (!d) return send(res, 404, { error: `no deal ${uuid}` });
    if (!sameSecret(token, d.uploadToken)) return send(res, 403, { error: 'wrong upload token for this deal' });
    if (d.state !== 'Accepted') {
      return send(res, 409, { error: `deal ${uuid} is ${d.state}${d.reason ? `: ${d.reason}` : ''}; only an Accepted deal takes an upload`, state: d.state });
    }
    const close = { Connection: 'close' };
    const cl = req.headers['content-length'];
    if (cl !== undefined) {
      const n = Number(cl);
      if (n !== d.transferSize) {
        const reason =
          n > d.transferSize ? `the body (${n} bytes) is larger than the declared transferSize ${d.transferSize}` : `the body (${n} bytes) is shorter than the declared transferSize ${d.transferSize}`;
        dealUploads.inc({ outcome: 'failed' });
        await this.fail(uuid, reason);
        return send(res, n > d.transferSize ? 413 : 400, { error: reason, uuid, state: 'Failed' }, close);
      }
    }
    const max = this.lim('maxTransfers');
    if (this.active >= max || this.closing) {
      dealUploads.inc({ outcome: 'refused' });
      return send(res, 503, { error: `${this.active} transfers are running (the limit is ${max}); retry later` }, { 'Retry-After': '5', ...close });
    }
    const peer = peerOf(req.socket.remoteAddress);
    const mine = this.activeByPeer.get(peer) ?? 0;
    if (mine >= this.lim('maxTransfersPerPeer')) {
      dealUploads.inc({ outcome: 'refused' });
      return send(res, 503, { error: `${mine} transfers from ${peer} are running (the limit per address is ${this.lim('maxTransfersPerPeer')}); retry later` }, { 'Retry-After': '5', ...close });
    }
    this.active++;
    this.activeByPeer.set(peer, mine + 1);
    this.uploading.add(uuid);
    try {
      await this.store.transition([uuid], 'Transferring');
      const staged = await this.receive(req, d);
      if (staged instanceof UploadError) {
        dealUploads.inc({ outcome: 'failed' });
        await this.fail(uuid, staged.message);
        return send(res, staged.status, { error: staged.message, uuid, state: 'Failed' }, close);
      }
    } catch (e) {
      dealUploads.inc({ outcome: 'failed' });
      await this.fail(uuid, `upload failed: ${(e as Error).message}`);
      throw e;
    } finally {
      this.active--;
      const left = (this.activeByPeer.get(peer) ?? 1) - 1;
      if (left > 0) this.activeByPeer.set(peer, left);
      else this.activeByPeer.delete(peer);
      this.uploading.delete(uuid);
    }
    const after = await this.verify(uuid);
    dealUploads.inc({ outcome: after.state === 'Failed' ? 'rejected' : 'ok' });
    if (after.state === 'Failed') return send(res, 400, { error: after.reason, uuid, state: after.state });
    send(res, 200, { uuid, state: after.state, pieceCid: after.pieceCid });
  }

  /** Streams the body into the staging file; UploadError when the body is not what was declared. */
  private async receive(req: IncomingMessage, d: DealRecord): Promise<UploadError | undefined> {
    const part = this.stagingPath(d.uuid);
    const stallMs = this.lim('stallMs');
    const deadlineMs = this.lim('uploadBaseMs') + (d.transferSize / this.lim('uploadMinBytesPerSec')) * 1000;
    const minRate = this.lim('minRateBytesPerSec');
    const windowMs = this.lim('rateWindowMs');
    let received = 0;
    let stall: NodeJS.Timeout | undefined;
    const meter = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        received += chunk.length;
        dealUploadBytes.inc(chunk.length);
        if (received > d.transferSize) return cb(new UploadError(413, `the body is larger than the declared transferSize ${d.transferSize}`));
        stall?.refresh();
        cb(null, chunk);
      },
    });
    const cut = (e: UploadError) => meter.destroy(e);
    stall = setTimeout(() => cut(new UploadError(408, `the upload stalled: no data for ${stallMs} ms after ${received} of ${d.transferSize} bytes`)), stallMs);
    const deadline = setTimeout(() => cut(new UploadError(408, `the upload missed its deadline of ${Math.round(deadlineMs / 1000)} s (${received} of ${d.transferSize} bytes)`)), deadlineMs);
    // A trickle that never stalls still loses its slot: each window must bring minRate bytes/s.
    let windowStart = 0;
    const rate =
      minRate > 0
        ? setInterval(() => {
            const got = received - windowStart;
            windowStart = received;
            if (received < d.transferSize && got < (minRate * windowMs) / 1000) {
              cut(new UploadError(408, `the upload is too slow: ${got} bytes in the last ${windowMs} ms (at least ${minRate} bytes/s are needed); ${received} of ${d.transferSize} bytes arrived`));
            }
          }, windowMs)
        : undefined;
    const onClose = () => {
      if (!req.complete) cut(new UploadError(400, `the upload was cut off after ${received} of ${d.transferSize} bytes`));
    };
    req.on('close', onClose);
    // The request is piped (not put in the pipeline) so that an error does not destroy the
    // socket before the client hears the reason.
    const done = pipeline(meter, createWriteStream(part, { flags: 'wx', highWaterMark: 1 << 20 }));
    req.pipe(meter);
    try {
      await done;
    } catch (e) {
      req.unpipe(meter);
      if (e instanceof UploadError) return e;
      return new UploadError(400, `the upload failed after ${received} of ${d.transferSize} bytes: ${(e as Error).message}`);
    } finally {
      clearTimeout(stall);
      clearTimeout(deadline);
      clearInterval(rate);
      req.off('close', onClose);
    }
    if (received < d.transferSize) return new UploadError(400, `the upload was truncated: ${received} of ${d.transferSize} bytes`);
    // Zero-fill to the unpadded piece size (sparse), and make the body durable before the
    // state says it is all there.
    const fh = await open(part, 'r+');
    try {
      await fh.truncate(unpaddedSize(d.pieceSize));
      await fh.sync();
    } finally {
      await fh.close();
    }
    await this.store.transition([d.uuid], 'Verifying');
    return undefined;
  }

  /** Checks the staged data's CommP against the proposal; Publishing on a match, else Failed. */
  private async verify(uuid: string): Promise<DealRecord> {
    const d = this.store.get(uuid)!;
    const part = existsSync(this.stagingPath(uuid)) ? this.stagingPath(uuid) : this.piecePath(uuid);
    if (!existsSync(part) || statSync(part).size !== unpaddedSize(d.pieceSize)) {
      await this.fail(uuid, 'the staged data is missing or has the wrong size');
      return this.store.get(uuid)!;
    }
    const t0 = performance.now();
    let got: Buffer;
    try {
      got = await chunkedNativeCommP(this.sealProof, part, d.pieceSize, { tmpPrefix: join(this.stagingDir, `${uuid}`), dataBytes: d.transferSize });
    } catch (e) {
      await this.fail(uuid, `computing the piece commitment failed: ${(e as Error).message}`);
      return this.store.get(uuid)!;
    }
    const want = cidToCommP(d.pieceCid);
    if (!got.equals(want)) {
      await this.fail(uuid, `piece CID mismatch: the proposal says ${d.pieceCid}, the uploaded data gives ${commPToCid(got)}`);
      return this.store.get(uuid)!;
    }
    if (part !== this.piecePath(uuid)) {
      renameSync(part, this.piecePath(uuid));
      fsyncDir(this.piecesDir);
    }
    const [after] = await this.store.transition([uuid], 'Publishing', { verifiedAt: this.now() });
    this.log.info({ deal: uuid, piece: d.pieceCid, commPMs: Math.round(performance.now() - t0) }, 'deal data verified; waiting for a sector');
    return after;
  }

  // ---------------------------------------------------------------- retrieval

  /** The unsealed copy of a piece, if a live deal holds it (a failed deal's kept piece is for the operator, not served). */
  findPiece(pieceCid: string): { path: string; size: number } | undefined {
    for (const d of this.store.list()) {
      if (d.pieceCid !== pieceCid || !servesPiece(d)) continue;
      const p = this.piecePath(d.uuid);
      if (existsSync(p)) return { path: p, size: statSync(p).size };
    }
    return undefined;
  }

  private async retrieve(req: IncomingMessage, res: ServerResponse, cid: string, head: boolean): Promise<void> {
    try {
      cidToCommP(cid);
    } catch (e) {
      return send(res, 400, { error: `not a piece CID: ${(e as Error).message}` });
    }
    const piece = this.findPiece(cid);
    if (!piece) return send(res, 404, { error: `no piece ${cid} here` });
    const size = piece.size;
    let start = 0;
    let end = size - 1;
    let status = 200;
    const headers: Record<string, string> = { 'Content-Type': 'application/piece', 'Accept-Ranges': 'bytes', ETag: `"${cid}"` };
    const range = req.headers.range;
    if (range !== undefined) {
      const r = parseRange(range, size);
      if (r === 'invalid') {
        return send(res, 416, { error: `unsatisfiable range "${range}" for a piece of ${size} bytes` }, { 'Content-Range': `bytes */${size}` });
      }
      if (r) {
        [start, end] = r;
        status = 206;
        headers['Content-Range'] = `bytes ${start}-${end}/${size}`;
      }
    }
    headers['Content-Length'] = String(end - start + 1);
    res.writeHead(status, headers);
    if (head) return void res.end();
    await pipeline(createReadStream(piece.path, { start, end, highWaterMark: 1 << 20 }), res);
  }

  // ---------------------------------------------------------------- shutdown

  async close(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.closing = true;
    clearInterval(this.expiryTimer);
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      for (const s of this.sockets) s.destroy();
    });
    await Promise.allSettled([...this.background]);
    // Uploads cut by the stop fail through their own handlers; wait for them to record it.
    for (let i = 0; i < 100 && this.active > 0; i++) await new Promise((r) => setTimeout(r, 20));
    await this.store.close();
    await this.arbiter.release();
  }
}

/** A data upload (`PUT /deals/{uuid}/data`): it has its own slot, rate and deadline. */
function isUpload(req: IncomingMessage): boolean {
  return req.method === 'PUT' && /^\/deals\/[^/]+\/data(\?|$)/.test(req.url ?? '');
}

/**
 * One byte range of a `Range: bytes=…` header: [start, end] inclusive, null to ignore the
 * header (a form we do not serve, such as several ranges: answered with the whole piece), or
 * 'invalid' for a range outside the piece.
 */
export function parseRange(h: string, size: number): [number, number] | null | 'invalid' {
  const m = /^bytes=(\d*)-(\d*)$/.exec(h.trim());
  if (!m) return h.trim().startsWith('bytes=') && h.includes(',') ? null : 'invalid';
  const [, a, b] = m;
  if (a === '' && b === '') return 'invalid';
  if (a === '') {
    const n = Number(b);
    if (n === 0) return 'invalid';
    return [Math.max(0, size - n), size - 1];
  }
  const start = Number(a);
  const end = b === '' ? size - 1 : Math.min(Number(b), size - 1);
  if (start >= size || end < start) return 'invalid';
  return [start, end];
}
