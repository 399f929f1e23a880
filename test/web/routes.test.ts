// The web page's routes on the miner API server (src/web/page.ts via src/api/server.ts) and
// the alerts the miner evaluates itself (src/web/snapshot.ts), without a browser: requests
// without the cookie are refused before anything is collected, concurrent polls share one
// collection, bad logins get a clear answer, and each alert condition fires where it should.
import test from 'ava';
import { type AddressInfo } from 'node:net';
import { createServer, request } from 'node:http';
import { Auth } from '../../src/auth/index.js';
import type { MetricsJson } from '../../src/metrics/index.js';
import { startApiServer } from '../../src/api/server.js';
import { fetchPeer } from '../../src/web/page.js';
import { parsePeerApiInfo } from '../../src/config/multiaddr.js';
import { CounterMemory, type Snapshot, buildSnapshot, evaluateAlerts, peerAlerts } from '../../src/web/snapshot.js';

const auth = Auth.random();
const READ = auth.issue('read');

/**
 * `hold`: the status and the actors' metrics are answered only once the server has received
 * that many requests (and has routed them: one turn later), so that "concurrent" requests are
 * concurrent on the server however slowly a loaded host sends them.
 */
async function start(hold = 0) {
  const api = await startApiServer({ host: '127.0.0.1', port: 0 }, auth);
  const calls = { status: 0, metrics: 0 };
  let seen = 0;
  let release!: () => void;
  const held = hold ? new Promise<void>((r) => (release = r)) : Promise.resolve();
  api.server.on('request', () => {
    if (++seen === hold) setImmediate(release);
  });
  api.register(
    'Distminer.Status',
    async () => {
      calls.status++;
      await held;
      return { miner: 'f01000', roles: ['winning-post'], uptimeMs: 1, escalated: false, actors: [{ id: 'winning-post', status: 'running', state: 'running', detail: '<img src=x onerror=alert(1)>', restarts: 0, uptimeMs: 1 }] };
    },
    'read',
  );
  api.serveMetrics({
    needToken: false,
    others: async () => {
      calls.metrics++;
      await held;
      return [];
    },
  });
  const url = `http://127.0.0.1:${api.address.port}`;
  return { api, url, calls };
}

