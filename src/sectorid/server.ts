// The sector-number server: TCP, one frame per request, many requests in flight per
// connection (replies carry the request id). See protocol.ts for the frame format.
//
// Hostile peers cannot hold others out (see README.md, "Connections and limits"):
// - a new connection is *unauthenticated* until its first frame carries a valid token; these
//   have their own small budget (global and per peer) and one total deadline for that frame
//   that no trickle of bytes resets. When the budget is full the oldest unauthenticated
//   connection of the busiest peer is closed, so a flood from one address churns its own
//   connections and a real client, which sends its frame at once, still gets in;
// - authenticated connections are counted separately (global and per peer), get an idle
//   timeout between frames and a total deadline per frame once its first byte has arrived;
// - a connection has at most maxInFlightPerConnection requests being served; further frames
//   wait unread (TCP back-pressure), so one peer's burst costs bounded work;
// - a peer that does not read its answers stops being read once a bounded amount of replies
//   is queued, and is closed if it still has not read them after a while;
// - every request is checked against its token's permissions (OP_PERMISSION).
import { type AddressInfo, type Server, type Socket, createServer } from 'node:net';
import { type Auth, missingPermission } from '../auth/index.js';
import { logger } from '../log.js';
import { LiveSet, counter, gauge } from '../metrics/index.js';
import { Allocator } from './allocator.js';
import type { ChainFloorSource } from './chain-floor.js';
import { FileStore, readCounterFile } from './file-store.js';
import { lockRepo, type RepoLock } from './lock.js';
import { PostgresStore } from './pg-store.js';
import { DEFAULT_MAX_FRAME_BYTES, ErrorCode, FrameReader, OP_PERMISSION, PROTOCOL_VERSION, SectorIdError, decodeBody, encodeFrame, parseEnvelope, parseRequest } from './protocol.js';
import type { SectorIdStore } from './store.js';

// Metrics (src/metrics; this server runs in the sector-id role's worker thread).
const handedOut = counter({ name: 'distminer_sectorid_numbers_handed_out_total', help: 'Sector numbers sent in answers to alloc requests (a replayed request id is answered, and counted, again)' });
const requestsTotal = counter({
  name: 'distminer_sectorid_requests_total',
  help: 'Requests answered by the sector-number server, by op and result (ok or the error code)',
  labelNames: ['op', 'result'],
});
const refusedTotal = counter({ name: 'distminer_sectorid_refused_total', help: 'Requests or connections the sector-number server refused, by error code', labelNames: ['code'] });
const liveServers = new LiveSet<{ connections(): { authenticated: number; unauthenticated: number } }>();
gauge({
  name: 'distminer_sectorid_connections',
  help: 'Open connections to the sector-number server by budget (authenticated, unauthenticated)',
  labelNames: ['budget'],
  collect() {
    this.reset();
    this.set({ budget: 'authenticated' }, 0);
    this.set({ budget: 'unauthenticated' }, 0);
    for (const srv of liveServers) {
      const c = srv.connections();
      this.inc({ budget: 'authenticated' }, c.authenticated);
      this.inc({ budget: 'unauthenticated' }, c.unauthenticated);
    }
  },
});
handedOut.inc(0);

const log = logger('sectorid');

/** Defaults of the connection limits (README.md lists them). */
export const LIMITS = {
  maxConnections: 256,
  maxConnectionsPerPeer: 64,
  maxUnauthenticated: 64,
  maxUnauthenticatedPerPeer: 8,
  authTimeoutMs: 5_000,
  frameTimeoutMs: 10_000,
  idleMs: 120_000,
  maxQueuedReplyBytes: 1 << 20,
  writeTimeoutMs: 30_000,
  maxInFlightPerConnection: 32,
} as const;

export interface SectorIdServerOptions {
  /** The miner repo: holds the file store and the lock (also read to seed a new PostgreSQL row). */
  repo: string;
  /** HOST:PORT to listen on (port 0 picks a free one). */
  listen: string;
  /** Verifies the JWT every request carries (the repository's API secret: `repoAuth(repo)`). */
  auth: Auth;
  /** 'file' (default), a postgres:// URL, or a ready store object. */
  store?: 'file' | string | SectorIdStore;
  chainFloor?: ChainFloorSource;
  minerId: string;
  maxFrameBytes?: number;
  /** Authenticated connections, in all and from one peer address. */
  maxConnections?: number;
  maxConnectionsPerPeer?: number;
  /** Connections that have not yet sent a frame with a valid token, in all and per peer. */
  maxUnauthenticated?: number;
  maxUnauthenticatedPerPeer?: number;
  /** A new connection must have sent a whole frame with a valid token by then (total, not idle). */
  authTimeoutMs?: number;
  /** Once a frame's first byte arrived, the whole frame must be there within this (total). */
  frameTimeoutMs?: number;
  /** An authenticated connection with nothing in flight and no frame for this long is closed. */
  idleMs?: number;
  /** Replies queued for a peer that does not read them before the server stops reading it. */
  maxQueuedReplyBytes?: number;
  /** A peer that has not taken its queued replies within this is disconnected. */
  writeTimeoutMs?: number;
  /** Requests served at once per connection; later frames wait unread until one is answered. */
  maxInFlightPerConnection?: number;
  chainRefreshMs?: number;
}

