// JSON-RPC 2.0 over HTTP POST and WebSocket as Lotus serves it, on top of HttpService: every method is
// registered with the permission it needs (read < write < sign < admin, src/auth), checked on
// every call; errors have Lotus's shapes (-32700 parse, -32600 invalid request, -32601 no such
// method, -32602 bad params, 1 for a method's own error, "missing permission to invoke 'X'
// (need 'P')" for a token without the level). Any body — `null`, a number, an array, garbage —
// gets an error reply; nothing a client sends can throw out of here.
import { WebSocketServer, type WebSocket } from 'ws';
import type { Permission } from '../auth/index.js';
import { missingPermission } from '../auth/index.js';
import type { Logger } from '../log.js';
import { type RequestContext, type Route, type UpgradeContext, type UpgradeRoute, sendJson } from './http-server.js';

/** Requests one WebSocket may have unanswered at once; more get an error reply. */
const WS_MAX_IN_FLIGHT = 64;

export const RPC_PARSE_ERROR = -32700;
export const RPC_INVALID_REQUEST = -32600;
export const RPC_METHOD_NOT_FOUND = -32601;
export const RPC_INVALID_PARAMS = -32602;
export const RPC_INTERNAL = -32603;

/**
 * A JSON-RPC error object: what a method throws to answer with a code (others get code 1, as
 * Lotus), and what a client (rpc-client.ts) throws when the server answered with one — the
 * server's answer, not a reason to try another server. `method`: the method called (clients).
 */
export class RpcError extends Error {
  constructor(
    readonly code: number,
    message: string,
    readonly method?: string,
  ) {
    super(message);
    this.name = 'RpcError';
  }
}

export type RpcHandler = (params: unknown[], ctx: RequestContext) => unknown | Promise<unknown>;

/** Where a channel method's values go (go-jsonrpc's `<-chan` results). */
export interface RpcChannel {
  /** One value, as an `xrpc.ch.val` notification. */
  send(value: unknown): void;
  /** The end of the channel (`xrpc.ch.close`), from the server's side. */
  close(): void;
}

/**
 * A channel method (Lotus's ChainNotify): over a WebSocket only, answered with a channel id and
 * then its values until either side closes it. Values sent before it returns follow the answer.
 * Throw (an RpcError) to refuse it; return what stops it.
 */
export type ChannelHandler = (params: unknown[], ctx: RequestContext, ch: RpcChannel) => () => void;

export interface UpgradeOptions {
  /** The largest frame from an authenticated socket. Default 1 MiB. */
  maxPayload?: number;
  /** The permission the upgrade needs; null lets a socket without a token in (no permissions, as Lotus does). Default 'read'. */
  perm?: Permission | null;
  /** The largest frame from a socket without a token. Default 64 KiB. */
  anonMaxPayload?: number;
  /** Accept the token as `?token=` too (Lotus's daemon does). */
  queryToken?: boolean;
}

export interface RpcReply {
  jsonrpc: '2.0';
  id: unknown;
  result?: unknown;
  error?: { code: number; message: string };
}

export const rpcError = (id: unknown, code: number, message: string): RpcReply => ({ jsonrpc: '2.0', id: id ?? null, error: { code, message } });

const validId = (id: unknown) => id === undefined || id === null || typeof id === 'string' || (typeof id === 'number' && Number.isFinite(id));

/** Lotus names a method in permission errors without its `Filecoin.` namespace. */
const shortName = (method: string) => method.replace(/^Filecoin\./, '');

export class JsonRpcMethods {
  private readonly methods = new Map<string, { perm: Permission; fn: RpcHandler }>();
  private readonly channels = new Map<string, { perm: Permission; open: ChannelHandler }>();
  private readonly sockets = new Set<WebSocket>();
  private readonly servers: WebSocketServer[] = [];

  register(method: string, perm: Permission, fn: RpcHandler): void {
    if (this.has(method)) throw new Error(`API method ${method} registered twice`);
    this.methods.set(method, { perm, fn });
  }

  /** A channel method (see ChannelHandler). */
  registerChannel(method: string, perm: Permission, open: ChannelHandler): void {
    if (this.has(method)) throw new Error(`API method ${method} registered twice`);
    this.channels.set(method, { perm, open });
  }

  has(method: string): boolean {
    return this.methods.has(method) || this.channels.has(method);
  }

