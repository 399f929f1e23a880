// The deal miner as real processes: `distminer deals serve`, the client CLI (`client key new`,
// `client deal`), `deals list|status`; kill -9 during a transfer and a restart (the deal is
// failed cleanly, earlier deals are all there); a second deal server for the same miner id
// refused, whether from the same repository or another one sharing the storage path.
import test from 'ava';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { initRepo, readToken } from '../../src/config/repo.js';
import { adminGet, files, postJson, raw, signedDeal, tmp, until } from './helpers.js';

const MAIN = resolve('dist/main.js');
const env = { ...process.env, DISTMINER_LOG_LEVEL: 'warn', DISTMINER_LOG_PRETTY: '0' };

function cli(args: string[]): { code: number; out: string; err: string } {
  const r = spawnSync(process.execPath, [MAIN, ...args], { env, encoding: 'utf8', timeout: 60_000 });
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
}

interface Running {
  proc: ChildProcess;
  url: string;
  stderr: () => string;
  exited: Promise<number | null>;
}

async function serve(repo: string, extra: string[] = []): Promise<Running> {
  const ready = join(repo, `ready-${randomBytes(3).toString('hex')}`);
  const proc = spawn(process.execPath, [MAIN, 'deals', 'serve', '--repo', repo, '--ready-file', ready, ...extra], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  proc.stderr!.on('data', (c: Buffer) => (err += c.toString()));
  proc.stdout!.resume();
  // 'close', not 'exit': the child's output may still be unread when 'exit' comes.
  const exited = new Promise<number | null>((r) => proc.on('close', (code) => r(code)));
  let gone = false;
  void exited.then(() => (gone = true));
  await until(() => existsSync(ready) || gone, 20_000, 'the deal server to start');
  if (gone) return { proc, url: '', stderr: () => err, exited };
  return { proc, url: readFileSync(ready, 'utf8').trim(), stderr: () => err, exited };
}

function newRepo(): string {
  const base = tmp('dm-deals-repo-');
  const repo = join(base, 'repo');
  initRepo(repo, 't01000');
  return repo;
}

test('client CLI → deal server process → deals list/status; a second deal server for the miner is refused', async (t) => {
  const repo = newRepo();
  const shared = tmp('dm-deals-shared-');
  const srv = await serve(repo, ['--shared', shared]);
  t.teardown(() => {
    srv.proc.kill('SIGKILL');
    rmSync(resolve(repo, '..'), { recursive: true, force: true });
    rmSync(shared, { recursive: true, force: true });
  });
  t.truthy(srv.url, srv.stderr());
  const work = tmp('dm-deals-client-');
  const key = join(work, 'key.json');
  const k = cli(['client', 'key', 'new', '--out', key]);
  t.is(k.code, 0, k.err);
  t.regex(k.out.trim(), /^t1[a-z2-7]+$/);
  const file = join(work, 'data.bin');
  const data = randomBytes(2032);
  writeFileSync(file, data);
  const d = cli(['client', 'deal', file, '--miner', 't01000', '--api', srv.url, '--key', key, '--label', 'cli test']);
  t.is(d.code, 0, d.out + d.err);
  t.regex(d.out, /Publishing/);
  const uuid = /deal ([0-9a-f-]{36}) accepted/.exec(d.out)![1];
  const pieceCid = /piece (baga\w+)/.exec(d.out)![1];

  const list = cli(['deals', 'list', '--repo', repo]);
  t.is(list.code, 0, list.err);
  t.regex(list.out, new RegExp(`${uuid}\\s+Publishing`));
  const st = cli(['deals', 'status', uuid, '--repo', repo]);
  t.is(st.code, 0, st.err);
  t.is(JSON.parse(st.out).pieceCid, pieceCid);
  t.is(cli(['deals', 'list', '--api', srv.url, '--token', 'not-the-token-at-all']).code, 1);
  t.deepEqual((await raw(`${srv.url}/piece/${pieceCid}`)).body, data);

  // A client deal for a file larger than a 2KiB sector is refused at proposal time.
  writeFileSync(file, randomBytes(3000));
  const tooBig = cli(['client', 'deal', file, '--miner', 't01000', '--api', srv.url, '--key', key]);
  t.is(tooBig.code, 1);
  t.regex(tooBig.err, /proposal rejected \(413\).*larger than this miner's sector size/);

  // Same repository: refused by the arbiter before anything is opened.
  const second = await serve(repo, ['--shared', shared]);
  t.is(await second.exited, 1);
  t.regex(second.stderr(), /another deal miner for t01000 is running: "deal-server \d+" on process \d+ on this host/);
  // Another repository of the same miner sharing the storage path (another host's deal miner).
  const repo2 = newRepo();
  const third = await serve(repo2, ['--shared', shared]);
  t.is(await third.exited, 1);
  t.regex(third.stderr(), /Exactly one deal miner per miner id is allowed/);
  rmSync(resolve(repo2, '..'), { recursive: true, force: true });
  // The first one still serves.
  t.is((await adminGet(`${srv.url}/deals`, readToken(repo))).status, 200);
  rmSync(work, { recursive: true, force: true });
});

test('kill -9 during a transfer: after restart the deal is Failed with the reason, nothing staged, earlier deals intact', async (t) => {
  const repo = newRepo();
  t.teardown(() => rmSync(resolve(repo, '..'), { recursive: true, force: true }));
  const token = readToken(repo);
  const srv = await serve(repo);
  t.truthy(srv.url, srv.stderr());

  // One complete deal first.
  const done = randomBytes(1016);
  const p0 = await postJson(`${srv.url}/deals/proposal`, { deal: await signedDeal(done), transferSize: 1016 });
  t.is((await raw(p0.json.uploadUrl as string, { method: 'PUT', headers: { 'Content-Length': '1016' }, chunks: [done] })).status, 200);

  // A transfer that trickles in; kill the server in the middle of it.
  const data = randomBytes(2032);
  const p = await postJson(`${srv.url}/deals/proposal`, { deal: await signedDeal(data), transferSize: 2032 });
  const uuid = p.json.uuid as string;
  const chunks = Array.from({ length: 20 }, (_, i) => data.subarray(i * 100, Math.min(2032, (i + 1) * 100)));
  const upload = raw(p.json.uploadUrl as string, { method: 'PUT', headers: { 'Content-Length': '2032' }, chunks, gapMs: 200 });
  await until(async () => (await adminGet(`${srv.url}/deals/${uuid}`, token)).json.state === 'Transferring', 5000, 'Transferring');
  await new Promise((r) => setTimeout(r, 300));
  t.true(files(join(repo, 'deals', 'staging')).length === 1, 'a partial file is staged');
  srv.proc.kill('SIGKILL');
  await srv.exited;
  t.is((await upload).status, 0); // the client saw the connection die

  // Restart at once: the dead holder's claim is taken over, the deal failed cleanly.
  const again = await serve(repo);
  t.truthy(again.url, again.stderr());
  t.teardown(() => again.proc.kill('SIGKILL'));
  const st = (await adminGet(`${again.url}/deals/${uuid}`, token)).json;
  t.is(st.state, 'Failed');
  t.regex(st.reason as string, /stopped during the transfer/);
  t.deepEqual(files(join(repo, 'deals', 'staging')), []);
  const first = (await adminGet(`${again.url}/deals/${p0.json.uuid}`, token)).json;
  t.is(first.state, 'Publishing');
  t.deepEqual((await raw(`${again.url}/piece/${first.pieceCid}`)).body, done);
  const list = cli(['deals', 'list', '--repo', repo, '--json']);
  t.is(JSON.parse(list.out).length, 2);
  // A clean stop releases the claim.
  again.proc.kill('SIGTERM');
  t.is(await again.exited, 0);
  t.false(existsSync(join(repo, 'deals', 'deal-miner-t01000.lease')));
});
