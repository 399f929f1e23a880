// The one HTTP/WebSocket server the token-guarded services of distminer are built on (the
// miner API, the seal service and its worker socket, the devnet's Lotus API). The deal server
// is the exception, on purpose: its clients hold no token (proposals are signed by the client's
// key, uploads carry a per-deal secret) and an upload runs for minutes, so this server's
// stranger budget (oldest unauthenticated connection closed first) would let a flood cut
// accepted uploads; it keeps its own limits in src/deals/server.ts (upload slots per accepted
// deal with a minimum rate, proposal caps and expiry). What this one guarantees, so that no
// service has to get it right on its own:
//
//   - No request takes the process down: every handler is wrapped (a throw or a rejected promise
//     is logged and answered 500 if nothing was sent yet), malformed requests and URLs that do
//     not parse (`//[`) are answered 400, aborted bodies are dropped, socket errors are caught.
//   - Nothing is buffered for a stranger: headers are capped (maxHeaderBytes); the token is
//     checked from the headers before any body byte is read; a request with no token may send
//     only preAuthMaxBodyBytes, an authenticated one maxBodyBytes (route may override); a body
//     over its limit is refused (413) by Content-Length or as soon as it passes the limit while
//     streaming, never read in full.
//   - A trickle cannot hold a socket: headersTimeoutMs and requestTimeoutMs are deadlines from
//     the start of a request (Node's http server enforces them; no byte resets them), idle
//     keep-alive sockets close after keepAliveTimeoutMs, and a request without a token gets
//     `Connection: close`.
//   - Connections are counted per peer and in total, in two budgets: unauthenticated (every
//     fresh TCP connection, until a request on it carries a valid token: small, and a peer over
//     its share, or a full budget, makes room by closing the oldest unauthenticated connection —
//     of that peer, or overall; a newcomer is never refused there) and authenticated (counted
//     from the first request with a valid token; over the limits the request is answered 503
//     and the connection closed). So a flood of strangers cannot starve the token holders.
//   - WebSocket upgrades only on registered paths, authenticated from the Authorization header
//     (or Lotus's `?token=` where the path allows it) BEFORE the handshake completes; anything
//     else is answered 400/401/403/404/503 and the socket destroyed (nothing left open).
//
// Tokens are Lotus's (src/auth): `verify(token)` gives the permissions a token carries.
//
// Usage:
//   const srv = new HttpService({ name: 'seal', verify: auth });
//   srv.route({ method: 'POST', path: '/rpc/v0', handler: async (req, res, ctx) => {
//     const body = await ctx.readBody(); ... sendJson(res, 200, {...}) } });
//   srv.upgrade({ path: '/rpc/v0/worker', perm: 'write', handle: (req, socket, head, ctx) =>
//     wss.handleUpgrade(req, socket, head, (ws) => ...) });
//   await srv.listen('127.0.0.1', 0);   // or listenSticky(srv.server, ...)
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { type Auth, type Permission, bearerToken } from '../auth/index.js';
import { type Logger, logger } from '../log.js';
import { LiveSet, counter, gauge } from '../metrics/index.js';

// Metrics (src/metrics), labelled by service name ("miner-api", "seal", ...).
const httpRequests = counter({ name: 'distminer_http_requests_total', help: 'HTTP requests answered, by service and status code', labelNames: ['service', 'code'] });
const httpRefused = counter({
  name: 'distminer_http_refused_connections_total',
  help: "Connections closed or refused by the server's limits: unauth_evicted (stranger budget full), auth_limit (token holders over the limit, 503), bad_request (malformed or timed-out request), upgrade (WebSocket upgrade refused)",
  labelNames: ['service', 'reason'],
});
const liveServices = new LiveSet<HttpService>();
gauge({
  name: 'distminer_http_connections',
  help: 'Open HTTP connections by service and budget (authenticated, unauthenticated)',
  labelNames: ['service', 'budget'],
  collect() {
    this.reset();
    for (const svc of liveServices) {
      const c = svc.connections();
      this.inc({ service: svc.name, budget: 'authenticated' }, c.authenticated);
      this.inc({ service: svc.name, budget: 'unauthenticated' }, c.unauthenticated);
    }
  },
});