const login = (url: string, body: string) => fetch(`${url}/ui/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });

test('without the cookie nothing is collected: 200 requests refused 401; 20 concurrent polls with it share one collection', async (t) => {
  const s = await start(200 + 20);
  t.teardown(() => s.api.close());
  // In waves of 20: a token-less connection is in the server's stranger budget (32 per peer,
  // the oldest closed beyond that), and so is a cookie's (the cookie is not an API token).
  for (let wave = 0; wave < 10; wave++) {
    const refused = await Promise.all(Array.from({ length: 20 }, (_, i) => fetch(`${s.url}/ui/status.json`, i % 2 ? { headers: { cookie: 'distminer_ui=a.b.c' } } : {})));
    t.true(refused.every((r) => r.status === 401));
  }
  t.deepEqual(s.calls, { status: 0, metrics: 0 });
  const polls = await Promise.all(Array.from({ length: 20 }, () => fetch(`${s.url}/ui/status.json`, { headers: { cookie: `other=1; distminer_ui=${READ}` } })));
  t.true(polls.every((r) => r.status === 200));
  t.deepEqual(s.calls, { status: 1, metrics: 1 });
  const snap = (await polls[0].json()) as Snapshot;
  // The text comes back as data; the page puts it in with textContent.
  t.is(snap.actors[0].detail, '<img src=x onerror=alert(1)>');
});

test('a page poll and a burst of scrapes at the same moment share one collection from the actor threads; a later scrape asks again', async (t) => {
  const s = await start(11); // the actors answer once all 11 requests are in
  t.teardown(() => s.api.close());
  const [page, ...scrapes] = await Promise.all([fetch(`${s.url}/ui/status.json`, { headers: { cookie: `distminer_ui=${READ}` } }), ...Array.from({ length: 10 }, () => fetch(`${s.url}/debug/metrics`))]);
  t.is(page.status, 200);
  t.true(scrapes.every((r) => r.status === 200));
  t.is(s.calls.metrics, 1, 'the actors were asked once');
  t.is((await fetch(`${s.url}/debug/metrics`)).status, 200);
  t.is(s.calls.metrics, 2, 'a scrape after that asks again: it must see the values of now');
});

test('login: a read token sets an HttpOnly SameSite=Strict cookie; wrong, permission-less, empty and malformed ones get clear errors and no cookie', async (t) => {
  const s = await start();
  t.teardown(() => s.api.close());
  const ok = await login(s.url, JSON.stringify({ token: READ }));
  t.is(ok.status, 200);
  const cookie = ok.headers.get('set-cookie') ?? '';
  t.regex(cookie, new RegExp(`^distminer_ui=${READ.replace(/\./g, '\\.')};`));
  t.regex(cookie, /HttpOnly/);
  t.regex(cookie, /SameSite=Strict/);
  const cases: Array<[string, number, RegExp]> = [
    [JSON.stringify({ token: Auth.random().issue('admin') }), 401, /wrong token/],
    [JSON.stringify({ token: auth.sign([]) }), 401, /read permission/],
    [JSON.stringify({ token: '' }), 401, /enter an API token/],
    [JSON.stringify({}), 401, /enter an API token/],
    ['not json', 400, /as JSON/],
    ['null', 401, /enter an API token/],
  ];
  for (const [body, status, msg] of cases) {
    const r = await login(s.url, body);
    t.is(r.status, status, body);
    t.is(r.headers.get('set-cookie'), null, body);
    t.regex(((await r.json()) as { error: string }).error, msg, body);
  }
  const big = await login(s.url, JSON.stringify({ token: 'x'.repeat(64 * 1024) }));
  t.is(big.status, 413);
  // A script may use its token instead of the cookie; one without read is refused.
  t.is((await fetch(`${s.url}/ui/status.json`, { headers: { authorization: `Bearer ${READ}` } })).status, 200);
  t.is((await fetch(`${s.url}/ui/status.json`, { headers: { authorization: `Bearer ${auth.sign([])}` } })).status, 401);
  // Still serving.
  t.is((await fetch(`${s.url}/ui/status.json`, { headers: { cookie: `distminer_ui=${READ}` } })).status, 200);
  const page = await fetch(`${s.url}/`);
  t.is(page.status, 200);
  const csp = page.headers.get('content-security-policy') ?? '';
  t.regex(csp, /default-src 'none'/);
  t.regex(csp, /script-src 'sha256-[A-Za-z0-9+/]+=*';/, 'only the page\'s own script, by its hash');
  t.notRegex(csp, /script-src[^;]*unsafe/);
  t.regex(await page.text(), /<form id="login"/);
});

test('login: wrong tokens are limited per client address (429 with Retry-After, even for a good token); another address still logs in', async (t) => {
  const s = await start();
  t.teardown(() => s.api.close());
  const wrong = JSON.stringify({ token: Auth.random().issue('read') });
  const from = (localAddress: string, body: string) =>
    new Promise<{ status: number; retryAfter?: string; body: string }>((resolve, reject) => {
      const req = request(`${s.url}/ui/login`, { method: 'POST', localAddress, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
        let b = '';
        res.on('data', (d: Buffer) => (b += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, retryAfter: res.headers['retry-after'] as string | undefined, body: b }));
      });
      req.on('error', reject);
      req.end(body);
    });
  for (let i = 0; i < 10; i++) t.is((await from('127.0.0.1', wrong)).status, 401, `wrong token ${i + 1}`);
  const limited = await from('127.0.0.1', wrong);
  t.is(limited.status, 429);
  t.regex(JSON.parse(limited.body).error as string, /too many failed logins from 127\.0\.0\.1: try again in \d+ s/);
  t.true(Number(limited.retryAfter) >= 1);
  const good = await from('127.0.0.1', JSON.stringify({ token: READ }));
  t.is(good.status, 429, 'a limited address is refused its good token too');
  t.is((await from('127.0.0.2', JSON.stringify({ token: READ }))).status, 200, 'another address logs in');
  // The page and its JSON for a holder of a cookie are not limited.
  t.is((await fetch(`${s.url}/ui/status.json`, { headers: { cookie: `distminer_ui=${READ}` } })).status, 200);
});

test('cluster: peers\' own snapshots and alerts beside this host\'s; a dead, a hung and a wrong-token peer are reported within the timeout; ?local=1 never fans out', async (t) => {
  // Host b (another repository, so another secret) with a role down.
  const bAuth = Auth.random();
  const b = await startApiServer({ host: '127.0.0.1', port: 0 }, bAuth);
  t.teardown(() => b.close());
  b.register('Distminer.Status', () => ({ miner: 'f01000', roles: ['seal'], uptimeMs: 5000, escalated: false, actors: [{ id: 'seal', status: 'restarting', state: 'restarting', detail: '', restarts: 3, uptimeMs: 0 }] }), 'read');
  b.serveMetrics({ needToken: false });
  // A host that accepts connections and never answers, and one of another miner id.
  const hung = createServer(() => undefined);
  await new Promise<void>((r) => hung.listen(0, '127.0.0.1', () => r()));
  t.teardown(() => void hung.close());
  const dead = createServer();
  await new Promise<void>((r) => dead.listen(0, '127.0.0.1', () => r()));
  const deadPort = (dead.address() as AddressInfo).port;
  await new Promise<void>((r) => dead.close(() => r()));
  const ep = (port: number) => `/ip4/127.0.0.1/tcp/${port}/http`;
  const peer = (token: string, port: number) => parsePeerApiInfo(`${token}:${ep(port)}`, 'test');
  const bRead = bAuth.issue('read');
  const a = await startApiServer({ host: '127.0.0.1', port: 0 }, auth, {
    peers: [peer(bRead, b.address.port), peer(bRead, deadPort), peer(bRead, (hung.address() as AddressInfo).port), peer(READ, b.address.port)],
  });
  t.teardown(() => a.close());
  a.register('Distminer.Status', () => ({ miner: 'f01000', roles: ['winning-post'], uptimeMs: 1, escalated: false, actors: [{ id: 'winning-post', status: 'running', state: 'running', detail: '', restarts: 0, uptimeMs: 1 }] }), 'read');
  a.serveMetrics({ needToken: false });
  const t0 = Date.now();
  const r = await fetch(`http://127.0.0.1:${a.address.port}/ui/status.json`, { headers: { authorization: `Bearer ${READ}` } });
  const ms = Date.now() - t0;
  t.is(r.status, 200);
  const snap = (await r.json()) as Snapshot;
  t.true(ms < 5000, `answered in ${ms} ms despite the hung peer`);
  t.is(snap.actors[0].id, 'winning-post', 'this host first, as before');
  const [ok, gone, stuck, wrong] = snap.peers!;
  t.like(ok, { endpoint: ep(b.address.port), ok: true, miner: 'f01000', roles: ['seal'] });
  t.is(ok.actors![0].status, 'restarting');
  t.like(gone, { ok: false, error: 'ECONNREFUSED' });
  t.like(stuck, { ok: false, error: 'no answer within 2500 ms' });
  t.false(wrong.ok);
  t.regex(wrong.error!, /^HTTP 401/, 'a token of another repository is refused by the peer');
  const alerts = snap.alerts.map((x) => `${x.name}: ${x.summary}`);
  t.true(alerts.some((x) => /^DistminerRoleDown: .*: role seal is restarting/.test(x)), alerts.join('\n'));
  t.is(alerts.filter((x) => x.startsWith('DistminerPeerUnreachable')).length, 3);
  // The peer's own view (what a asked it for) holds no peers: nothing fans out twice.
  const local = (await (await fetch(`http://127.0.0.1:${a.address.port}/ui/status.json?local=1`, { headers: { authorization: `Bearer ${READ}` } })).json()) as Snapshot;
  t.is(local.peers, undefined);
  t.false(local.alerts.some((x) => x.name === 'DistminerPeerUnreachable'));
});

