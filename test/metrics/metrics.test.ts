// Prometheus metrics of a real `distminer run` (no chain): /debug/metrics over TCP, parsed
// strictly; the role actors' metrics (worker threads), the supervisor's, the mailbox's and
// Node's default metrics are there and move when work happens; the token setting; a burst of
// scrapes during work.
import test from 'ava';
import { spawn } from 'node:child_process';
import { Agent, get as httpGet } from 'node:http';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { callApi } from '../../src/api/client.js';
import { parseApiMultiaddr } from '../../src/config/multiaddr.js';
import { initRepo, openRepo } from '../../src/config/repo.js';
import { SectorIdClient } from '../../src/sectorid/index.js';
import { freePort } from '../../src/util/listen.js';
import { parseExposition } from '../helpers/prom.js';
import { startDrillMiner } from '../helpers/drill-miner.js';

const MAIN = fileURLToPath(new URL('../../main.js', import.meta.url));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function newRepo(t: { teardown(f: () => void): void }, needTokenInConfig = false): string {
  const dir = mkdtempSync(join(tmpdir(), 'distminer-metrics-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const repo = join(dir, 'repo');
  initRepo(repo, 'f01000', '/ip4/127.0.0.1/tcp/0/http');
  if (needTokenInConfig) {
    const cfg = join(repo, 'config.toml');
    const text = readFileSync(cfg, 'utf8');
    const next = text.replace(/^(\s*ListenAddress = ".*")$/m, '$1\n  MetricsNeedToken = true');
    if (next === text) throw new Error('no [API] ListenAddress in the written config');
    writeFileSync(cfg, next);
  }
  return repo;
}

async function startMiner(t: { teardown(f: () => void): void }, repo: string, env: NodeJS.ProcessEnv = {}) {
  const sc = await freePort();
  const child = spawn(process.execPath, [MAIN, 'run', `--repo=${repo}`, '--window-post=true', '--winning-post=true', '--p2p=false', '--sctype=alloce', `--sclisten=127.0.0.1:${sc}`], {
    env: { ...process.env, DISTMINER_LOG_PRETTY: '0', DISTMINER_LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (out += c.toString()));
  const exited = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
  t.teardown(() => void child.kill('SIGKILL'));
  const apiFile = join(repo, 'api');
  for (let i = 0; i < 200 && !existsSync(apiFile); i++) await sleep(50);
  if (!existsSync(apiFile)) throw new Error(`the miner wrote no api file:\n${out}`);
  const addr = parseApiMultiaddr(readFileSync(apiFile, 'utf8').trim());
  const admin = readFileSync(join(repo, 'token'), 'utf8').trim();
  type St = { actors: Array<{ id: string; status: string }> };
  for (let i = 0; i < 200; i++) {
    const st = await callApi<St>(addr, admin, 'Distminer.Status');
    if (st.actors.length > 0 && st.actors.every((a) => a.status === 'running')) break;
    await sleep(100);
  }
  const url = `http://${addr.host}:${addr.port}/debug/metrics`;
  return { child, exited, addr, admin, url, sectorIdAddress: `127.0.0.1:${sc}`, out: () => out };
}

// Scrapes share a keep-alive agent of 16 sockets, as a browser or scraper would (a client
// opening more than 32 fresh connections at once from one address has its oldest closed by
// the server's stranger budget, src/net, by design).
const agent = new Agent({ keepAlive: true, maxSockets: 16 });
test.after.always(() => agent.destroy());

function scrape(url: string, token?: string): Promise<{ status: number; type: string | null; text: string }> {
  return new Promise((resolve, reject) => {
    const req = httpGet(url, { agent, headers: token ? { authorization: `Bearer ${token}` } : {} }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: (res.headers['content-type'] as string | undefined) ?? null, text }));
      res.on('error', reject);
    });
    req.on('error', reject);
  });
}