export interface NetLimits {
  /** Largest request head (request line + headers), bytes; over it: 431. */
  maxHeaderBytes: number;
  /** Deadline for a request's head, from its first byte (or the connection's start). */
  headersTimeoutMs: number;
  /** Deadline for a whole request (head and body) to arrive; a trickle does not reset it. */
  requestTimeoutMs: number;
  /** An idle keep-alive connection is closed after this. */
  keepAliveTimeoutMs: number;
  /** How often the deadlines above are checked (they fire up to this late). */
  checkIntervalMs: number;
  /** Body limit of a request with a valid token (a route may set its own). */
  maxBodyBytes: number;
  /** Body limit of a request without a token. */
  preAuthMaxBodyBytes: number;
  /** Authenticated connections, in total and per peer address. */
  maxConnections: number;
  maxConnectionsPerPeer: number;
  /** Connections that have not (yet) shown a valid token, in total and per peer address. */
  maxUnauthConnections: number;
  maxUnauthConnectionsPerPeer: number;
}

export const DEFAULT_LIMITS: NetLimits = {
  maxHeaderBytes: 16 * 1024,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 60_000,
  keepAliveTimeoutMs: 5_000,
  checkIntervalMs: 1_000,
  maxBodyBytes: 1024 * 1024,
  preAuthMaxBodyBytes: 16 * 1024,
  maxConnections: 1024,
  maxConnectionsPerPeer: 256,
  maxUnauthConnections: 256,
  maxUnauthConnectionsPerPeer: 32,
};

/** Checks a token: the permissions it carries, or null when it is not valid. */
export type Verify = (token: string) => Permission[] | null;

export interface RequestContext {
  /** The request's path and query (parsed; never throws). */
  url: URL;
  /** Permissions of the request's token; [] without a token. */
  perms: Permission[];
  /** Whether the request carried a valid token. */
  authenticated: boolean;
  /** Remote address:port. */
  peer: string;
  /** Aborted when the client goes away before the response is finished. */
  signal: AbortSignal;
  /** The body, within this request's limit (HttpError 413 over it, BodyAborted if cut). */
  readBody(): Promise<Buffer>;
  log: Logger;
}

export type HttpHandler = (req: IncomingMessage, res: ServerResponse, ctx: RequestContext) => void | Promise<void>;

export interface Route {
  path: string;
  /** Allowed methods (default: any); others get 405. */
  method?: string | string[];
  handler: HttpHandler;
  /** Body limit for authenticated requests on this route (default limits.maxBodyBytes). */
  maxBodyBytes?: number;
  /** Accept Lotus's `?token=` query parameter when there is no Authorization header. */
  queryToken?: boolean;
}

export interface UpgradeRoute {
  path: string;
  /** Permission the token must carry; null lets a request without a token in (perms []). */
  perm: Permission | null;
  queryToken?: boolean;
  /** Complete the upgrade (e.g. wss.handleUpgrade). Only called once the token is checked. */
  handle(req: IncomingMessage, socket: Duplex, head: Buffer, ctx: UpgradeContext): void;
}

export interface UpgradeContext {
  url: URL;
  perms: Permission[];
  authenticated: boolean;
  peer: string;
}

/** An error with an HTTP status, for handlers to throw. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

/** The client went away (or reset the connection) before its body was complete. */
export class BodyAborted extends Error {
  constructor(message = 'the client aborted the request body') {
    super(message);
    this.name = 'BodyAborted';
  }
}

interface ConnState {
  peer: string;
  address: string;
  authed: boolean;
}

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  408: 'Request Timeout',
  413: 'Payload Too Large',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

/** Writes a JSON response (no-op once headers are out). */
export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent || res.destroyed) return;
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