  /** Ends every WebSocket these methods serve (their channels stop). */
  close(): void {
    for (const ws of this.sockets) ws.terminate();
    for (const w of this.servers) w.close();
  }

  /** Answers one decoded request; never throws. */
  async call(raw: unknown, ctx: RequestContext): Promise<RpcReply> {
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return rpcError(null, RPC_INVALID_REQUEST, 'invalid request: expected a JSON-RPC request object {jsonrpc, id, method, params}');
    const req = raw as { id?: unknown; method?: unknown; params?: unknown };
    const id = validId(req.id) ? (req.id ?? null) : null;
    if (!validId(req.id)) return rpcError(null, RPC_INVALID_REQUEST, 'invalid request: id must be a string, a number or null');
    if (typeof req.method !== 'string') return rpcError(id, RPC_INVALID_REQUEST, 'invalid request: method must be a string');
    if (this.channels.has(req.method)) return rpcError(id, 1, `${shortName(req.method)} needs a websocket connection (channels are not supported over HTTP)`);
    const m = this.methods.get(req.method);
    if (!m) return rpcError(id, RPC_METHOD_NOT_FOUND, `method '${req.method.slice(0, 200)}' not found`);
    if (!ctx.perms.includes(m.perm)) return rpcError(id, 1, missingPermission(m.perm, shortName(req.method)));
    const params = req.params === undefined || req.params === null ? [] : req.params;
    if (!Array.isArray(params)) return rpcError(id, RPC_INVALID_PARAMS, 'params must be an array');
    try {
      const result = await m.fn(params, ctx);
      return { jsonrpc: '2.0', id, result: result === undefined ? null : result };
    } catch (e) {
      if (e instanceof RpcError) return rpcError(id, e.code, e.message);
      const message = e instanceof Error ? e.message : String(e);
      // A method that stumbles on odd params (TypeError) is the caller's error, not a crash.
      if (!(e instanceof TypeError || e instanceof RangeError)) ctx.log.debug({ err: e, method: req.method }, 'method failed');
      return rpcError(id, 1, message);
    }
  }

  /**
   * The same methods over a WebSocket at `path`, as Lotus's Go clients use them (lotus-miner's
   * CLI dials ws://…/rpc/v0): one request per text frame, each answered when done; the token is
   * checked at the upgrade (`perm`), each method's permission per call; channel methods send
   * their values as `xrpc.ch.val` until the client sends `xrpc.ch.close` (or `xrpc.cancel`)
   * with the channel id, or the socket closes. Other notifications (no id) get no answer. A
   * frame over the payload limit closes the socket; requests over WS_MAX_IN_FLIGHT unanswered
   * get an error.
   */
  upgradeRoute(path: string, log: Logger, o: UpgradeOptions = {}): UpgradeRoute {
    const wss = new WebSocketServer({ noServer: true, maxPayload: o.maxPayload ?? 1024 * 1024 });
    const perm = o.perm === undefined ? 'read' : o.perm;
    // A socket without a token may not send large frames.
    const anon = perm === null ? new WebSocketServer({ noServer: true, maxPayload: o.anonMaxPayload ?? 64 * 1024 }) : wss;
    this.servers.push(wss, anon);
    return {
      path,
      perm,
      queryToken: o.queryToken,
      handle: (req, socket, head, ctx) => (ctx.authenticated ? wss : anon).handleUpgrade(req, socket, head, (ws) => this.serveSocket(ws, ctx, log)),
    };
  }

