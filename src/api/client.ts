// Client of the miner's local API (JSON-RPC over HTTP, bearer token), for CLI commands.
import { request } from 'node:http';
import type { HostPort } from '../config/multiaddr.js';
import { RPC_PATH } from './server.js';

export class ApiCallError extends Error {
  constructor(
    message: string,
    readonly code?: number,
  ) {
    super(message);
  }
}

export function callApi<T = unknown>(addr: HostPort, token: string, method: string, params: unknown[] = [], timeoutMs = 10_000): Promise<T> {
  const body = JSON.stringify({ jsonrpc: '2.0', id: 1, method, params });
  return new Promise<T>((resolve, reject) => {
    const req = request(
      {
        host: addr.host,
        port: addr.port,
        path: RPC_PATH,
        method: 'POST',
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), authorization: `Bearer ${token}` },
        timeout: timeoutMs,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          let r: { result?: T; error?: { code: number; message: string } };
          try {
            r = JSON.parse(Buffer.concat(chunks).toString('utf8'));
          } catch {
            return reject(new ApiCallError(`the miner API answered HTTP ${res.statusCode} with a body that is not JSON`));
          }
          if (r.error) return reject(new ApiCallError(r.error.message, r.error.code));
          if (res.statusCode !== 200) return reject(new ApiCallError(`HTTP ${res.statusCode}`));
          resolve(r.result as T);
        });
      },
    );
    req.on('timeout', () => req.destroy(new ApiCallError(`the miner API did not answer within ${timeoutMs} ms`)));
    req.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'ECONNREFUSED') reject(new ApiCallError(`no miner API listening on ${addr.host}:${addr.port} (is \`distminer run\` running on this repository?)`));
      else reject(e);
    });
    req.end(body);
  });
}
