// Client of the miner's local API (JSON-RPC over HTTP, bearer token), for CLI commands.
import type { HostPort } from '../config/multiaddr.js';
import { RpcTransportError, rpcCall } from '../net/rpc-client.js';
import { RPC_PATH } from './server.js';

/**
 * Calls the miner API at `addr`: its answer, or RpcError (the API answered with an error object,
 * `code` as sent) or RpcTransportError (no answer; one that names the likely cause when nothing
 * listens there).
 */
export async function callApi<T = unknown>(addr: HostPort, token: string, method: string, params: unknown[] = [], timeoutMs = 10_000): Promise<T> {
  try {
    return await rpcCall<T>(`http://${addr.host}:${addr.port}${RPC_PATH}`, method, params, { token, timeoutMs });
  } catch (e) {
    if (e instanceof RpcTransportError && e.status === 'ECONNREFUSED')
      throw new RpcTransportError(`no miner API listening on ${addr.host}:${addr.port} (is \`distminer run\` running on this repository?)`, e.reason, e.status, { cause: e });
    if (e instanceof RpcTransportError && e.reason === 'timeout') throw new RpcTransportError(`the miner API did not answer within ${timeoutMs} ms`, e.reason, e.status, { cause: e });
    throw e;
  }
}