  private serveSocket(ws: WebSocket, up: UpgradeContext, log: Logger): void {
    this.sockets.add(ws);
    const ac = new AbortController();
    let inFlight = 0;
    const ctx: RequestContext = { ...up, signal: ac.signal, log, readBody: () => Promise.reject(new Error('no body on a WebSocket')) };
    const subs = new Map<number, () => void>();
    let nextChan = 1;
    const sendText = (v: unknown) => {
      if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(v));
    };
    const send = (reply: RpcReply) => {
      if (ws.readyState !== ws.OPEN) return;
      let text: string;
      try {
        text = JSON.stringify(reply);
      } catch (e) {
        // A result JSON cannot hold (a BigInt, a cycle): the caller gets an error, the process lives.
        text = JSON.stringify(rpcError(reply.id, RPC_INTERNAL, `the result cannot be sent as JSON: ${(e as Error).message}`));
      }
      ws.send(text);
    };
    const stop = (chan: number) => {
      const f = subs.get(chan);
      subs.delete(chan);
      f?.();
    };
    ws.on('error', (err) => log.debug({ err }, 'JSON-RPC WebSocket error'));
    ws.on('close', () => {
      ac.abort();
      for (const chan of [...subs.keys()]) stop(chan);
      this.sockets.delete(ws);
    });
    ws.on('message', (data, isBinary) => {
      let raw: unknown;
      try {
        raw = JSON.parse(isBinary ? Buffer.from(data as Buffer).toString('utf8') : data.toString());
      } catch {
        return send(rpcError(null, RPC_PARSE_ERROR, 'parse error: the frame is not JSON'));
      }
      const req = raw !== null && typeof raw === 'object' && !Array.isArray(raw) ? (raw as { id?: unknown; method?: unknown; params?: unknown }) : undefined;
      if (req && (req.method === 'xrpc.ch.close' || req.method === 'xrpc.cancel')) {
        if (Array.isArray(req.params)) stop(Number(req.params[0]));
        return;
      }
      if (req && !('id' in req)) return; // a notification
      const ch = req && typeof req.method === 'string' ? this.channels.get(req.method) : undefined;
      if (req && ch) return this.openChannel(req, ch, ctx, subs, nextChan++, send, sendText);
      if (inFlight >= WS_MAX_IN_FLIGHT) return send(rpcError(req?.id ?? null, RPC_INTERNAL, `more than ${WS_MAX_IN_FLIGHT} requests in flight on this connection`));
      inFlight++;
      void this.call(raw, ctx)
        .then(send)
        .catch((err: unknown) => log.debug({ err }, 'JSON-RPC WebSocket reply failed'))
        .finally(() => inFlight--);
    });
  }

  /** Answers a channel request with channel `chan`, then lets its values through. */
  private openChannel(
    req: { id?: unknown; method?: unknown; params?: unknown },
    ch: { perm: Permission; open: ChannelHandler },
    ctx: RequestContext,
    subs: Map<number, () => void>,
    chan: number,
    send: (r: RpcReply) => void,
    sendText: (v: unknown) => void,
  ): void {
    const method = req.method as string;
    const id = validId(req.id) ? (req.id ?? null) : null;
    if (!ctx.perms.includes(ch.perm)) return send(rpcError(id, 1, missingPermission(ch.perm, shortName(method))));
    const params = req.params === undefined || req.params === null ? [] : req.params;
    if (!Array.isArray(params)) return send(rpcError(id, RPC_INVALID_PARAMS, 'params must be an array'));
    // Values sent while opening wait for the answer that names the channel.
    let open = false;
    let closed = false;
    const early: unknown[] = [];
    const out = (v: unknown) => (open ? sendText(v) : early.push(v));
    let stopIt: (() => void) | undefined;
    try {
      stopIt = ch.open(params, ctx, {
        send: (value) => {
          if (!closed) out({ jsonrpc: '2.0', method: 'xrpc.ch.val', params: [chan, value] });
        },
        close: () => {
          if (closed) return;
          closed = true;
          subs.delete(chan);
          out({ jsonrpc: '2.0', method: 'xrpc.ch.close', params: [chan] });
          stopIt?.(); // closed while opening: stopped once open returns, below
        },
      });
    } catch (e) {
      return send(rpcError(id, e instanceof RpcError ? e.code : 1, e instanceof Error ? e.message : String(e)));
    }
    send({ jsonrpc: '2.0', id, result: chan });
    open = true;
    for (const v of early) sendText(v);
    if (closed) stopIt!();
    else
      subs.set(chan, () => {
        closed = true;
        stopIt!();
      });
  }

  /** The POST route serving these methods at `path` (`queryToken`: the token may come as `?token=`, as Lotus's daemon takes it). */
  route(path: string, o: { maxBodyBytes?: number; queryToken?: boolean } = {}): Route {
    return {
      path,
      method: 'POST',
      maxBodyBytes: o.maxBodyBytes,
      queryToken: o.queryToken,
      handler: async (_req, res, ctx) => {
        const body = await ctx.readBody();
        let raw: unknown;
        try {
          raw = JSON.parse(body.toString('utf8'));
        } catch {
          return sendJson(res, 200, rpcError(null, RPC_PARSE_ERROR, 'parse error: the body is not JSON'));
        }
        sendJson(res, 200, await this.call(raw, ctx));
      },
    };
  }
}