/** Parses a request target; undefined when it does not parse (e.g. `//[`). */
export function parseTarget(url: string | undefined): URL | undefined {
  try {
    return new URL(url ?? '/', 'http://localhost');
  } catch {
    return undefined;
  }
}

/** Reads a request body, refusing it as soon as it passes `limit` bytes. */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise<Buffer>((resolve, reject) => {
    const cl = req.headers['content-length'];
    if (cl !== undefined && Number(cl) > limit) return reject(new HttpError(413, `request body of ${cl} bytes is over this endpoint's limit of ${limit} bytes`));
    if (req.complete && req.readableEnded) return resolve(Buffer.alloc(0));
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const finish = (err: Error | undefined, buf?: Buffer) => {
      if (done) return;
      done = true;
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('close', onClose);
      if (err) reject(err);
      else resolve(buf!);
    };
    const onData = (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        chunks.length = 0;
        req.pause();
        return finish(new HttpError(413, `request body over this endpoint's limit of ${limit} bytes`));
      }
      chunks.push(c);
    };
    const onEnd = () => finish(undefined, Buffer.concat(chunks, size));
    const onClose = () => {
      if (!req.complete) finish(new BodyAborted());
    };
    // A reset connection emits 'error' on the request: keep a listener for good.
    req.on('error', (e) => finish(new BodyAborted(`the request body was cut: ${e.message}`)));
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('close', onClose);
  });
}