test('cluster: a peer answering more than 4 MiB is cut off and reported, not read whole', async (t) => {
  let sent = 0;
  const big = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    const chunk = Buffer.alloc(64 * 1024, 0x20);
    const pump = () => {
      while (sent < 64 * 1024 * 1024 && res.write(chunk)) sent += chunk.length;
      if (sent < 64 * 1024 * 1024) res.once('drain', pump);
      else res.end();
    };
    res.on('close', () => undefined);
    pump();
  });
  await new Promise<void>((r) => big.listen(0, '127.0.0.1', () => r()));
  t.teardown(() => void big.closeAllConnections());
  t.teardown(() => void big.close());
  const v = await fetchPeer(parsePeerApiInfo(`x:/ip4/127.0.0.1/tcp/${(big.address() as AddressInfo).port}/http`, 'test'));
  t.like(v, { ok: false, error: 'answer over 4194304 bytes' });
  t.true(sent < 16 * 1024 * 1024, `the peer could send only ${sent} bytes before the read stopped`);
});

test('cluster: a peer of another miner id is flagged; peer alerts are named by their host', (t) => {
  const alerts = peerAlerts('f01000', [
    { endpoint: '/ip4/10.0.0.2/tcp/2345/http', ok: true, host: 'seal-1', miner: 'f09999', alerts: [{ name: 'DistminerStorageNearlyFull', severity: 'warning', summary: 'storage /s: 1.0% free' }] },
  ]);
  t.deepEqual(alerts.map((a) => a.name), ['DistminerPeerOtherMiner', 'DistminerStorageNearlyFull']);
  t.regex(alerts[0].summary, /seal-1 \(\/ip4\/10\.0\.0\.2\/tcp\/2345\/http\) mines f09999, not f01000/);
  t.is(alerts[1].summary, 'seal-1: storage /s: 1.0% free');
});

