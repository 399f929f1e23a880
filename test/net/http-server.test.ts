// The hardened server every service uses (src/net/http-server.ts): hostile requests are
// answered or cut without taking it down, bodies are bounded before auth, a trickle is cut at
// its deadline while others are served, upgrades are authenticated before the handshake and
// leave nothing open, and connections are counted in two budgets.
import test from 'ava';
import { connect } from 'node:net';
import WebSocket, { WebSocketServer } from 'ws';
import { Auth } from '../../src/auth/index.js';
import { BodyAborted, HttpService, type NetLimits, sendJson } from '../../src/net/http-server.js';
import { JsonRpcMethods } from '../../src/net/json-rpc.js';
import { abortedBody, flood, postRequest, raw, slowloris, streamUntilAnswered, until, upgradeRequest } from './_hostile.js';

const auth = Auth.random();
const ADMIN = auth.issue('admin');
const READ = auth.issue('read');
const WRITE = auth.issue('write');

async function service(limits: Partial<NetLimits> = {}) {
  const srv = new HttpService({ name: 'test', verify: auth, limits });
  const rpc = new JsonRpcMethods();
  const seen = { aborted: 0, bodies: 0 };
  rpc.register('Echo', 'read', (p) => p);
  rpc.register('Remove', 'admin', () => true);
  rpc.register('Throw', 'read', () => {
    throw new Error('boom');
  });
  srv.route(rpc.route('/rpc/v0'));
  srv.route({
    path: '/body',
    method: 'POST',
    handler: async (_req, res, ctx) => {
      try {
        const b = await ctx.readBody();
        seen.bodies++;
        sendJson(res, 200, { bytes: b.length });
      } catch (e) {
        if (e instanceof BodyAborted) seen.aborted++;
        throw e;
      }
    },
  });
  srv.route({
    path: '/throws',
    handler: () => {
      throw new Error('sync throw');
    },
  });
  srv.route({
    path: '/rejects',
    handler: async () => {
      await Promise.resolve();
      throw new Error('async throw');
    },
  });
  const wss = new WebSocketServer({ noServer: true, maxPayload: 1024 });
  wss.on('connection', (ws) => ws.on('message', (d) => ws.send(d)));
  srv.upgrade({ path: '/ws', perm: 'write', handle: (req, socket, head) => wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req)) });
  srv.upgrade({ path: '/open', perm: null, queryToken: true, handle: (req, socket, head, ctx) => wss.handleUpgrade(req, socket, head, (ws) => ws.send(JSON.stringify(ctx.perms))) });
  const { port } = await srv.listen('127.0.0.1', 0);
  const call = async (method: string, params: unknown[] = [], token = ADMIN) => {
    const r = await fetch(`http://127.0.0.1:${port}/rpc/v0`, { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: JSON.stringify({ jsonrpc: '2.0', id: 7, method, params }) });
    return (await r.json()) as { id: unknown; result?: unknown; error?: { code: number; message: string } };
  };
  return {
    srv,
    port,
    call,
    seen,
    close: async () => {
      for (const c of wss.clients) c.terminate();
      await srv.close();
    },
  };
}

