// JSON-RPC 2.0 over HTTP POST as Lotus serves it, on top of HttpService: every method is
// registered with the permission it needs (read < write < sign < admin, src/auth), checked on
// every call; errors have Lotus's shapes (-32700 parse, -32600 invalid request, -32601 no such
// method, -32602 bad params, 1 for a method's own error, "missing permission to invoke 'X'
// (need 'P')" for a token without the level). Any body — `null`, a number, an array, garbage —
// gets an error reply; nothing a client sends can throw out of here.
import type { Permission } from '../auth/index.js';
import { missingPermission } from '../auth/index.js';
import { type RequestContext, type Route, sendJson } from './http-server.js';

export const RPC_PARSE_ERROR = -32700;
export const RPC_INVALID_REQUEST = -32600;
export const RPC_METHOD_NOT_FOUND = -32601;
export const RPC_INVALID_PARAMS = -32602;
export const RPC_INTERNAL = -32603;

/** An error with a JSON-RPC code, for methods to throw (others get code 1, as Lotus). */
export class RpcError extends Error {
  constructor(
    readonly code: number,
    message: string,
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
