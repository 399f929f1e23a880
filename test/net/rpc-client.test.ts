// The one JSON-RPC client call (src/net/rpc-client.ts) against a real HTTP server on 127.0.0.1
// that answers the way servers do — go-jsonrpc (Lotus: HTTP 500 with an error object for a
// method it has not), distminer's own server, proxies (plain-text 502), a refused token, a
// server that never answers, nothing listening — and the chain client on top of it: the
// server's own error is an answer (no failover), no answer is a reason to fail over.
import test from 'ava';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ChainClient, ChainUnavailableError } from '../../src/chain/client.js';
import { RpcError } from '../../src/net/json-rpc.js';
import { RpcTransportError, rpcCall } from '../../src/net/rpc-client.js';

type Handler = (req: { method: string; params: unknown[]; id: unknown; auth: string | undefined }, res: ServerResponse) => void;

async function serve(h: Handler): Promise<{ url: string; port: number; seen: string[]; close: () => Promise<void> }> {
  const seen: string[] = [];
  const srv = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const j = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { method: string; params: unknown[]; id: unknown; jsonrpc: string };
      seen.push(`${j.jsonrpc} ${j.method}`);
      h({ method: j.method, params: j.params, id: j.id, auth: req.headers.authorization }, res);
    });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/rpc/v1`,
    port,
    seen,
    close: () => {
      srv.closeAllConnections();
      return new Promise((r) => srv.close(() => r()));
    },
  };
}

const json = (res: ServerResponse, status: number, body: unknown) => {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
};

test('a result comes back; the token goes as a bearer; the request is JSON-RPC 2.0 with the params', async (t) => {
  const s = await serve((r, res) => json(res, 200, { jsonrpc: '2.0', id: r.id, result: { params: r.params, auth: r.auth ?? null } }));
  t.teardown(s.close);
  t.deepEqual(await rpcCall(s.url, 'Filecoin.Version', [1, 'a'], { token: 'tok' }), { params: [1, 'a'], auth: 'Bearer tok' });
  t.deepEqual(await rpcCall(s.url, 'Filecoin.Version'), { params: [], auth: null });
  t.deepEqual(s.seen, ['2.0 Filecoin.Version', '2.0 Filecoin.Version']);
});

test("the server's error object is an RpcError with its code and message — also under HTTP 500, as go-jsonrpc sends a call it cannot dispatch", async (t) => {
  const s = await serve((r, res) =>
    r.method === 'Filecoin.Nope'
      ? json(res, 500, { jsonrpc: '2.0', id: r.id, error: { code: -32601, message: 'method not found' } })
      : json(res, 200, { jsonrpc: '2.0', id: r.id, error: { code: 1, message: 'actor not found' } }),
  );
  t.teardown(s.close);
  const a = await t.throwsAsync(rpcCall(s.url, 'Filecoin.StateGetActor'), { instanceOf: RpcError, message: 'actor not found' });
  t.is(a?.code, 1);
  t.is(a?.method, 'Filecoin.StateGetActor');
  const b = await t.throwsAsync(rpcCall(s.url, 'Filecoin.Nope'), { instanceOf: RpcError, message: 'method not found' });
  t.is(b?.code, -32601);
});

test('no answer to use is an RpcTransportError naming why: token refused, HTTP error, not JSON-RPC, nothing listening, too slow', async (t) => {
  const s = await serve((r, res) => {
    if (r.method === 'auth') return json(res, 401, { jsonrpc: '2.0', id: null, error: { code: 401, message: 'JWT Verification failed' } });
    if (r.method === 'proxy') {
      res.writeHead(502, { 'content-type': 'text/plain' });
      return res.end('bad gateway');
    }
    if (r.method === 'html') {
      res.writeHead(200, { 'content-type': 'text/html' });
      return res.end('<html></html>');
    }
    if (r.method === 'other-json') return json(res, 200, { hello: 1 });
    // 'slow': never answered
  });
  t.teardown(s.close);
  const e401 = await t.throwsAsync(rpcCall(s.url, 'auth', [], { token: 'bad' }), { instanceOf: RpcTransportError, message: /refused the token \(HTTP 401\): JWT Verification failed/ });
  t.is(e401?.reason, 'unauthorized');
  const e502 = await t.throwsAsync(rpcCall(s.url, 'proxy'), { instanceOf: RpcTransportError, message: /HTTP 502/ });
  t.is(e502?.reason, 'http');
  t.is(e502?.status, 502);
  t.is((await t.throwsAsync(rpcCall(s.url, 'html'), { instanceOf: RpcTransportError, message: /not a JSON-RPC reply/ }))?.reason, 'bad-reply');
  t.is((await t.throwsAsync(rpcCall(s.url, 'other-json'), { instanceOf: RpcTransportError }))?.reason, 'bad-reply');
  const slow = await t.throwsAsync(rpcCall(s.url, 'slow', [], { timeoutMs: 300 }), { instanceOf: RpcTransportError, message: /no answer within 300 ms/ });
  t.is(slow?.reason, 'timeout');
  const gone = await serve(() => undefined);
  await gone.close();
  const refused = await t.throwsAsync(rpcCall(gone.url, 'x'), { instanceOf: RpcTransportError });
  t.is(refused?.reason, 'unreachable');
  t.is(refused?.status, 'ECONNREFUSED');
});

test("the chain client: a daemon's error (even HTTP 500 from go-jsonrpc) is thrown as its answer, the daemon kept; no answer fails over, then ChainUnavailableError", async (t) => {
  const lotus = await serve((r, res) =>
    r.method === 'Filecoin.MpoolSelect'
      ? json(res, 500, { jsonrpc: '2.0', id: r.id, error: { code: -32601, message: 'method not found' } })
      : json(res, 200, { jsonrpc: '2.0', id: r.id, result: 'from lotus' }),
  );
  const proxy = await serve((_r, res) => {
    res.writeHead(503);
    res.end();
  });
  t.teardown(async () => {
    await lotus.close();
    await proxy.close();
  });
  const api = (p: number) => `tok:/ip4/127.0.0.1/tcp/${p}/http`;
  const c = new ChainClient(`${api(lotus.port)},${api(proxy.port)}`, { timeoutMs: 2000, retryAfterMs: 60_000 });
  await t.throwsAsync(c.call('MpoolSelect', []), { instanceOf: RpcError, message: 'Filecoin.MpoolSelect: method not found' });
  // Still the preferred daemon: its error was an answer.
  t.is(await c.call('ChainHead'), 'from lotus');
  t.is(proxy.seen.length, 0);
  // A client whose first daemon gives no answer goes to the next; with none left, ChainUnavailableError.
  const c2 = new ChainClient(`${api(proxy.port)},${api(lotus.port)}`, { timeoutMs: 2000, retryAfterMs: 60_000 });
  t.is(await c2.call('ChainHead'), 'from lotus');
  const c3 = new ChainClient(api(proxy.port), { timeoutMs: 2000, retryAfterMs: 60_000 });
  await t.throwsAsync(c3.call('ChainHead'), { instanceOf: ChainUnavailableError, message: /no chain daemon answered .*HTTP 503/ });
});

test('an answer larger than maxReplyBytes is refused without being read whole: by its Content-Length, or while it streams', async (t) => {
  let streamed = 0;
  const s = await serve((r, res) => {
    if (r.method === 'declared') {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(10_000) });
      return res.end(JSON.stringify({ jsonrpc: '2.0', id: r.id, result: 'x'.repeat(10_000 - 40) }).padEnd(10_000, ' '));
    }
    // Chunked, endless: the client must stop reading, not wait for the end.
    res.writeHead(200, { 'content-type': 'application/json' });
    const chunk = Buffer.alloc(64 * 1024, 0x20);
    const push = () => {
      while (!res.destroyed && streamed < 64 * 1024 * 1024 && res.write(chunk)) streamed += chunk.length;
      if (!res.destroyed && streamed < 64 * 1024 * 1024) res.once('drain', push);
    };
    res.on('close', () => res.removeAllListeners('drain'));
    push();
  });
  t.teardown(s.close);
  const a = await t.throwsAsync(rpcCall(s.url, 'declared', [], { maxReplyBytes: 4096 }), { instanceOf: RpcTransportError, message: /larger than 4096 bytes/ });
  t.is(a?.reason, 'bad-reply');
  const b = await t.throwsAsync(rpcCall(s.url, 'endless', [], { maxReplyBytes: 1024 * 1024 }), { instanceOf: RpcTransportError, message: /larger than 1048576 bytes/ });
  t.is(b?.reason, 'bad-reply');
  // Stopped early: far less than the 64 MiB the server would have sent.
  t.true(streamed < 16 * 1024 * 1024, `server wrote ${streamed} bytes`);
  // Under the bound, the same call works.
  t.is(await rpcCall(s.url, 'declared', [], { maxReplyBytes: 20_000 }), 'x'.repeat(10_000 - 40));
});
