// The miner's local API: JSON-RPC 2.0 over HTTP POST (path /rpc/v0, as Lotus), bearer token
// in `Authorization: Bearer …` (Lotus style). Methods are registered by the components that
// own them (`register`), e.g. the supervisor's `Distminer.Status`.
import { createHash, timingSafeEqual } from 'node:crypto';
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { logger } from '../log.js';
import type { HostPort } from '../config/multiaddr.js';

const log = logger('api');

export const RPC_PATH = '/rpc/v0';
const MAX_BODY = 1024 * 1024;

export type Handler = (params: unknown[]) => unknown | Promise<unknown>;

export class RpcError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

export interface ApiServer {
  address: HostPort;
  register(method: string, handler: Handler): void;
  close(): Promise<void>;
}

const digest = (s: string) => createHash('sha256').update(s).digest();

export async function startApiServer(listen: HostPort, token: string): Promise<ApiServer> {
  const methods = new Map<string, Handler>();
  const want = digest(token);
  const server: Server = createServer((req, res) => void handle(req, res));

  function reply(res: ServerResponse, status: number, body: unknown): void {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.url !== RPC_PATH) return reply(res, 404, { error: `no such path; JSON-RPC is at ${RPC_PATH}` });
    if (req.method !== 'POST') return reply(res, 405, { error: 'use POST' });
    const auth = req.headers.authorization ?? '';
    const m = /^Bearer (.+)$/.exec(auth);
    if (!m || !timingSafeEqual(digest(m[1].trim()), want)) {
      return reply(res, 401, { jsonrpc: '2.0', id: null, error: { code: 401, message: 'missing or wrong API token (Authorization: Bearer <token from the repo\'s token file>)' } });
    }
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const c of req) {
      size += (c as Buffer).length;
      if (size > MAX_BODY) return reply(res, 413, { jsonrpc: '2.0', id: null, error: { code: -32600, message: `request larger than ${MAX_BODY} bytes` } });
      chunks.push(c as Buffer);
    }
    let call: { jsonrpc?: string; id?: unknown; method?: unknown; params?: unknown };
    try {
      call = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      return reply(res, 200, { jsonrpc: '2.0', id: null, error: { code: -32700, message: 'parse error: the body is not JSON' } });
    }
    const id = call?.id ?? null;
    if (typeof call !== 'object' || call === null || typeof call.method !== 'string') {
      return reply(res, 200, { jsonrpc: '2.0', id, error: { code: -32600, message: 'invalid request: expected {jsonrpc, id, method, params}' } });
    }
    const h = methods.get(call.method);
    if (!h) return reply(res, 200, { jsonrpc: '2.0', id, error: { code: -32601, message: `method ${call.method} not found` } });
    const params = call.params === undefined ? [] : call.params;
    if (!Array.isArray(params)) return reply(res, 200, { jsonrpc: '2.0', id, error: { code: -32602, message: 'params must be an array' } });
    try {
      const result = await h(params);
      reply(res, 200, { jsonrpc: '2.0', id, result: result ?? null });
    } catch (e) {
      const code = e instanceof RpcError ? e.code : 1;
      reply(res, 200, { jsonrpc: '2.0', id, error: { code, message: (e as Error)?.message ?? String(e) } });
    }
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(listen.port, listen.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const a = server.address() as AddressInfo;
  log.info({ host: a.address, port: a.port }, 'miner API listening');
  return {
    address: { host: a.address, port: a.port },
    register(method, handler) {
      if (methods.has(method)) throw new Error(`API method ${method} registered twice`);
      methods.set(method, handler);
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
