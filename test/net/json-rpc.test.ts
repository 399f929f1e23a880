// The shared JSON-RPC server's channel methods (go-jsonrpc's `<-chan` results, as Lotus serves
// ChainNotify) over a real WebSocket: the answer names the channel before any value; values
// follow as `xrpc.ch.val`; the client's `xrpc.ch.close` or its socket closing stops the source;
// the server closing a channel says `xrpc.ch.close`; refusals (no permission, bad params, over
// HTTP) are JSON-RPC errors; a socket without a token gets in where the route allows it, with
// no permissions and a small frame limit.
import test from 'ava';
import WebSocket from 'ws';
import { Auth } from '../../src/auth/index.js';
import { logger } from '../../src/log.js';
import { HttpService } from '../../src/net/http-server.js';
import { JsonRpcMethods, RPC_INVALID_PARAMS, RpcError, type RpcChannel } from '../../src/net/json-rpc.js';
import { until } from './_hostile.js';

const auth = Auth.random();
const READ = auth.issue('read');

interface Frame {
  id?: unknown;
  method?: string;
  params?: unknown[];
  result?: unknown;
  error?: { code: number; message: string };
}

async function service() {
  const srv = new HttpService({ name: 'test', verify: auth });
  const rpc = new JsonRpcMethods();
  const open = new Set<RpcChannel>();
  let stopped = 0;
  rpc.registerChannel('Filecoin.Ticks', 'read', (params, _ctx, ch) => {
    if (params.length > 0) throw new RpcError(RPC_INVALID_PARAMS, 'Ticks takes no params');
    ch.send('first'); // before the answer: must reach the client after it
    open.add(ch);
    return () => {
      open.delete(ch);
      stopped++;
    };
  });
  rpc.register('Filecoin.Echo', 'read', (p) => p);
  srv.route(rpc.route('/rpc/v1', { queryToken: true }));
  srv.upgrade(rpc.upgradeRoute('/rpc/v1', logger('test'), { perm: null, anonMaxPayload: 1024, queryToken: true }));
  const { port } = await srv.listen('127.0.0.1', 0);
  return {
    port,
    open,
    stopped: () => stopped,
    tick: (v: unknown) => {
      for (const ch of open) ch.send(v);
    },
    close: async () => {
      rpc.close();
      await srv.close();
    },
  };
}