/** Ends a raw socket with a minimal HTTP response, then destroys it (nothing left open). */
function refuseSocketRaw(socket: Duplex, status: number, message = ''): void {
  if (socket.destroyed) return;
  const body = message ? `${message}\n` : '';
  const text = `HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? 'Error'}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
  try {
    socket.once('finish', () => socket.destroy());
    socket.end(text);
    // A peer that never reads must not keep it open either.
    setTimeout(() => socket.destroy(), 2000).unref();
  } catch {
    socket.destroy();
  }
}

export interface HttpServiceOptions {
  /** For logs ("miner-api", "seal", "devnet-rpc"). */
  name: string;
  /** The repository's Auth, or any function mapping a token to its permissions. */
  verify: Auth | Verify;
  limits?: Partial<NetLimits>;
  /** Answer for paths no route serves (default: 404 JSON). */
  notFound?: HttpHandler;
}

export class HttpService {
  readonly server: Server;
  readonly limits: NetLimits;
  private readonly log: Logger;
  private readonly verifyToken: Verify;
  private readonly routes = new Map<string, Route>();
  private readonly upgrades = new Map<string, UpgradeRoute>();
  private readonly conns = new Map<Socket, ConnState>();
  /** Unauthenticated connections in arrival order (the oldest is evicted first). */
  private readonly unauth = new Set<Socket>();
  private readonly unauthByPeer = new Map<string, Set<Socket>>();
  private readonly authByPeer = new Map<string, number>();
  private authTotal = 0;
  /** Refusals are logged at most once a second per kind (a flood must not flood the log). */
  private readonly warned = new Map<string, { at: number; suppressed: number }>();

  constructor(private readonly o: HttpServiceOptions) {
    this.limits = { ...DEFAULT_LIMITS, ...o.limits };
    this.log = logger('net', { service: o.name });
    const v = o.verify;
    this.verifyToken = typeof v === 'function' ? v : (t) => v.verify(t);
    const l = this.limits;
    this.server = createServer({
      maxHeaderSize: l.maxHeaderBytes,
      headersTimeout: l.headersTimeoutMs,
      requestTimeout: Math.max(l.requestTimeoutMs, l.headersTimeoutMs),
      keepAliveTimeout: l.keepAliveTimeoutMs,
      connectionsCheckingInterval: l.checkIntervalMs,
    });
    this.server.maxConnections = l.maxConnections + l.maxUnauthConnections;
    this.server.on('connection', (s: Socket) => this.onConnection(s));
    this.server.on('request', (req: IncomingMessage, res: ServerResponse) => this.onRequest(req, res));
    this.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => this.onUpgrade(req, socket, head));
    this.server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => this.onClientError(err, socket));
    this.server.on('error', (err) => this.log.error({ err }, 'server error'));
    this.server.once('listening', () => {
      const unlist = liveServices.add(this);
      this.server.once('close', unlist);
    });
  }

  get name(): string {
    return this.o.name;
  }

  route(r: Route): this {
    if (this.routes.has(r.path)) throw new Error(`${this.o.name}: route ${r.path} registered twice`);
    this.routes.set(r.path, r);
    return this;
  }

  upgrade(u: UpgradeRoute): this {
    if (this.upgrades.has(u.path)) throw new Error(`${this.o.name}: upgrade path ${u.path} registered twice`);
    this.upgrades.set(u.path, u);
    return this;
  }

  /** Listens on host:port (0 = any free port); resolves to the bound address. */
  async listen(host: string, port: number): Promise<AddressInfo> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    return this.server.address() as AddressInfo;
  }

  address(): AddressInfo {
    return this.server.address() as AddressInfo;
  }

  /** Open connections by budget (WebSockets included: they stay counted until closed). */
  connections(): { authenticated: number; unauthenticated: number; total: number } {
    return { authenticated: this.authTotal, unauthenticated: this.unauth.size, total: this.conns.size };
  }

  /** Stops listening and closes every connection (WebSockets too). */
  close(): Promise<void> {
    return new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
      for (const s of this.conns.keys()) s.destroy();
    });
  }

  // ---------------------------------------------------------------- connections

  private onConnection(s: Socket): void {
    const address = s.remoteAddress ?? '?';
    const st: ConnState = { peer: `${address}:${s.remotePort}`, address, authed: false };
    s.on('error', (err) => this.log.debug({ peer: st.peer, err }, 'socket error'));
    const l = this.limits;
    // Over a budget, the oldest stranger makes room (it has had the longest to show a token);
    // a newcomer is never refused outright, so a peer's slow connections cannot lock out a
    // good client from the same address, which shows its token within milliseconds.
    const mine = this.unauthByPeer.get(address);
    if (mine && mine.size >= l.maxUnauthConnectionsPerPeer) {
      const oldest = mine.values().next().value as Socket;
      this.warnOnce('unauth-peer', { peer: address, open: mine.size }, 'too many unauthenticated connections from one peer; closing its oldest');
      httpRefused.inc({ service: this.o.name, reason: 'unauth_evicted' });
      this.dropUnauth(oldest);
      oldest.destroy();
    }
    if (this.unauth.size >= l.maxUnauthConnections) {
      const oldest = this.unauth.values().next().value as Socket;
      this.warnOnce('unauth-evict', { evicted: this.conns.get(oldest)?.peer }, 'unauthenticated connection budget full; closing the oldest');
      httpRefused.inc({ service: this.o.name, reason: 'unauth_evicted' });
      this.dropUnauth(oldest);
      oldest.destroy();
    }
    this.conns.set(s, st);
    this.unauth.add(s);
    const set = this.unauthByPeer.get(address) ?? new Set<Socket>();
    set.add(s);
    this.unauthByPeer.set(address, set);
    s.once('close', () => {
      const c = this.conns.get(s);
      if (!c) return;
      if (c.authed) {
        this.authTotal--;
        dec(this.authByPeer, c.address);
      } else this.dropUnauth(s);
      this.conns.delete(s);
    });
  }

  private warnOnce(kind: string, fields: Record<string, unknown>, msg: string): void {
    const now = Date.now();
    const w = this.warned.get(kind);
    if (w && now - w.at < 1000) {
      w.suppressed++;
      return;
    }
    this.log.warn({ ...fields, suppressed: w?.suppressed ?? 0 }, msg);
    this.warned.set(kind, { at: now, suppressed: 0 });
  }

  private dropUnauth(s: Socket): void {
    const c = this.conns.get(s);
    if (!c || c.authed || !this.unauth.delete(s)) return;
    const set = this.unauthByPeer.get(c.address);
    set?.delete(s);
    if (set?.size === 0) this.unauthByPeer.delete(c.address);
  }

  /** Moves a connection into the authenticated budget; false when that budget is full. */
  private promote(s: Socket): boolean {
    const c = this.conns.get(s);
    if (!c) return true; // already closing
    if (c.authed) return true;
    const l = this.limits;
    const mine = this.authByPeer.get(c.address) ?? 0;
    if (this.authTotal >= l.maxConnections || mine >= l.maxConnectionsPerPeer) {
      this.warnOnce('auth-limit', { peer: c.peer, open: this.authTotal, fromPeer: mine }, 'authenticated connection limit reached; refusing');
      httpRefused.inc({ service: this.o.name, reason: 'auth_limit' });
      return false;
    }
    this.dropUnauth(s);
    c.authed = true;
    this.authTotal++;
    this.authByPeer.set(c.address, mine + 1);
    return true;
  }

  /** The request's token check: 'invalid' for a malformed or wrong token. */
  private authOf(req: IncomingMessage, url: URL, queryToken: boolean): { perms: Permission[]; authenticated: boolean } | 'invalid' {
    const h = req.headers.authorization;
    let token: string | undefined;
    if (h !== undefined) {
      token = bearerToken(h);
      if (!token) return 'invalid';
    } else if (queryToken) {
      token = url.searchParams.get('token') ?? undefined;
    }
    if (!token) return { perms: [], authenticated: false };
    const perms = this.verifyToken(token);
    return perms ? { perms, authenticated: true } : 'invalid';
  }

  // ---------------------------------------------------------------- requests

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    const peer = `${req.socket.remoteAddress}:${req.socket.remotePort}`;
    res.on('error', (err) => this.log.debug({ peer, err }, 'response error'));
    req.on('error', (err) => this.log.debug({ peer, err }, 'request error'));
    res.once('finish', () => httpRequests.inc({ service: this.o.name, code: String(res.statusCode) }));
    try {
      const p = this.dispatch(req, res, peer);
      if (p) p.catch((e) => this.failed(res, peer, req, e));
    } catch (e) {
      this.failed(res, peer, req, e);
    }
  }

  private failed(res: ServerResponse, peer: string, req: IncomingMessage, e: unknown): void {
    if (e instanceof BodyAborted) {
      this.log.debug({ peer, path: pathOf(req.url) }, e.message);
      res.destroy();
      return;
    }
    if (e instanceof HttpError) {
      return this.answerAndClose(req, res, e.status, { jsonrpc: '2.0', id: null, error: { code: e.status === 413 ? -32600 : e.status, message: e.message } });
    }
    this.log.error({ err: e, peer, path: pathOf(req.url) }, 'request handler failed');
    if (!res.headersSent) sendJson(res, 500, { jsonrpc: '2.0', id: null, error: { code: -32603, message: 'internal error' } }, { connection: 'close' });
    else res.destroy();
  }

  /** Answers, then closes the connection, whose body may be unread. */
  private answerAndClose(req: IncomingMessage, res: ServerResponse, status: number, body: unknown): void {
    if (req.complete) return sendJson(res, status, body, { connection: 'close' });
    // The body is still coming. Closing now would make the client's kernel see a reset and
    // drop our answer; so (a lingering close, as Go's net/http) Node discards — never keeps —
    // what still arrives while the answer goes out, and the socket is cut shortly after.
    if (!res.headersSent) res.removeHeader('connection');
    sendJson(res, status, body);
    setTimeout(() => req.socket.destroy(), 500).unref();
  }

  private dispatch(req: IncomingMessage, res: ServerResponse, peer: string): void | Promise<void> {
    const url = parseTarget(req.url);
    if (!url) {
      return this.answerAndClose(req, res, 400, { jsonrpc: '2.0', id: null, error: { code: -32600, message: 'the request target is not a valid URL' } });
    }
    const route = this.routes.get(url.pathname);
    const auth = this.authOf(req, url, route?.queryToken === true);
    if (auth === 'invalid') {
      // Lotus answers 401 to a token it cannot verify; the body is never read.
      return this.answerAndClose(req, res, 401, { jsonrpc: '2.0', id: null, error: { code: 401, message: 'JWT Verification failed: missing or wrong API token (Authorization: Bearer <token>)' } });
    }
    if (auth.authenticated) {
      if (!this.promote(req.socket)) return this.answerAndClose(req, res, 503, { jsonrpc: '2.0', id: null, error: { code: 503, message: 'too many connections; try again later' } });
    } else {
      // A stranger's connection is not kept alive: it goes back to the small budget's limits.
      res.setHeader('connection', 'close');
    }
    const ac = new AbortController();
    res.on('close', () => ac.abort());
    const limit = auth.authenticated ? (route?.maxBodyBytes ?? this.limits.maxBodyBytes) : this.limits.preAuthMaxBodyBytes;
    const ctx: RequestContext = { url, perms: auth.perms, authenticated: auth.authenticated, peer, signal: ac.signal, readBody: () => readBody(req, limit), log: this.log };
    if (!route) {
      if (this.o.notFound) return this.o.notFound(req, res, ctx);
      const body = { jsonrpc: '2.0', id: null, error: { code: 404, message: `no such endpoint ${url.pathname}` } };
      return auth.authenticated ? sendJson(res, 404, body) : this.answerAndClose(req, res, 404, body);
    }
    const methods = route.method === undefined ? undefined : Array.isArray(route.method) ? route.method : [route.method];
    if (methods && !methods.includes(req.method ?? '')) {
      res.setHeader('allow', methods.join(', '));
      const body = { jsonrpc: '2.0', id: null, error: { code: 405, message: `use ${methods.join(' or ')} on ${url.pathname}` } };
      return auth.authenticated ? sendJson(res, 405, body) : this.answerAndClose(req, res, 405, body);
    }
    return route.handler(req, res, ctx);
  }

  // ---------------------------------------------------------------- upgrades

  private onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    // Node removed its own error listener from an upgraded socket: without one, a reset crashes.
    socket.on('error', (err) => this.log.debug({ err }, 'upgrade socket error'));
    const refuseSocket = (sock: Duplex, status: number, message?: string) => {
      httpRefused.inc({ service: this.o.name, reason: 'upgrade' });
      refuseSocketRaw(sock, status, message);
    };
    try {
      const url = parseTarget(req.url);
      if (!url) return refuseSocket(socket, 400, 'the request target is not a valid URL');
      const u = this.upgrades.get(url.pathname);
      if (!u) return refuseSocket(socket, 404, 'no WebSocket endpoint here');
      const auth = this.authOf(req, url, u.queryToken === true);
      if (auth === 'invalid') return refuseSocket(socket, 401, 'JWT Verification failed');
      if (u.perm && !auth.perms.includes(u.perm)) return refuseSocket(socket, auth.authenticated ? 403 : 401, `this endpoint needs a token with the '${u.perm}' permission`);
      if (auth.authenticated && !this.promote(req.socket)) return refuseSocket(socket, 503, 'too many connections');
      const peer = `${req.socket.remoteAddress}:${req.socket.remotePort}`;
      u.handle(req, socket, head, { url, perms: auth.perms, authenticated: auth.authenticated, peer });
    } catch (err) {
      this.log.error({ err, path: pathOf(req.url) }, 'upgrade handler failed');
      refuseSocket(socket, 500);
    }
  }

  private onClientError(err: NodeJS.ErrnoException, socket: Duplex): void {
    this.log.debug({ code: err.code, err }, 'bad request from client');
    if (err.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
    httpRefused.inc({ service: this.o.name, reason: 'bad_request' });
    refuseSocketRaw(socket, status);
  }
}

/** A request target for logs: the path only (a `?token=` must not end up in a log). */
function pathOf(url: string | undefined): string {
  return (url ?? '').split('?')[0].slice(0, 200);
}

function dec(m: Map<string, number>, k: string): void {
  const n = (m.get(k) ?? 0) - 1;
  if (n <= 0) m.delete(k);
  else m.set(k, n);
}