test('requests that would crash a naive server are answered and the server keeps serving', async (t) => {
  const s = await service();
  t.teardown(s.close);
  t.is((await raw(s.port, postRequest('//[', '{}', { authorization: `Bearer ${ADMIN}` }))).status, 400);
  t.is((await raw(s.port, postRequest('//[', '{}'))).status, 400);
  const up = await raw(s.port, upgradeRequest('//['));
  t.is(up.status, 400);
  t.true(up.closed);
  t.is((await raw(s.port, 'GARBAGE\r\n\r\n')).status, 400);
  t.is((await raw(s.port, `GET /x HTTP/1.1\r\nhost: a\r\nx-big: ${'a'.repeat(40_000)}\r\n\r\n`)).status, 431);
  // A handler that throws or rejects: 500, logged, nothing else disturbed.
  t.is((await raw(s.port, 'GET /throws HTTP/1.1\r\nhost: a\r\n\r\n')).status, 500);
  t.is((await raw(s.port, 'GET /rejects HTTP/1.1\r\nhost: a\r\n\r\n')).status, 500);
  // JSON-RPC: any body gets an error, never a crash.
  for (const body of ['null', '1', '"x"', '[]', '[null]', '{}', '{"method":5}', '{"method":"Echo","params":5}', '{"method":"Echo","id":{}}', '{nope']) {
    const r = await fetch(`http://127.0.0.1:${s.port}/rpc/v0`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN}` }, body });
    const j = (await r.json()) as { error?: { code: number } };
    t.truthy(j.error, body);
    t.true(j.error!.code < 0, body);
  }
  t.deepEqual((await s.call('Throw')).error, { code: 1, message: 'boom' });
  t.deepEqual((await s.call('Echo', [1, 'a'])).result, [1, 'a']);
});

test('permissions: each method needs its level; a bad token is refused before the body is read', async (t) => {
  const s = await service();
  t.teardown(s.close);
  t.deepEqual((await s.call('Echo', [1], READ)).result, [1]);
  t.deepEqual((await s.call('Remove', [], READ)).error, { code: 1, message: "missing permission to invoke 'Remove' (need 'admin')" });
  t.deepEqual((await s.call('Remove', [], WRITE)).error?.code, 1);
  t.true((await s.call('Remove', [], ADMIN)).result as boolean);
  // No token: no permissions (as Lotus), not even read.
  const anon = await fetch(`http://127.0.0.1:${s.port}/rpc/v0`, { method: 'POST', body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'Echo', params: [] }) });
  t.regex(((await anon.json()) as { error: { message: string } }).error.message, /need 'read'/);
  // A token of another secret, a forged one, a non-Bearer header: 401, handler never runs.
  for (const h of [`Bearer ${Auth.random().issue('admin')}`, `Bearer ${READ.slice(0, -2)}xx`, `Basic ${ADMIN}`, 'Bearer']) {
    const r = await raw(s.port, postRequest('/body', 'x'.repeat(100), { authorization: h }));
    t.is(r.status, 401, h);
    t.true(r.closed, 'the connection of a refused request is closed');
  }
  t.is(s.seen.bodies, 0);
});

test('bodies are bounded before auth: a stranger may send 16 KiB, a token holder the route limit, neither is buffered past it', async (t) => {
  const s = await service({ preAuthMaxBodyBytes: 1024, maxBodyBytes: 64 * 1024 });
  t.teardown(s.close);
  // Announced too large: refused from the Content-Length, the body never read.
  const big = await raw(s.port, `POST /body HTTP/1.1\r\nhost: a\r\ncontent-length: ${30 * 2 ** 20}\r\n\r\n`);
  t.is(big.status, 413);
  t.true(big.closed);
  const bigAuthed = await raw(s.port, `POST /body HTTP/1.1\r\nhost: a\r\nauthorization: Bearer ${ADMIN}\r\ncontent-length: ${30 * 2 ** 20}\r\n\r\n`);
  t.is(bigAuthed.status, 413);
  t.is((await raw(s.port, postRequest('/body', 'x'.repeat(2000)))).status, 413, 'over the pre-auth limit without a token');
  t.is((await raw(s.port, postRequest('/body', 'x'.repeat(2000), { authorization: `Bearer ${READ}` }))).status, 200, 'within the limit with a token');
  // Chunked (no length): cut while streaming, answered before the client has sent it all.
  const answered = await streamUntilAnswered(s.port, 'POST /body HTTP/1.1\r\nhost: a\r\ntransfer-encoding: chunked\r\n\r\n');
  t.is(answered.status, 413);
  t.true(answered.sent < 8 * 2 ** 20, `refused after ${answered.sent} bytes sent, not after the whole 30 MiB`);
  t.log(`a chunked body without a token was answered 413 after the client had sent ${answered.sent} bytes`);
  // A wrong token with a large body on its way: the client reads the 401, not a reset.
  const wrong = await streamUntilAnswered(s.port, `POST /body HTTP/1.1\r\nhost: a\r\nauthorization: Bearer ${Auth.random().issue('admin')}\r\ntransfer-encoding: chunked\r\n\r\n`);
  t.is(wrong.status, 401);
  t.true(wrong.sent < 8 * 2 ** 20);
  t.is(s.seen.bodies, 1);
});

test('an aborted body is dropped; the server stays up and serves the next request', async (t) => {
  const s = await service();
  t.teardown(s.close);
  await abortedBody(s.port, '/body', { authorization: `Bearer ${ADMIN}` });
  await abortedBody(s.port, '/rpc/v0', { authorization: `Bearer ${ADMIN}` }, 1000);
  await until(() => s.seen.aborted === 1, 3000, 'the handler to see the abort');
  t.deepEqual((await s.call('Echo', [2])).result, [2]);
  // (the fetch's kept-alive connection included: the server closes it after keepAliveTimeout)
  await until(() => s.srv.connections().total === 0, 8000, 'connections to close');
});

test('a slowloris trickle is cut at the header deadline while another client is served', async (t) => {
  const s = await service({ headersTimeoutMs: 800, requestTimeoutMs: 1500, checkIntervalMs: 100 });
  t.teardown(s.close);
  const slow = slowloris(s.port, 50, 10_000);
  // Meanwhile a token holder is served, many times.
  for (let i = 0; i < 10; i++) t.deepEqual((await s.call('Echo', [i])).result, [i]);
  const r = await slow;
  t.not(r.closedAfterMs, null, 'the trickling connection was closed');
  t.true(r.closedAfterMs! < 2500, `cut after ${r.closedAfterMs} ms`);
  t.log(`a header trickle (one byte per 50 ms) was cut after ${r.closedAfterMs} ms with headersTimeout 800 ms`);
  // A body trickled after complete headers is cut at the request deadline.
  const t0 = Date.now();
  const body = await new Promise<number>((resolve) => {
    const sock = connect(s.port, '127.0.0.1');
    sock.on('error', () => undefined);
    const tick = setInterval(() => sock.write('x'), 50);
    sock.on('connect', () => sock.write(`POST /body HTTP/1.1\r\nhost: a\r\nauthorization: Bearer ${ADMIN}\r\ncontent-length: 100000\r\n\r\n`));
    sock.on('close', () => {
      clearInterval(tick);
      resolve(Date.now() - t0);
    });
  });
  t.true(body < 3000, `a trickled body was cut after ${body} ms`);
  // A connection that sends nothing at all is closed too.
  const silent = await raw(s.port, '', 5000);
  t.true(silent.closed && silent.ms < 2500, `a silent connection closed after ${silent.ms} ms`);
});

test('60 trickling strangers from one address do not lock out a token holder from that address', async (t) => {
  t.timeout(30_000);
  const s = await service(); // default budgets: 32 strangers per address
  t.teardown(s.close);
  const slow = Array.from({ length: 60 }, () => slowloris(s.port, 250, 4000));
  await new Promise((r) => setTimeout(r, 500));
  const t0 = Date.now();
  for (let i = 0; i < 5; i++) t.deepEqual((await s.call('Echo', [i])).result, [i]);
  t.log(`5 calls served in ${Date.now() - t0} ms beside 60 trickling connections`);
  t.true(s.srv.connections().unauthenticated <= 32);
  await Promise.all(slow);
});

test('1,000 upgrades to an unknown path are refused and leave no socket open', async (t) => {
  const s = await service();
  t.teardown(s.close);
  const t0 = Date.now();
  const seen = await flood(s.port, upgradeRequest('/nope'), 1000, 20);
  t.deepEqual([...seen], [[404, 1000]]);
  t.log(`1,000 refused upgrades in ${Date.now() - t0} ms`);
  await until(() => s.srv.connections().total === 0, 5000, 'every refused socket to close');
  const open = await new Promise<number>((r) => s.srv.server.getConnections((_e, n) => r(n)));
  t.is(open, 0);
  t.deepEqual((await s.call('Echo', [1])).result, [1]);
});

test('upgrades are authenticated before the handshake: none, a wrong or a too-weak token get 401/403', async (t) => {
  const s = await service();
  t.teardown(s.close);
  t.is((await raw(s.port, upgradeRequest('/ws'))).status, 401);
  t.is((await raw(s.port, upgradeRequest('/ws', { authorization: `Bearer ${READ}` }))).status, 403);
  t.is((await raw(s.port, upgradeRequest('/ws', { authorization: `Bearer ${Auth.random().issue('admin')}` }))).status, 401);
  t.is((await raw(s.port, upgradeRequest(`/ws?token=${WRITE}`))).status, 401, 'this path takes no query token');
  const ws = new WebSocket(`ws://127.0.0.1:${s.port}/ws`, { headers: { authorization: `Bearer ${WRITE}` } });
  await new Promise((r, j) => ws.once('open', r).once('error', j));
  ws.send('hi');
  t.is(String(await new Promise((r) => ws.once('message', r))), 'hi');
  t.is(s.srv.connections().authenticated, 1);
  ws.close();
  // Lotus's ?token= where allowed; without one the socket is anonymous.
  const q = new WebSocket(`ws://127.0.0.1:${s.port}/open?token=${READ}`);
  t.is(String(await new Promise((r, j) => q.once('message', r).once('error', j))), '["read"]');
  q.close();
  const a = new WebSocket(`ws://127.0.0.1:${s.port}/open`);
  t.is(String(await new Promise((r, j) => a.once('message', r).once('error', j))), '[]');
  a.close();
  await until(() => s.srv.connections().total === 0, 3000, 'sockets to close');
});

test('connections: a peer over its unauthenticated share loses its oldest, its token holders still get in; token holders have their own limit', async (t) => {
  const s = await service({ maxUnauthConnectionsPerPeer: 3, maxUnauthConnections: 5, maxConnections: 2, maxConnectionsPerPeer: 2, headersTimeoutMs: 5000 });
  t.teardown(s.close);
  const open = () =>
    new Promise<{ closed: () => boolean; sock: ReturnType<typeof connect> }>((resolve) => {
      const sock = connect(s.port, '127.0.0.1');
      let closed = false;
      sock.on('error', () => undefined);
      sock.on('close', () => (closed = true));
      sock.on('connect', () => resolve({ closed: () => closed, sock }));
    });
  const idle = [await open(), await open(), await open()];
  await until(() => s.srv.connections().unauthenticated === 3, 2000, 'three idle connections');
  const fourth = await open();
  await until(() => idle[0].closed(), 2000, "the peer's oldest idle connection to be closed");
  t.false(fourth.closed());
  t.is(s.srv.connections().unauthenticated, 3);
  const keep = async (localAddress: string) => {
    const sock = connect({ port: s.port, host: '127.0.0.1', localAddress });
    sock.on('error', () => undefined);
    await new Promise((r) => sock.on('connect', r));
    sock.write(postRequest('/rpc/v0', JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'Echo', params: [] }), { authorization: `Bearer ${READ}`, connection: 'keep-alive' }));
    const text = await new Promise<string>((r) => sock.once('data', (d) => r(d.toString())));
    return { sock, status: Number(/^HTTP\/1\.1 (\d+)/.exec(text)?.[1]) };
  };
  // A token holder from the same address as the idle strangers is served.
  const same = await keep('127.0.0.1');
  t.is(same.status, 200);
  same.sock.destroy();
  await until(() => s.srv.connections().authenticated === 0, 2000, 'that connection to close');
  // Authenticated budget (2): a third kept-alive connection is answered 503.
  const k1 = await keep('127.0.0.2');
  const k2 = await keep('127.0.0.2');
  t.deepEqual([k1.status, k2.status], [200, 200]);
  t.is(s.srv.connections().authenticated, 2);
  const k3 = await keep('127.0.0.3');
  t.is(k3.status, 503);
  for (const k of [k1, k2, k3]) k.sock.destroy();
  for (const i of [...idle, fourth]) i.sock.destroy();
  await until(() => s.srv.connections().total === 0, 3000, 'every connection to close');
  t.deepEqual((await s.call('Echo', [1])).result, [1]);
});

test('the unauthenticated budget makes room by closing its oldest connection', async (t) => {
  const s = await service({ maxUnauthConnectionsPerPeer: 10, maxUnauthConnections: 2, headersTimeoutMs: 5000 });
  t.teardown(s.close);
  const open = () =>
    new Promise<{ closed: () => boolean }>((resolve) => {
      const sock = connect(s.port, '127.0.0.1');
      let closed = false;
      sock.on('error', () => undefined);
      sock.on('close', () => (closed = true));
      sock.on('connect', () => resolve({ closed: () => closed }));
    });
  const a = await open();
  await open();
  await until(() => s.srv.connections().unauthenticated === 2, 2000, 'two connections');
  await open();
  await until(() => a.closed(), 2000, 'the oldest to be closed');
  t.is(s.srv.connections().unauthenticated, 2);
  t.deepEqual((await s.call('Echo', [3])).result, [3], 'a token holder still gets in');
});