test('/debug/metrics without a token: role, supervisor, mailbox and Node metrics; they move with work; a burst of 100 scrapes during work', async (t) => {
  const repo = newRepo(t);
  const m = await startMiner(t, repo);
  const first = await scrape(m.url);
  t.is(first.status, 200, first.text);
  t.regex(first.type ?? '', /^text\/plain; version=0\.0\.4/);
  const a = parseExposition(first.text);
  // Node's default metrics (main thread).
  t.true(a.find('nodejs_eventloop_lag_seconds').length === 1, 'event-loop lag');
  t.true((a.value('nodejs_heap_size_used_bytes') ?? 0) > 0, 'heap used');
  t.true((a.value('process_resident_memory_bytes') ?? 0) > 0, 'rss');
  t.is(a.value('distminer_info', { miner: 'f01000', version: '0.1.0', roles: 'winning-post,window-post' }), 1);
  // Supervisor: every role up.
  for (const role of ['winning-post', 'window-post', 'sector-id']) {
    t.is(a.value('distminer_actor_up', { role }), 1, role);
    t.is(a.value('distminer_actor_status', { role, status: 'running' }), 1, role);
    t.is(a.value('distminer_actor_restarts_total', { role }), 0, role);
  }
  // Mailbox: zero series for every class and the lanes.
  for (const c of ['winning-post', 'window-post', 'commit2', 'seal']) t.is(a.value('distminer_mailbox_queued_jobs', { class: c }), 0, c);
  t.is(a.types.get('distminer_mailbox_wait_seconds'), 'histogram');
  t.true(a.find('distminer_mailbox_lane_busy').length >= 2);
  // From the sector-id role's worker thread, labelled with its role.
  t.is(a.value('distminer_sectorid_numbers_handed_out_total', { role: 'sector-id' }), 0, first.text);
  t.is(a.value('distminer_sectorid_connections', { role: 'sector-id', budget: 'authenticated' }), 0);

  // Work: sector numbers handed out (in the worker), while 50 scrapes with a read token and 50
  // without one are in flight at once.
  const token = openRepo(repo).auth.issue('write');
  const read = openRepo(repo).auth.issue('read');
  const client = new SectorIdClient({ address: m.sectorIdAddress, token, deadlineMs: 10_000 });
  t.teardown(() => client.close());
  const started = Date.now();
  const [numbers, burst] = await Promise.all([
    (async () => {
      const got: number[] = [];
      for (let i = 0; i < 10; i++) got.push(...(await client.allocate(3)));
      return got;
    })(),
    (async () => {
      return Promise.all([...Array.from({ length: 50 }, () => scrape(m.url, read)), ...Array.from({ length: 50 }, () => scrape(m.url))]);
    })(),
  ]);
  const burstMs = Date.now() - started;
  t.is(numbers.length, 30);
  t.true(
    burst.every((r) => r.status === 200),
    'every scrape of the burst answered 200',
  );
  for (const r of burst) parseExposition(r.text);
  t.true(burstMs < 15_000, `burst took ${burstMs} ms`);
  t.log(`10 allocations and 100 scrapes in flight at once: ${burstMs} ms`);

  const after = parseExposition((await scrape(m.url)).text);
  t.is(after.value('distminer_sectorid_numbers_handed_out_total', { role: 'sector-id' }), 30);
  t.is(after.value('distminer_sectorid_requests_total', { role: 'sector-id', op: 'alloc', result: 'ok' }), 10);
  t.is(after.value('distminer_sectorid_connections', { role: 'sector-id', budget: 'authenticated' }), 1);
  // The miner API counted the 101 answered scrapes (main thread).
  t.true((after.value('distminer_http_requests_total', { service: 'miner-api', code: '200' }) ?? 0) >= 101);
  // A refused request is counted by its code.
  const bad = new SectorIdClient({ address: m.sectorIdAddress, token: 'not-a-token', deadlineMs: 5000 });
  await t.throwsAsync(bad.allocate(1));
  await bad.close();
  const refused = parseExposition((await scrape(m.url)).text);
  t.is(
    refused.value('distminer_sectorid_refused_total', { role: 'sector-id', code: 'UNAUTHORIZED' }),
    1,
    refused
      .find('distminer_sectorid_refused_total')
      .map((s) => JSON.stringify(s))
      .join('\n'),
  );
  // Still up.
  t.truthy(await callApi(m.addr, m.admin, 'Distminer.Status'));
  t.is(m.child.exitCode, null, m.out());
});

