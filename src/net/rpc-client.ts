// The one JSON-RPC client call over HTTP POST, as Lotus's clients make it (go-jsonrpc): a bearer
// token, `{jsonrpc: '2.0', id, method, params}`, a deadline on the whole exchange. Used by the
// chain client (with failover across daemons), the miner API client and the seal service's
// commands. Two kinds of failure, told apart so callers can act on them:
// - RpcError (net/json-rpc.ts): the server answered with a JSON-RPC error object — its code and
//   message, as the server wrote them;
// - RpcTransportError: no answer to use — unreachable, no answer in time, the token refused
//   (HTTP 401/403), an HTTP error status without an error object, or a body that is not a
//   JSON-RPC reply.
import { RpcError } from './json-rpc.js';

export type TransportFailure = 'unreachable' | 'timeout' | 'unauthorized' | 'http' | 'bad-reply';

export class RpcTransportError extends Error {
  constructor(
    message: string,
    readonly reason: TransportFailure,
    /** The HTTP status, when there was an answer; the system error code (ECONNREFUSED, …) when unreachable. */
    readonly status?: number | string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'RpcTransportError';
  }
}

export interface RpcCallOptions {
  token?: string;
  /** Deadline for the request and its answer. Default 10 s. */
  timeoutMs?: number;
  id?: number;
  /** Largest answer body read, in bytes; a bigger one is refused ('bad-reply') without being
   *  buffered, so a broken or hostile server cannot exhaust this process's memory. Default
   *  256 MiB (Lotus's state answers for a large miner reach tens of MiB). */
  maxReplyBytes?: number;
}

export const DEFAULT_MAX_REPLY_BYTES = 256 * 1024 * 1024;

/** Reads a body as UTF-8, refusing it once it passes `max` bytes. */
async function readBounded(res: Response, max: number, url: string): Promise<string> {
  const declared = Number(res.headers.get('content-length'));
  const tooBig = () => new RpcTransportError(`${url}: the answer is larger than ${max} bytes; refused`, 'bad-reply', res.status);
  if (Number.isFinite(declared) && declared > max) {
    await res.body?.cancel().catch(() => undefined);
    throw tooBig();
  }
  if (!res.body) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = res.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > max) {
      await reader.cancel().catch(() => undefined);
      throw tooBig();
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

interface Reply<T> {
  result?: T;
  error?: { code?: unknown; message?: unknown };
}

/** Calls `method` at `url` (e.g. http://127.0.0.1:1234/rpc/v1); resolves with its result. */
export async function rpcCall<T>(url: string, method: string, params: unknown[] = [], o: RpcCallOptions = {}): Promise<T> {
  const timeoutMs = o.timeoutMs ?? 10_000;
  const noAnswer = (e: unknown): RpcTransportError => {
    if ((e as Error).name === 'TimeoutError') return new RpcTransportError(`${url}: no answer within ${timeoutMs} ms`, 'timeout', undefined, { cause: e });
    // fetch's own error says only "fetch failed"; the system error is its cause.
    const cause = (e as Error & { cause?: Error & { code?: string } }).cause;
    return new RpcTransportError(`${url}: ${cause?.message ?? (e as Error).message}`, 'unreachable', cause?.code, { cause: cause ?? e });
  };
  let res: Response;
  let text: string;
  try {
    res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(o.token ? { authorization: `Bearer ${o.token}` } : {}) },
      body: JSON.stringify({ jsonrpc: '2.0', id: o.id ?? 1, method, params }),
      signal: AbortSignal.timeout(timeoutMs),
    });
    text = await readBounded(res, o.maxReplyBytes ?? DEFAULT_MAX_REPLY_BYTES, url);
  } catch (e) {
    if (e instanceof RpcTransportError) throw e;
    throw noAnswer(e);
  }
  let reply: Reply<T> | undefined;
  try {
    const j: unknown = JSON.parse(text);
    if (j !== null && typeof j === 'object' && ('result' in j || 'error' in j)) reply = j as Reply<T>;
  } catch {
    // not JSON: said below
  }
  const said = typeof reply?.error?.message === 'string' ? `: ${reply.error.message}` : '';
  if (res.status === 401 || res.status === 403) throw new RpcTransportError(`${url} refused the token (HTTP ${res.status})${said}`, 'unauthorized', res.status);
  // go-jsonrpc (Lotus) answers a call it cannot dispatch (no such method, bad params) with
  // HTTP 500 and an error object: that is the server's answer too, whatever the status.
  if (!reply)
    throw new RpcTransportError(`${url}: ${res.status === 200 ? `the answer to ${method} is not a JSON-RPC reply` : `HTTP ${res.status}`}`, res.status === 200 ? 'bad-reply' : 'http', res.status);
  if (reply.error) throw new RpcError(typeof reply.error.code === 'number' ? reply.error.code : 0, typeof reply.error.message === 'string' ? reply.error.message : JSON.stringify(reply.error), method);
  return reply.result as T;
}