export interface SectorIdServerHandle {
  /** HOST:PORT actually listened on. */
  address: string;
  allocator: Allocator;
  /** Connections now open: authenticated and not yet authenticated (for tests and status). */
  connections(): { authenticated: number; unauthenticated: number };
  close(): Promise<void>;
}

export function parseHostPort(s: string): { host: string; port: number } {
  const i = s.lastIndexOf(':');
  const host = i > 0 ? s.slice(0, i).replace(/^\[|\]$/g, '') : '';
  const port = Number(s.slice(i + 1));
  if (i <= 0 || !Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`"${s}" is not HOST:PORT`);
  return { host, port };
}

/** The peer key of the per-peer limits: the address, IPv4-mapped IPv6 as plain IPv4. */
export function peerKey(addr: string | undefined): string {
  if (!addr) return '?';
  return addr.startsWith('::ffff:') && addr.includes('.') ? addr.slice(7) : addr;
}

export function makeStore(spec: SectorIdServerOptions['store'], repo: string, minerId: string): SectorIdStore {
  if (spec === undefined || spec === 'file') return new FileStore(repo);
  if (typeof spec !== 'string') return spec;
  if (spec.startsWith('postgres://') || spec.startsWith('postgresql://')) return new PostgresStore(spec, minerId);
  throw new Error(`unknown sector-number store "${spec}" (use "file" or a postgres:// URL)`);
}