test('a restarted role shows in distminer_actor_restarts_total and its metrics come back; a stuck role does not block a scrape', async (t) => {
  const repo = newRepo(t);
  const { child, addr, admin } = await startDrillMiner(t, repo);
  const url = `http://${addr.host}:${addr.port}/debug/metrics`;
  const up = async () => parseExposition((await scrape(url)).text);
  for (let i = 0; i < 100 && (await up()).value('distminer_actor_up', { role: 'sector-id' }) !== 1; i++) await sleep(100);
  await callApi(addr, admin, 'Distminer.ActorCrashDrill', ['sector-id', 'exit']);
  let e = await up();
  for (let i = 0; i < 100 && e.value('distminer_actor_restarts_total', { role: 'sector-id' }) !== 1; i++) {
    await sleep(100);
    e = await up();
  }
  t.is(e.value('distminer_actor_restarts_total', { role: 'sector-id' }), 1);
  t.is(e.value('distminer_actor_exits_total', { role: 'sector-id', abnormal: 'true' }), 1);
  for (let i = 0; i < 100 && e.value('distminer_sectorid_numbers_handed_out_total', { role: 'sector-id' }) === undefined; i++) {
    await sleep(100);
    e = await up();
  }
  t.is(e.value('distminer_actor_up', { role: 'sector-id' }), 1);
  t.is(e.value('distminer_sectorid_numbers_handed_out_total', { role: 'sector-id' }), 0);
  // A scrape the fresh thread was too slow to answer while starting (a loaded host) is a real
  // miss; the hang below must add exactly one.
  const missesBefore = e.value('distminer_actor_metrics_timeouts_total', { role: 'sector-id' }) ?? 0;

  // A role stuck in a synchronous loop cannot answer: the scrape still comes back (after the
  // 2 s per-actor limit) with everything else, and says so.
  await callApi(addr, admin, 'Distminer.ActorCrashDrill', ['sector-id', 'hang']);
  const t0 = Date.now();
  const stuck = await scrape(url);
  const ms = Date.now() - t0;
  child.kill('SIGKILL'); // the hung thread burns a core until the heartbeat (30 s) would end it
  t.is(stuck.status, 200);
  t.true(ms < 5000, `a scrape with a stuck role took ${ms} ms`);
  const s = parseExposition(stuck.text);
  t.is(s.value('distminer_actor_metrics_timeouts_total', { role: 'sector-id' }), missesBefore + 1);
  t.is(s.find('distminer_sectorid_numbers_handed_out_total').length, 0, "the stuck role's samples are left out");
  t.true(s.find('nodejs_eventloop_lag_seconds').length === 1, "the main thread's are there");
});

for (const how of ['env', 'config'] as const) {
  test(`the token setting (${how === 'env' ? 'DISTMINER_METRICS_TOKEN=1' : '[API] MetricsNeedToken = true'}): 401 without a token or with a bad one, 200 with a read token`, async (t) => {
    const repo = newRepo(t, how === 'config');
    const m = await startMiner(t, repo, how === 'env' ? { DISTMINER_METRICS_TOKEN: '1' } : {});
    const none = await scrape(m.url);
    t.is(none.status, 401, none.text);
    t.notRegex(none.text, /distminer_/);
    t.is((await scrape(m.url, 'garbage.token.here')).status, 401);
    const read = openRepo(repo).auth.issue('read');
    const ok = await scrape(m.url, read);
    t.is(ok.status, 200);
    t.is(parseExposition(ok.text).value('distminer_actor_up', { role: 'sector-id' }), 1);
  });
}

test('a bad DISTMINER_METRICS_TOKEN value is a clear start-up error', async (t) => {
  const repo = newRepo(t);
  const child = spawn(process.execPath, [MAIN, 'run', `--repo=${repo}`, '--roles=winning-post'], {
    env: { ...process.env, DISTMINER_LOG_PRETTY: '0', DISTMINER_METRICS_TOKEN: 'yes please' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (out += c.toString()));
  // 'close', not 'exit': the child's output may still be unread when 'exit' comes.
  const code = await new Promise<number | null>((r) => child.on('close', (c) => r(c)));
  t.not(code, 0);
  t.regex(out, /DISTMINER_METRICS_TOKEN must be 1 or 0/);
});