async function socket(port: number, token?: string): Promise<{ ws: WebSocket; frames: Frame[]; closed: () => boolean }> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/rpc/v1`, token ? { headers: { authorization: `Bearer ${token}` } } : {});
  const frames: Frame[] = [];
  let closed = false;
  ws.on('message', (d) => frames.push(JSON.parse(d.toString()) as Frame));
  ws.on('close', () => (closed = true));
  await new Promise((res, rej) => ws.once('open', res).once('error', rej));
  return { ws, frames, closed: () => closed };
}

const send = (ws: WebSocket, v: unknown) => ws.send(JSON.stringify(v));

test('a channel: the answer names it before any value, values follow, the client closing it stops the source', async (t) => {
  const s = await service();
  t.teardown(s.close);
  const c = await socket(s.port, READ);
  send(c.ws, { jsonrpc: '2.0', id: 1, method: 'Filecoin.Ticks', params: [] });
  await until(() => c.frames.length >= 2 && s.open.size === 1, 5000, 'opened');
  t.deepEqual(c.frames[0], { jsonrpc: '2.0', id: 1, result: 1 });
  t.deepEqual(c.frames[1], { jsonrpc: '2.0', method: 'xrpc.ch.val', params: [1, 'first'] });
  s.tick('second');
  await until(() => c.frames.length === 3, 5000, 'second');
  t.deepEqual(c.frames[2].params, [1, 'second']);
  // A second channel on the same socket gets its own id; calls still work beside them.
  send(c.ws, { jsonrpc: '2.0', id: 2, method: 'Filecoin.Ticks', params: [] });
  send(c.ws, { jsonrpc: '2.0', id: 3, method: 'Filecoin.Echo', params: ['x'] });
  await until(() => c.frames.some((f) => f.id === 3) && s.open.size === 2, 5000, 'both');
  t.deepEqual(
    c.frames.find((f) => f.id === 2),
    { jsonrpc: '2.0', id: 2, result: 2 },
  );
  t.deepEqual(
    c.frames.find((f) => f.id === 3),
    { jsonrpc: '2.0', id: 3, result: ['x'] },
  );
  send(c.ws, { jsonrpc: '2.0', method: 'xrpc.ch.close', params: [1] });
  await until(() => s.stopped() === 1, 5000, 'closed one');
  t.is(s.open.size, 1);
  // Closing the socket stops the rest.
  c.ws.close();
  await until(() => s.stopped() === 2, 5000, 'closed all');
  t.is(s.open.size, 0);
});

test('the server closing a channel says xrpc.ch.close; refusals are errors; over HTTP a channel is refused', async (t) => {
  const s = await service();
  t.teardown(s.close);
  const c = await socket(s.port, READ);
  send(c.ws, { jsonrpc: '2.0', id: 1, method: 'Filecoin.Ticks', params: [] });
  await until(() => s.open.size === 1, 5000, 'opened');
  for (const ch of s.open) ch.close();
  await until(() => c.frames.some((f) => f.method === 'xrpc.ch.close'), 5000, 'close said');
  t.is(s.stopped(), 1, 'its source is stopped too');
  t.is(s.open.size, 0);
  t.deepEqual(
    c.frames.find((f) => f.method === 'xrpc.ch.close'),
    { jsonrpc: '2.0', method: 'xrpc.ch.close', params: [1] },
  );
  send(c.ws, { jsonrpc: '2.0', id: 2, method: 'Filecoin.Ticks', params: ['extra'] });
  await until(() => c.frames.some((f) => f.id === 2), 5000, 'refused');
  t.deepEqual(c.frames.find((f) => f.id === 2)?.error, { code: RPC_INVALID_PARAMS, message: 'Ticks takes no params' });
  const r = (await (
    await fetch(`http://127.0.0.1:${s.port}/rpc/v1?token=${READ}`, { method: 'POST', body: JSON.stringify({ jsonrpc: '2.0', id: 4, method: 'Filecoin.Ticks', params: [] }) })
  ).json()) as Frame;
  t.regex(r.error!.message, /^Ticks needs a websocket connection/);
});

test('a socket without a token gets in with no permissions (channels and calls refused as Lotus words it) and a small frame limit', async (t) => {
  const s = await service();
  t.teardown(s.close);
  const c = await socket(s.port);
  send(c.ws, { jsonrpc: '2.0', id: 1, method: 'Filecoin.Ticks', params: [] });
  send(c.ws, { jsonrpc: '2.0', id: 2, method: 'Filecoin.Echo', params: [] });
  await until(() => c.frames.length === 2, 5000, 'answers');
  t.is(c.frames.find((f) => f.id === 1)?.error?.message, "missing permission to invoke 'Ticks' (need 'read')");
  t.is(c.frames.find((f) => f.id === 2)?.error?.message, "missing permission to invoke 'Echo' (need 'read')");
  t.is(s.open.size, 0);
  send(c.ws, { jsonrpc: '2.0', id: 3, method: 'Filecoin.Echo', params: ['x'.repeat(4096)] });
  await until(c.closed, 5000, 'cut');
  // A token holder may send the large frame.
  const ok = await socket(s.port, READ);
  send(ok.ws, { jsonrpc: '2.0', id: 3, method: 'Filecoin.Echo', params: ['x'.repeat(4096)] });
  await until(() => ok.frames.length === 1, 5000, 'answered');
  t.is((ok.frames[0].result as string[])[0].length, 4096);
  ok.ws.close();
});