export async function startSectorIdServer(opts: SectorIdServerOptions): Promise<SectorIdServerHandle> {
  if (!opts.auth) throw new Error('the sector-number server needs the miner API secret (auth) to verify tokens');
  const auth = opts.auth;
  const { host, port } = parseHostPort(opts.listen);
  const store = makeStore(opts.store, opts.repo, opts.minerId);
  const maxFrame = opts.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
  const maxConns = opts.maxConnections ?? LIMITS.maxConnections;
  const maxConnsPerPeer = opts.maxConnectionsPerPeer ?? LIMITS.maxConnectionsPerPeer;
  const maxUnauth = Math.max(1, opts.maxUnauthenticated ?? LIMITS.maxUnauthenticated);
  const maxUnauthPerPeer = Math.max(1, opts.maxUnauthenticatedPerPeer ?? LIMITS.maxUnauthenticatedPerPeer);
  const authTimeoutMs = opts.authTimeoutMs ?? LIMITS.authTimeoutMs;
  const frameTimeoutMs = opts.frameTimeoutMs ?? LIMITS.frameTimeoutMs;
  const idleMs = opts.idleMs ?? LIMITS.idleMs;
  const maxQueued = opts.maxQueuedReplyBytes ?? LIMITS.maxQueuedReplyBytes;
  const writeTimeoutMs = opts.writeTimeoutMs ?? LIMITS.writeTimeoutMs;
  const maxInFlight = opts.maxInFlightPerConnection ?? LIMITS.maxInFlightPerConnection;

  // The file store is single-writer: lock the repo. PostgreSQL serialises writers itself.
  let lock: RepoLock | undefined;
  if (store instanceof FileStore) lock = await lockRepo(opts.repo, `sector-number server ${opts.listen}`);
  const allocator = new Allocator({ store, minerId: opts.minerId, chainFloor: opts.chainFloor, chainRefreshMs: opts.chainRefreshMs });
  try {
    // Moving from the file store to PostgreSQL: never start below the repo's old counter.
    const fileFloor = store instanceof FileStore ? 0 : ((await readCounterFile(opts.repo).catch(() => undefined)) ?? 0);
    await allocator.open({ extraFloor: fileFloor });
  } catch (e) {
    await store.close().catch(() => {});
    await lock?.release();
    throw e;
  }

  /** Every socket the server holds, whatever its state (closed on shutdown). */
  const sockets = new Set<Socket>();
  /** Unauthenticated connections by peer, oldest first (a Set keeps insertion order). */
  const unauthByPeer = new Map<string, Set<Conn>>();
  let unauthCount = 0;
  const authByPeer = new Map<string, number>();
  let authCount = 0;
  let closing = false;

  /** Close a socket after its last reply had a moment to leave (never lingers long). */
  const closeSoon = (sock: Socket): void => {
    sock.end();
    setTimeout(() => sock.destroy(), 1000).unref();
  };

  const refuse = (sock: Socket, code: ErrorCode, message: string): void => {
    sock.on('error', () => {});
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    sock.write(encodeFrame({ v: PROTOCOL_VERSION, id: '', ok: false, code, message }));
    refusedTotal.inc({ code });
    closeSoon(sock);
  };

  class Conn {
    readonly reader = new FrameReader(maxFrame);
    authed = false;
    dead = false;
    peerEnded = false;
    inFlight = 0;
    /** Whole frames received but not yet served (in-flight limit or a peer not reading). */
    readonly backlog: Buffer[] = [];
    /** Not read by us (back-pressure above), so a partial frame is not the peer's fault. */
    paused = false;
    /** The auth deadline (unauthenticated), else the frame deadline or the idle timer. */
    private timer: NodeJS.Timeout | undefined;
    private timerKind: 'auth' | 'frame' | 'idle' | undefined;
    private writeTimer: NodeJS.Timeout | undefined;

    /** Replies are queued beyond the limit: serve nothing more until the peer reads them. */
    get writeBlocked(): boolean {
      return this.writeTimer !== undefined;
    }

    constructor(
      readonly sock: Socket,
      readonly peer: string,
    ) {}

    start(): void {
      this.setTimer('auth', authTimeoutMs, () => this.fail('', new SectorIdError(ErrorCode.FrameTimeout, `no whole request with a valid token within ${authTimeoutMs} ms of connecting; closing`)));
    }

    private setTimer(kind: 'auth' | 'frame' | 'idle', ms: number, fn: () => void): void {
      clearTimeout(this.timer);
      this.timerKind = kind;
      this.timer = setTimeout(fn, ms);
    }

    /** After bytes arrived: a frame started → its total deadline; none pending → idle timer. */
    rearm(frameCompleted: boolean): void {
      if (!this.authed || this.dead) return;
      if (this.reader.pending > 0) {
        // Started now, or still the one started earlier: bytes never extend the deadline.
        if (this.timerKind !== 'frame' || frameCompleted) this.armFrame();
      } else if (this.timerKind !== 'idle' || frameCompleted) {
        this.armIdle();
      }
    }

    armFrame(): void {
      this.setTimer('frame', frameTimeoutMs, () => {
        // Not the peer's fault while we are not reading it (its earlier requests are being served).
        if (this.backlog.length > 0 || this.writeBlocked) this.armFrame();
        else this.fail('', new SectorIdError(ErrorCode.FrameTimeout, `a request frame took longer than ${frameTimeoutMs} ms to arrive; closing`));
      });
    }

    armIdle(): void {
      this.setTimer('idle', idleMs, () => {
        // Waiting on the store or on the peer to read is not idleness.
        if (this.inFlight > 0 || this.writeTimer || this.backlog.length > 0) this.armIdle();
        else this.fail('', new SectorIdError(ErrorCode.IdleTimeout, `no request for ${idleMs} ms; closing`));
      });
    }

    send(msg: unknown): void {
      if (this.dead || this.sock.destroyed) return;
      const m = msg as { ok?: boolean; code?: string };
      if (m.ok === false) refusedTotal.inc({ code: String(m.code) });
      this.sock.write(encodeFrame(msg));
      // A peer that does not read its answers: stop reading its requests until it does.
      if (this.sock.writableLength > maxQueued && !this.writeTimer) {
        this.writeTimer = setTimeout(() => {
          log.warn({ peer: this.peer, queued: this.sock.writableLength }, 'a sector-number client did not read its replies; disconnecting it');
          this.kill();
        }, writeTimeoutMs);
        this.sock.once('drain', () => {
          clearTimeout(this.writeTimer);
          this.writeTimer = undefined;
          pump(this);
        });
      }
    }

    /** Frame-level error: reply once, then close this connection only. */
    fail(id: string, e: SectorIdError): void {
      if (this.dead) return;
      this.send({ v: PROTOCOL_VERSION, id, ok: false, code: e.code, message: e.message });
      this.release();
      closeSoon(this.sock);
    }

    kill(): void {
      this.release();
      this.sock.destroy();
    }

    /** Stops counting this connection against any limit (idempotent). */
    release(): void {
      if (this.dead) return;
      this.dead = true;
      clearTimeout(this.timer);
      clearTimeout(this.writeTimer);
      if (this.authed) {
        authCount--;
        const n = (authByPeer.get(this.peer) ?? 1) - 1;
        if (n > 0) authByPeer.set(this.peer, n);
        else authByPeer.delete(this.peer);
      } else {
        const set = unauthByPeer.get(this.peer);
        if (set?.delete(this)) {
          unauthCount--;
          if (set.size === 0) unauthByPeer.delete(this.peer);
        }
      }
    }

    /** First valid token: move from the unauthenticated budget to the authenticated one. */
    promote(id: string): boolean {
      const set = unauthByPeer.get(this.peer);
      if (set?.delete(this)) {
        unauthCount--;
        if (set.size === 0) unauthByPeer.delete(this.peer);
      }
      const mine = authByPeer.get(this.peer) ?? 0;
      if (authCount >= maxConns || mine >= maxConnsPerPeer) {
        this.dead = true; // counted nowhere now
        clearTimeout(this.timer);
        this.sock.write(
          encodeFrame({
            v: PROTOCOL_VERSION,
            id,
            ok: false,
            code: ErrorCode.TooManyConnections,
            message: authCount >= maxConns ? `connection limit (${maxConns}) reached; retry later` : `connection limit per client address (${maxConnsPerPeer}) reached; retry later`,
          }),
        );
        closeSoon(this.sock);
        return false;
      }
      this.authed = true;
      authCount++;
      authByPeer.set(this.peer, mine + 1);
      return true;
    }
  }

  /** Make room for one more unauthenticated connection of `peer`: close the oldest of the busiest. */
  function makeRoom(peer: string): void {
    let victimPeer: string | undefined;
    if ((unauthByPeer.get(peer)?.size ?? 0) >= maxUnauthPerPeer) victimPeer = peer;
    else if (unauthCount >= maxUnauth) {
      let most = 0;
      for (const [p, set] of unauthByPeer) {
        if (set.size > most) {
          most = set.size;
          victimPeer = p;
        }
      }
    }
    if (victimPeer === undefined) return;
    const victim = unauthByPeer.get(victimPeer)!.values().next().value as Conn;
    victim.fail('', new SectorIdError(ErrorCode.TooManyConnections, 'too many connections without a valid request; the oldest was closed to make room'));
  }

  function handle(sock: Socket): void {
    sock.on('error', (e) => log.debug({ err: e }, 'sector-number connection error'));
    if (closing) return refuse(sock, ErrorCode.ShuttingDown, 'server shutting down');
    const peer = peerKey(sock.remoteAddress);
    makeRoom(peer);
    const c = new Conn(sock, peer);
    let set = unauthByPeer.get(peer);
    if (!set) unauthByPeer.set(peer, (set = new Set()));
    set.add(c);
    unauthCount++;
    sockets.add(sock);
    sock.setNoDelay(true);
    c.start();
    sock.on('close', () => {
      c.release();
      sockets.delete(sock);
    });
    sock.on('end', () => {
      c.peerEnded = true;
      if (c.reader.pending > 0) c.fail('', new SectorIdError(ErrorCode.BadFrame, `connection ended inside a frame (${c.reader.pending} bytes of an incomplete frame)`));
      else if (!c.authed) c.fail('', new SectorIdError(ErrorCode.BadFrame, 'connection ended before any request'));
      else if (!c.dead && c.inFlight === 0 && c.backlog.length === 0) closeSoon(sock); // else: after the last answer
    });
    sock.on('data', (chunk: Buffer) => {
      try {
        onData(c, chunk);
      } catch (e) {
        // Nothing a peer sends may reach the process: log it and drop this connection only.
        log.error({ err: e, peer }, 'unexpected error on a sector-number connection; closing it');
        c.kill();
      }
    });
  }

  function onData(c: Conn, chunk: Buffer): void {
    if (c.dead) return;
    let bodies: Buffer[];
    try {
      bodies = c.reader.push(chunk);
    } catch (e) {
      c.fail('', e as SectorIdError);
      return;
    }
    c.backlog.push(...bodies);
    pump(c);
    c.rearm(bodies.length > 0);
  }

  /** Serve queued frames while the connection may: in-flight limit, replies being read. */
  function pump(c: Conn): void {
    while (!c.dead && c.backlog.length > 0 && c.inFlight < maxInFlight && !c.writeBlocked) dispatch(c, c.backlog.shift()!);
    if (c.dead) return;
    // Frames waiting: read no more from this peer until they are served (TCP back-pressure).
    if (c.backlog.length > 0 || c.writeBlocked) {
      c.paused = true;
      c.sock.pause();
    } else if (c.paused) {
      c.paused = false;
      c.sock.resume();
      // A frame we stopped reading midway gets its whole deadline from now.
      if (c.reader.pending > 0 && c.authed) c.armFrame();
    }
    if (c.peerEnded && c.inFlight === 0 && c.backlog.length === 0) closeSoon(c.sock);
  }

  function dispatch(c: Conn, body: Buffer): void {
    let env: ReturnType<typeof parseEnvelope>;
    try {
      env = parseEnvelope(decodeBody(body));
    } catch (e) {
      c.fail('', e instanceof SectorIdError ? e : new SectorIdError(ErrorCode.BadFrame, `undecodable msgpack frame: ${(e as Error).message}`));
      return;
    }
    const perms = auth.verify(env.token);
    if (!perms) {
      c.fail(env.id, new SectorIdError(ErrorCode.Unauthorized, env.token === undefined ? 'the request carries no token' : 'the token is not valid for this miner (not signed with its API secret)'));
      return;
    }
    if (!c.authed && !c.promote(env.id)) return;
    const need = typeof env.op === 'string' ? OP_PERMISSION[env.op] : undefined;
    if (need && !perms.includes(need)) {
      c.send({ v: PROTOCOL_VERSION, id: env.id, ok: false, code: ErrorCode.Forbidden, message: missingPermission(need, String(env.op)) });
      return;
    }
    c.inFlight++;
    const op = typeof env.op === 'string' && Object.hasOwn(OP_PERMISSION, env.op) ? env.op : 'unknown';
    void serve(env)
      .then((r) => {
        requestsTotal.inc({ op, result: 'ok' });
        if (Array.isArray(r.numbers)) handedOut.inc(r.numbers.length);
        c.send({ v: PROTOCOL_VERSION, id: env.id, ok: true, ...r });
      })
      .catch((e: unknown) => {
        const se = e instanceof SectorIdError ? e : new SectorIdError(ErrorCode.StoreUnavailable, `the sector-number store failed: ${(e as Error).message}`);
        requestsTotal.inc({ op, result: se.code });
        c.send({ v: PROTOCOL_VERSION, id: env.id, ok: false, code: se.code, message: se.message });
      })
      .catch((e: unknown) => log.error({ err: e }, 'could not answer a sector-number request'))
      .finally(() => {
        c.inFlight--;
        try {
          pump(c);
        } catch (e) {
          log.error({ err: e, peer: c.peer }, 'unexpected error on a sector-number connection; closing it');
          c.kill();
        }
      });
  }

  async function serve(env: ReturnType<typeof parseEnvelope>): Promise<Record<string, unknown>> {
    const req = parseRequest(env);
    if (closing) throw new SectorIdError(ErrorCode.ShuttingDown, 'server shutting down');
    switch (req.op) {
      case 'ping':
        return {};
      case 'alloc':
        return { numbers: await allocator.allocate(req.id, req.n) };
      case 'info':
        return { info: await allocator.info() };
      case 'reserve':
        await allocator.reserve(req.name, req.ranges);
        log.info({ name: req.name, ranges: req.ranges }, 'sector numbers reserved');
        return {};
      case 'free':
        await allocator.free(req.name);
        log.info({ name: req.name }, 'sector-number reservation freed');
        return {};
      case 'setFloor': {
        const next = await allocator.setFloor(req.floor);
        log.info({ next }, 'sector-number floor set');
        return { info: await allocator.info() };
      }
    }
  }

  const server: Server = createServer({ allowHalfOpen: true }, handle);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (e) {
    await allocator.close().catch(() => {});
    await lock?.release();
    throw new Error(`cannot listen on ${opts.listen}: ${(e as Error).message}`, { cause: e });
  }
  // Accept errors (EMFILE under a flood) are emitted here: logged, never thrown at the process.
  server.on('error', (e) => log.error({ err: e }, 'sector-number server socket error'));
  const a = server.address() as AddressInfo;
  const address = `${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`;
  log.info({ address, store: store.description, minerId: opts.minerId }, 'sector-number server listening');

  const unlist = liveServers.add({ connections: () => ({ authenticated: authCount, unauthenticated: unauthCount }) });
  return {
    address,
    allocator,
    connections: () => ({ authenticated: authCount, unauthenticated: unauthCount }),
    async close() {
      if (closing) return;
      closing = true;
      unlist();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.end();
        setTimeout(() => {
          for (const s of sockets) s.destroy();
        }, 500);
      });
      await allocator.close();
      await lock?.release();
    },
  };
}
