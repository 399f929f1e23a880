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

export interface RpcReply {
  jsonrpc: '2.0';
  id: unknown;
  result?: unknown;
  error?: { code: number; message: string };
}

export const rpcError = (id: unknown, code: number, message: string): RpcReply => ({ jsonrpc: '2.0', id: id ?? null, error: { code, message } });

const validId = (id: unknown) => id === undefined || id === null || typeof id === 'string' || (typeof id === 'number' && Number.isFinite(id));

export class JsonRpcMethods {
  private readonly methods = new Map<string, { perm: Permission; fn: RpcHandler }>();

  register(method: string, perm: Permission, fn: RpcHandler): void {
    if (this.methods.has(method)) throw new Error(`API method ${method} registered twice`);
    this.methods.set(method, { perm, fn });
  }

  has(method: string): boolean {
    return this.methods.has(method);
  }

  /** Answers one decoded request; never throws. */
  async call(raw: unknown, ctx: RequestContext): Promise<RpcReply> {
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return rpcError(null, RPC_INVALID_REQUEST, 'invalid request: expected a JSON-RPC request object {jsonrpc, id, method, params}');
    const req = raw as { id?: unknown; method?: unknown; params?: unknown };
    const id = validId(req.id) ? (req.id ?? null) : null;
    if (!validId(req.id)) return rpcError(null, RPC_INVALID_REQUEST, 'invalid request: id must be a string, a number or null');
    if (typeof req.method !== 'string') return rpcError(id, RPC_INVALID_REQUEST, 'invalid request: method must be a string');
    const m = this.methods.get(req.method);
    if (!m) return rpcError(id, RPC_METHOD_NOT_FOUND, `method '${req.method.slice(0, 200)}' not found`);
    if (!ctx.perms.includes(m.perm)) return rpcError(id, 1, missingPermission(m.perm, req.method));
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
   * checked at the upgrade (read at least), each method's permission per call. Notifications
   * (no id: go-jsonrpc's `xrpc.cancel`, say) get no answer. A frame over `maxPayload` closes
   * the socket; requests over WS_MAX_IN_FLIGHT unanswered get an error.
   */
  upgradeRoute(path: string, log: Logger, maxPayload = 1024 * 1024): UpgradeRoute {
    const wss = new WebSocketServer({ noServer: true, maxPayload });
    return {
      path,
      perm: 'read',
      handle: (req, socket, head, ctx) => wss.handleUpgrade(req, socket, head, (ws) => this.serveSocket(ws, ctx, log)),
    };
  }

  private serveSocket(ws: WebSocket, up: UpgradeContext, log: Logger): void {
    const ac = new AbortController();
    let inFlight = 0;
    const ctx: RequestContext = { ...up, signal: ac.signal, log, readBody: () => Promise.reject(new Error('no body on a WebSocket')) };
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
    ws.on('error', (err) => log.debug({ err }, 'JSON-RPC WebSocket error'));
    ws.on('close', () => ac.abort());
    ws.on('message', (data, isBinary) => {
      let raw: unknown;
      try {
        raw = JSON.parse(isBinary ? Buffer.from(data as Buffer).toString('utf8') : data.toString());
      } catch {
        return send(rpcError(null, RPC_PARSE_ERROR, 'parse error: the frame is not JSON'));
      }
      if (raw !== null && typeof raw === 'object' && !Array.isArray(raw) && !('id' in raw)) return; // a notification
      if (inFlight >= WS_MAX_IN_FLIGHT) return send(rpcError((raw as { id?: unknown } | null)?.id ?? null, RPC_INTERNAL, `more than ${WS_MAX_IN_FLIGHT} requests in flight on this connection`));
      inFlight++;
      void this.call(raw, ctx)
        .then(send)
        .catch((err: unknown) => log.debug({ err }, 'JSON-RPC WebSocket reply failed'))
        .finally(() => inFlight--);
    });
  }

  /** The POST route serving these methods at `path`. */
  route(path: string, maxBodyBytes?: number): Route {
    return {
      path,
      method: 'POST',
      maxBodyBytes,
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