test('the page inserts text only with textContent / text nodes (no innerHTML, insertAdjacentHTML, document.write)', async (t) => {
  const html = await (await import('node:fs')).promises.readFile(new URL('../../../web/status.html', import.meta.url), 'utf8');
  t.notRegex(html, /innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(/);
});

function snap(over: Partial<Snapshot>): Snapshot {
  return { at: Date.now(), escalated: false, actors: [], alerts: [], metrics: {}, errors: [], ...over };
}
const names = (s: Snapshot, mem?: CounterMemory) => evaluateAlerts(s, mem).map((a) => a.name);
const run = (id: string, extra = {}) => ({ id, status: 'running', state: 'running', detail: '', restarts: 0, uptimeMs: 1, ...extra });

test('alerts: role down or degraded, missed deadline, fault, deadline at risk, sector files gone, abandoned block, chain, wallet, storage', (t) => {
  t.deepEqual(names(snap({ actors: [run('window-post'), { ...run('deal'), status: 'done' }] })), [], 'healthy and done roles: nothing');
  t.deepEqual(names(snap({ actors: [{ ...run('sector-id'), status: 'restarting' }] })), ['DistminerRoleDown']);
  const deg = evaluateAlerts(snap({ actors: [run('window-post', { degraded: 'chain node unreachable' })] }));
  t.deepEqual(deg.map((a) => a.name), ['DistminerRoleDegraded']);
  t.regex(deg[0].summary, /window-post is degraded: chain node unreachable/);
  t.deepEqual(names(snap({ escalated: true })), ['DistminerEscalated']);
  t.deepEqual(names(snap({ actors: [run('window-post', { data: { storageChecks: { ok: 3, gone: 1 } } })] })), ['DistminerSectorFileGone']);
  t.deepEqual(names(snap({ actors: [run('window-post', { data: { storageChecks: { ok: 3, gone: 0 } } })] })), []);
  const M = { miner: 'f01000', role: 'window-post' };
  const one = (name: string, value: number, labels: Record<string, string> = M) => ({ [name]: [{ labels, value }] });
  t.deepEqual(names(snap({ metrics: one('distminer_windowpost_deadlines_missed_total', 1) })), ['DistminerDeadlineMissed']);
  t.deepEqual(names(snap({ metrics: one('distminer_windowpost_deadlines_missed_total', 0) })), []);
  t.deepEqual(names(snap({ metrics: one('distminer_faults_declared_total', 2) })), ['DistminerFaultDeclared']);
  t.deepEqual(names(snap({ metrics: one('distminer_winningpost_blocks_abandoned_total', 1) })), ['DistminerBlockAbandoned']);
  t.deepEqual(names(snap({ metrics: one('distminer_windowpost_deadline_margin_seconds', 120, { ...M, deadline: '7' }) })), ['DistminerDeadlineAtRisk']);
  t.deepEqual(names(snap({ metrics: one('distminer_windowpost_deadline_margin_seconds', 900, { ...M, deadline: '7' }) })), []);
  // A devnet's 100 s window: at risk in its last sixth only, not from its first epoch.
  const devnetWindow = (left: number) => ({ ...one('distminer_windowpost_deadline_margin_seconds', left, { ...M, deadline: '1' }), ...one('distminer_windowpost_deadline_window_seconds', 100, { ...M, deadline: '1' }) });
  t.deepEqual(names(snap({ metrics: devnetWindow(40) })), []);
  t.deepEqual(names(snap({ metrics: devnetWindow(10) })), ['DistminerDeadlineAtRisk']);
  t.deepEqual(names(snap({ metrics: one('distminer_chain_head_lag_seconds', 300) })), ['DistminerChainNodeBehind']);
  t.deepEqual(names(snap({ metrics: one('distminer_chain_failovers_total', 1, { endpoint: 'a' }) })), ['DistminerChainNodeFailedOver']);
  t.deepEqual(names(snap({ metrics: one('distminer_sectorid_server_reachable', 0, { server: 'h:1' }) })), ['DistminerSectorNumberServerUnreachable']);
  const wallet = { ...one('distminer_wallet_balance_attofil', 5, { ...M, address: 'f3x' }), ...one('distminer_windowpost_next_deadline_gas_attofil', 10) };
  t.deepEqual(names(snap({ metrics: wallet })), ['DistminerWalletBelowDeadlineGas']);
  t.deepEqual(names(snap({ metrics: { ...wallet, ...one('distminer_wallet_balance_attofil', 50, { ...M, address: 'f3x' }) } })), []);
  const disk = (free: number) => ({ ...one('distminer_storage_free_bytes', free, { path: '/s', role: 'window-post' }), ...one('distminer_storage_capacity_bytes', 1000, { path: '/s', role: 'window-post' }) });
  t.deepEqual(names(snap({ metrics: disk(10) })), ['DistminerStorageNearlyFull']);
  t.deepEqual(names(snap({ metrics: disk(500) })), []);
});

test('alerts: a role that missed a metrics request is shown while the count moved within the hold time', (t) => {
  const mem = new CounterMemory(10_000);
  const at = (now: number, value: number) => snap({ at: now, metrics: { distminer_actor_metrics_timeouts_total: [{ labels: { role: 'sector-id' }, value }] } });
  t.deepEqual(names(at(0, 0), mem), []);
  t.deepEqual(names(at(1000, 0), mem), []);
  t.deepEqual(names(at(2000, 1), mem), ['DistminerRoleUnresponsive']);
  t.deepEqual(names(at(11_000, 1), mem), ['DistminerRoleUnresponsive']);
  t.deepEqual(names(at(12_500, 1), mem), [], 'gone once the hold time passed without a new miss');
  t.deepEqual(names(at(13_000, 2), mem), ['DistminerRoleUnresponsive']);
});

test('alerts: a role silent to the heartbeat is unresponsive at once, with no scrape; one alert per role', (t) => {
  const mem = new CounterMemory(10_000);
  const stuck = evaluateAlerts(snap({ actors: [run('sector-id', { unansweredMs: 6200 }), run('deal')] }), mem);
  t.deepEqual(stuck.map((a) => a.name), ['DistminerRoleUnresponsive']);
  t.regex(stuck[0].summary, /role sector-id has not answered the supervisor for 6 s/);
  // Both signals at once: the heartbeat's alert only.
  const both = snap({ at: 1000, actors: [run('sector-id', { unansweredMs: 7000 })], metrics: { distminer_actor_metrics_timeouts_total: [{ labels: { role: 'sector-id' }, value: 3 }] } });
  t.deepEqual(evaluateAlerts(both, mem).map((a) => a.summary.slice(0, 40)), ['role sector-id has not answered the supe']);
  // Answering again: the recent scrape miss is still shown for the hold time.
  t.deepEqual(names(snap({ at: 2000, actors: [run('sector-id')], metrics: { distminer_actor_metrics_timeouts_total: [{ labels: { role: 'sector-id' }, value: 3 }] } }), mem), ['DistminerRoleUnresponsive']);
  // Carried from status through buildSnapshot.
  const built = buildSnapshot({ actors: [{ id: 'seal', status: 'running', unansweredMs: 5100 }, { id: 'deal', status: 'running', unansweredMs: 'x' }] }, []);
  t.deepEqual(built.actors.map((a) => a.unansweredMs), [5100, undefined]);
});

test('buildSnapshot: keeps the page\'s metric families, drops others and histograms; a bad status is an empty one', (t) => {
  const s = buildSnapshot(null, ([
    { name: 'distminer_deals', help: '', type: 'gauge', aggregator: 'sum', values: [{ labels: { state: 'active', role: 'deal' }, value: 3 }] },
    { name: 'distminer_http_requests_total', help: '', type: 'counter', aggregator: 'sum', values: [{ labels: {}, value: 9 }] },
    { name: 'distminer_mailbox_wait_seconds', help: '', type: 'histogram', aggregator: 'sum', values: [{ labels: { le: '1' }, value: 1 }] },
  ] as unknown) as MetricsJson);
  t.deepEqual(s.metrics, { distminer_deals: [{ labels: { state: 'active', role: 'deal' }, value: 3 }] });
  t.deepEqual(s.actors, []);
  t.deepEqual(s.alerts, []);
});
