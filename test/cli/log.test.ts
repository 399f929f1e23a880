// Logs of a real `distminer run`: JSON lines on stderr only (stdout keeps the command's own
// output), and `distminer log list | set-level` changing the level of loggers that already
// exist, in the main thread and in the actors' threads, without a restart — shown by a debug
// line (a malformed HTTP request to the miner API) that is absent before and present after.
import test from 'ava';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { callApi } from '../../src/api/client.js';
import { repoAuth } from '../../src/auth/index.js';
import { parseApiMultiaddr } from '../../src/config/multiaddr.js';
import { initRepo } from '../../src/config/repo.js';
import { MAIN } from '../helpers/procs.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function cli(args: string[]): { code: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8', env: { ...process.env, DISTMINER_LOG_PRETTY: '0' } });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/** A request line no HTTP parser takes: the miner API's server logs it at debug level. */
async function badRequest(port: number): Promise<void> {
  await new Promise<void>((resolve) => {
    const s = connect(port, '127.0.0.1', () => s.write('NOT HTTP AT ALL\r\n\r\n'));
    s.setTimeout(3000, () => s.destroy());
    s.on('close', () => resolve());
    s.on('error', () => resolve());
  });
}

test('logs go to stderr; `log set-level` changes existing loggers in every thread at run time; `log list` shows them', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'distminer-log-'));
  const repo = join(dir, 'repo');
  initRepo(repo, 'f01000', '/ip4/127.0.0.1/tcp/0/http');
  let child: ChildProcess | undefined;
  t.teardown(() => {
    child?.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });
  child = spawn(process.execPath, [MAIN, 'run', `--repo=${repo}`, '--roles=winning-post,window-post'], {
    env: { ...process.env, DISTMINER_LOG_PRETTY: '0', DISTMINER_LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
  const apiFile = join(repo, 'api');
  for (let i = 0; i < 200 && !existsSync(apiFile); i++) await sleep(50);
  t.true(existsSync(apiFile), err);
  const addr = parseApiMultiaddr(readFileSync(apiFile, 'utf8').trim());
  for (let i = 0; i < 100 && !/miner running/.test(err); i++) await sleep(100);

  // Logs on stderr, nothing JSON on stdout.
  t.regex(err, /"msg":"miner running"/);
  t.deepEqual(
    out.split('\n').filter((l) => l.startsWith('{')),
    [],
    'no log line on stdout',
  );
  const status = cli(['status', '--repo', repo, '--json']);
  t.is(status.code, 0, status.err);
  t.notThrows(() => JSON.parse(status.out), 'status --json prints JSON alone');

  // At info, a malformed request leaves no line.
  await badRequest(addr.port);
  await sleep(300);
  t.notRegex(err, /bad request from client/);

  const list = cli(['log', 'list', '--repo', repo, '--json']);
  t.is(list.code, 0, list.err);
  const before = JSON.parse(list.out) as { main: Record<string, string[]>; actors: Record<string, { components: Record<string, string[]> }> };
  t.deepEqual(before.main.miner, ['info']);
  t.deepEqual(before.main.net, ['info'], "the miner API server's logger exists already");
  t.deepEqual(Object.keys(before.actors).sort(), ['window-post', 'winning-post']);
  for (const a of Object.values(before.actors)) t.true(Object.values(a.components).length > 0 && Object.values(a.components).every((l) => l.join() === 'info'));

  // A read token may list but not set.
  const read = repoAuth(repo).issue('read');
  await t.throwsAsync(callApi(addr, read, 'Distminer.LogSetLevel', ['debug']), { message: /permission|write|forbidden/i });
  // Bad input: a clear error, nothing changed.
  const bogus = cli(['log', 'set-level', 'loud', '--repo', repo]);
  t.is(bogus.code, 2);
  t.regex(bogus.err, /unknown log level "loud": one of trace, debug, info/);
  const admin = readFileSync(join(repo, 'token'), 'utf8').trim();
  await t.throwsAsync(callApi(addr, admin, 'Distminer.LogSetLevel', [{ level: 'debug' }]), { message: /unknown log level/ });
  const nobody = cli(['log', 'set-level', '--system', 'no-such-component', 'debug', '--repo', repo]);
  t.is(nobody.code, 1);
  t.regex(nobody.err, /no logger of component "no-such-component"/);

  // One component: only the miner API's server ("net") goes to debug.
  const one = cli(['log', 'set-level', '--system', 'net', 'debug', '--repo', repo]);
  t.is(one.code, 0, one.err);
  t.regex(one.out, /^[1-9]\d* logger\(s\) changed/);
  await badRequest(addr.port);
  for (let i = 0; i < 50 && !/bad request from client/.test(err); i++) await sleep(50);
  t.regex(err, /"level":20,.*"component":"net".*"msg":"bad request from client"/, 'the existing logger now writes debug lines');
  const mid = JSON.parse(cli(['log', 'list', '--repo', repo, '--json']).out) as typeof before;
  t.deepEqual(mid.main.net, ['debug']);
  t.deepEqual(mid.main.miner, ['info'], 'other components unchanged');

  // Everything: the actors' threads too.
  const all = cli(['log', 'set-level', 'debug', '--repo', repo]);
  t.is(all.code, 0, all.err);
  const after = JSON.parse(cli(['log', 'list', '--repo', repo, '--json']).out) as typeof before;
  t.deepEqual(after.main.miner, ['debug']);
  for (const [a, v] of Object.entries(after.actors))
    t.true(
      Object.values(v.components).every((l) => l.join() === 'debug'),
      `${a}: ${JSON.stringify(v)}`,
    );
  t.regex(err, /"msg":"log level set"/);
  t.deepEqual(
    out.split('\n').filter((l) => l.startsWith('{')),
    [],
    'still nothing on stdout',
  );
});
