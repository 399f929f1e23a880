// `distminer run` as a real child process against a temporary repository: the seed's three
// example command lines, SIGTERM, `distminer status`, escalation, and bad flags.
import test from 'ava';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, appendFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { callApi } from '../../src/api/client.js';
import { parseApiMultiaddr } from '../../src/config/multiaddr.js';
import { initRepo } from '../../src/config/repo.js';
import { freePort } from '../../src/util/listen.js';

const MAIN = fileURLToPath(new URL('../../main.js', import.meta.url));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function newRepo(t: { teardown(f: () => void): void }, extraToml = ''): string {
  const dir = mkdtempSync(join(tmpdir(), 'distminer-run-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const repo = join(dir, 'repo');
  initRepo(repo, 'f01000', '/ip4/127.0.0.1/tcp/0/http');
  if (extraToml) appendFileSync(join(repo, 'config.toml'), extraToml);
  return repo;
}

interface Run {
  child: ReturnType<typeof spawn>;
  out: () => string;
  lines: () => Array<Record<string, unknown>>;
  exit: Promise<number | null>;
}

function run(args: string[], env: NodeJS.ProcessEnv = {}, o: { detached?: boolean } = {}): Run {
  const child = spawn(process.execPath, [MAIN, ...args], {
    env: { ...process.env, DISTMINER_LOG_PRETTY: '0', DISTMINER_LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: o.detached,
  });
  let out = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (out += c.toString()));
  // 'close', not 'exit': the child's output may still be unread when 'exit' comes.
  const exit = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
  const lines = () =>
    out
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  return { child, out: () => out, lines, exit };
}

const SEED_LINES = ['This miner will be disable p2p', 'This miner will be disable minning block', 'This miner will be disable windowPoSt'];

const examples: Array<{ name: string; flags: string[]; actors: string[]; lines: string[] }> = [
  {
    name: 'PoSt miner that allocates sector numbers',
    flags: ['--window-post=true', '--winning-post=true', '--p2p=false', '--sctype=alloce', '--sclisten=127.0.0.1:0'],
    actors: ['winning-post', 'window-post', 'sector-id'],
    lines: ['This miner will be disable p2p'],
  },
  {
    name: 'deal miner',
    flags: ['--window-post=false', '--winning-post=false', '--p2p=true', '--sctype=get', '--sclisten=127.0.0.1:1357'],
    actors: ['seal', 'deal', 'sector-id'],
    lines: ['This miner will be disable minning block', 'This miner will be disable windowPoSt'],
  },
  {
    name: 'seal miner',
    flags: ['--window-post=false', '--winning-post=false', '--p2p=false', '--sctype=get', '--sclisten=127.0.0.1:1357'],
    actors: ['seal', 'sector-id'],
    lines: SEED_LINES,
  },
];

for (const ex of examples) {
  test(`seed example: ${ex.name} starts ${ex.actors.join(', ')} and prints the seed's lines`, async (t) => {
    const repo = newRepo(t);
    const r = run(['run', `--repo=${repo}`, ...ex.flags, '--exit-after-start']);
    t.is(await r.exit, 0, r.out());
    const msgs = r.lines().map((l) => String(l.msg));
    for (const l of SEED_LINES) t.is(msgs.includes(l), ex.lines.includes(l), `"${l}" ${ex.lines.includes(l) ? 'expected' : 'not expected'}`);
    const started = r.lines().find((l) => l.msg === 'all actors started');
    t.truthy(started, r.out());
    t.deepEqual((started!.actors as string[]).map((a) => a.split(':')[0]).sort(), [...ex.actors].sort());
    t.true((started!.actors as string[]).every((a) => a.endsWith(':running')));
  });
}

test('DISTMINER_PATH finds the repo; config.toml settings apply and flags win over them', async (t) => {
  const repo = newRepo(t, '');
  // Rewrite the [Distminer] section's roles in config: a seal-only miner.
  const cfg = join(repo, 'config.toml');
  const text = readFileSync(cfg, 'utf8').replace('Miner = "f01000"', 'Miner = "f01000"\n  WindowPoSt = false\n  WinningPoSt = false\n  P2P = false');
  rmSync(cfg);
  appendFileSync(cfg, text);
  const a = run(['run', '--exit-after-start'], { DISTMINER_PATH: repo });
  t.is(await a.exit, 0, a.out());
  t.deepEqual((a.lines().find((l) => l.msg === 'all actors started')!.actors as string[]).map((x) => x.split(':')[0]).sort(), ['seal', 'sector-id']);
  const b = run(['run', '--exit-after-start', '--winning-post=true'], { LOTUS_MINER_PATH: repo });
  t.is(await b.exit, 0, b.out());
  // --winning-post=true on a seal-only config: winning-post on, and (PoSt on, p2p off) no sealing.
  t.deepEqual((b.lines().find((l) => l.msg === 'all actors started')!.actors as string[]).map((x) => x.split(':')[0]).sort(), ['winning-post']);
});

/**
 * The running miner's API address (its `api` file, written once the API listens) and token.
 * Bounded by a minute, not a few seconds: on a loaded 2-core CI host a start that also spawns
 * the Winning PoSt process and its spare may take longer than 10 s.
 */
async function apiOf(repo: string): Promise<{ addr: ReturnType<typeof parseApiMultiaddr>; token: string }> {
  const apiFile = join(repo, 'api');
  for (const end = Date.now() + 60_000; !existsSync(apiFile); await sleep(50)) {
    if (Date.now() > end) throw new Error(`${apiFile} did not appear within 60 s: the miner did not start its API`);
  }
  return { addr: parseApiMultiaddr(readFileSync(apiFile, 'utf8').trim()), token: readFileSync(join(repo, 'token'), 'utf8').trim() };
}

test('SIGTERM: actors persist and the process exits 0; `distminer status` shows the actors while it runs', async (t) => {
  const repo = newRepo(t);
  const r = run(['run', `--repo=${repo}`, '--roles=winning-post,seal']);
  t.teardown(() => r.child.kill('SIGKILL'));
  const { addr, token } = await apiOf(repo);
  type St = { actors: Array<{ id: string; status: string; unansweredMs?: number }>; mailbox: { queued: Record<string, number> } };
  // Every role up and answering its heartbeat before `status` is read (on a loaded host a role
  // may take a while; the loop used to go on after 10 s without checking).
  let st: St | undefined;
  for (const end = Date.now() + 60_000; Date.now() < end; await sleep(100)) {
    st = await callApi<St>(addr, token, 'Distminer.Status');
    if (st.actors.every((a) => a.status === 'running' && a.unansweredMs === undefined)) break;
  }
  t.true(
    st!.actors.every((a) => a.status === 'running' && a.unansweredMs === undefined),
    JSON.stringify(st!.actors),
  );
  await t.throwsAsync(callApi(addr, 'wrong-token-wrong-token', 'Distminer.Status'), { message: /wrong API token/ });
  const s = run(['status', `--repo=${repo}`]);
  t.is(await s.exit, 0, s.out());
  t.regex(s.out(), /winning-post\s+running\s+running/);
  t.regex(s.out(), /seal\s+running\s+running/);
  t.regex(s.out(), /sector-id\s+running/);
  t.regex(s.out(), /queued winning-post 0, window-post 0, commit2 0, seal 0; running 0/);
  const sj = run(['status', `--repo=${repo}`, '--json']);
  t.is(await sj.exit, 0);
  t.is(JSON.parse(sj.out()).miner, 'f01000');
  r.child.kill('SIGTERM');
  t.is(await r.exit, 0, r.out());
  t.false(existsSync(join(repo, 'api')), 'the api file is removed on a clean stop');
  t.true(existsSync(join(repo, 'actors', 'seal.json')), 'the seal actor persisted its snapshot');
  t.regex(r.out(), /miner stopped/);
});

test("a second `run` on the same repo refuses, naming the first one's pid, and leaves its api file alone", async (t) => {
  const repo = newRepo(t);
  const first = run(['run', `--repo=${repo}`, '--roles=winning-post']);
  t.teardown(() => first.child.kill('SIGKILL'));
  const { addr, token } = await apiOf(repo);
  const apiText = readFileSync(join(repo, 'api'), 'utf8');
  const second = run(['run', `--repo=${repo}`, '--roles=winning-post']);
  t.not(await second.exit, 0);
  t.regex(second.out(), new RegExp(`repo .* is in use: .*repo.lock is held by process ${first.child.pid} \\(distminer run\\)`));
  t.is(readFileSync(join(repo, 'api'), 'utf8'), apiText, "the first one's api file is untouched");
  t.is((await callApi<{ miner: string }>(addr, token, 'Distminer.Status')).miner, 'f01000', 'the first one still serves');
  // Killed without a chance to clean up: its lock goes with it, and a new run starts.
  first.child.kill('SIGKILL');
  await first.exit;
  const third = run(['run', `--repo=${repo}`, '--roles=winning-post', '--exit-after-start']);
  t.is(await third.exit, 0, third.out());
});

test('restart intensity exceeded in a running miner: fatal log and a non-zero exit', async (t) => {
  const repo = newRepo(t, '\n[Distminer.Supervisor]\n  MaxRestarts = 2\n  WithinSeconds = 60\n  BackoffInitialMs = 20\n  BackoffMaxMs = 100\n');
  const r = run(['run', `--repo=${repo}`, '--roles=deal,seal', '--drill-crashes']);
  t.teardown(() => r.child.kill('SIGKILL'));
  const { addr, token } = await apiOf(repo);
  type St = { actors: Array<{ id: string; status: string; restarts: number }> };
  const seal = async () => (await callApi<St>(addr, token, 'Distminer.Status')).actors.find((a) => a.id === 'seal')!;
  for (let i = 0; i < 3; i++) {
    for (let k = 0; k < 200; k++) {
      const a = await seal();
      if (a.status === 'running' && a.restarts === i) break;
      await sleep(50);
    }
    await callApi(addr, token, 'Distminer.ActorCrashDrill', ['seal', 'throw']);
    if (i < 2) {
      for (let k = 0; k < 200 && (await seal()).restarts !== i + 1; k++) await sleep(50);
    }
  }
  const code = await r.exit;
  t.is(code, 1, r.out());
  const fatal = r.lines().find((l) => l.level === 60);
  t.truthy(fatal, r.out());
  t.regex(String(fatal!.msg), /restart intensity exceeded/);
});

// Exit 1: the flags parse but say something impossible; exit 2: a usage error (commander's).
const bad: Array<{ args: string[]; message: RegExp; code?: number }> = [
  { args: ['--sctype=get'], message: /--sctype=get needs --sclisten=IP:PORT/ },
  { args: ['--sclisten=127.0.0.1:1357'], message: /without --sctype/ },
  { args: ['--sctype=both', '--sclisten=127.0.0.1:1'], message: /must be "alloce" or "get"/ },
  { args: ['--sctype=get', '--sclisten=localhost:1357'], message: /is not an IP address/ },
  { args: ['--roles=seal', '--p2p=true'], message: /--p2p=true contradicts the role list/ },
  { args: ['--roles=seal,mining'], message: /unknown role "mining"/ },
  { args: ['--window-post=maybe'], message: /--window-post must be true or false/, code: 2 },
  { args: ['--winning'], message: /unknown option '--winning'/, code: 2 },
  { args: ['--window-post=false', '--winning-post=false', '--p2p=false', '--seal=false'], message: /no role is on/ },
];

test('invalid or conflicting flags fail fast with a message saying what to change', async (t) => {
  const repo = newRepo(t);
  for (const b of bad) {
    const r = run(['run', `--repo=${repo}`, ...b.args]);
    const code = await r.exit;
    t.is(code, b.code ?? 1, `${b.args.join(' ')}: ${r.out()}`);
    t.regex(r.out(), b.message, b.args.join(' '));
  }
  const none = run(['run', `--repo=${join(repo, 'nope')}`]);
  t.is(await none.exit, 1);
  t.regex(none.out(), /does not exist[\s\S]*distminer init/);
});

test("a --sctype=get host asks for numbers with a write token of the server's repo (<repo>/sectorid-token), not an admin copy", async (t) => {
  const server = newRepo(t);
  const port = await freePort();
  const a = run(['run', `--repo=${server}`, '--window-post=true', '--winning-post=false', '--p2p=false', '--sctype=alloce', `--sclisten=127.0.0.1:${port}`]);
  t.teardown(() => a.child.kill('SIGKILL'));
  for (let i = 0; i < 300 && !existsSync(join(server, 'sectorid-api')); i++) await sleep(50);
  t.true(existsSync(join(server, 'sectorid-api')), a.out());

  // Each host has its own secret: the seal host is given a write token of the server's repo.
  const seal = newRepo(t);
  const tokenFile = join(seal, 'sectorid-token');
  const mk = run(['auth', 'create-token', '--perm', 'write', `--repo=${server}`, '--output', tokenFile]);
  t.is(await mk.exit, 0, mk.out());
  t.is(statSync(tokenFile).mode & 0o777, 0o600);
  t.deepEqual(JSON.parse(Buffer.from(readFileSync(tokenFile, 'utf8').split('.')[1], 'base64url').toString()).Allow, ['read', 'write']);
  // A host without one sends its own admin token, which the server's secret does not verify.
  const stranger = newRepo(t);

  const detailOf = async (repo: string, r: Run): Promise<string> => {
    const { addr, token } = await apiOf(repo);
    let detail = '';
    for (let i = 0; i < 200; i++) {
      const st = await callApi<{ actors: Array<{ id: string; detail: string }> }>(addr, token, 'Distminer.Status').catch(() => undefined);
      detail = st?.actors.find((x) => x.id === 'sector-id')?.detail ?? '';
      if (/reachable|refused/.test(detail)) return detail;
      await sleep(100);
    }
    return `${detail} (gave up; output: ${r.out()})`;
  };
  const flags = ['--window-post=false', '--winning-post=false', '--p2p=false', '--sctype=get', `--sclisten=127.0.0.1:${port}`];
  const b = run(['run', `--repo=${seal}`, ...flags]);
  t.teardown(() => b.child.kill('SIGKILL'));
  t.regex(await detailOf(seal, b), new RegExp(`sector-number server 127.0.0.1:${port} reachable$`));
  t.false(b.out().includes('no sectorid-token'), 'no warning when the host has its own token');

  const c = run(['run', `--repo=${stranger}`, ...flags]);
  t.teardown(() => c.child.kill('SIGKILL'));
  t.regex(await detailOf(stranger, c), /refused this host's token/);
  t.true(
    c.lines().some((l) => String(l.msg).includes('no sectorid-token in the repo')),
    c.out(),
  );
});

// /proc/<tid>/stat field 19 (after the command's ')': index 16) is the thread's nice value.
/** Live child processes of `pid` (from /proc/<pid>/stat's ppid field). */
function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const s = readFileSync(`/proc/${d}/stat`, 'utf8');
      if (Number(s.slice(s.lastIndexOf(')') + 2).split(' ')[1]) === pid) out.push(Number(d));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

function sessionOf(pid: number): number {
  const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(s.slice(s.lastIndexOf(')') + 2).split(' ')[3]);
}

function threadNices(pid: number): number[] {
  return readdirSync(`/proc/${pid}/task`).map((tid) => {
    const s = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
    return Number(s.slice(s.lastIndexOf(')') + 2).split(' ')[16]);
  });
}

test("a PoSt host raises its CPU priority (its session's autogroup and every thread) and says so in status; a seal-only host does not", async (t) => {
  const repo = newRepo(t);
  // In a session of its own (as under systemd), so that it raises only its own autogroup.
  const r = run(['run', `--repo=${repo}`, '--roles=winning-post,window-post'], {}, { detached: true });
  t.teardown(() => r.child.kill('SIGKILL'));
  const { addr, token } = await apiOf(repo);
  type St = { priority?: { ok: boolean; target: number; layers: Array<{ layer: string; state: string; value?: number; detail: string; fix?: string }> } };
  const st = await callApi<St>(addr, token, 'Distminer.Status');
  const pid = r.child.pid!;
  const layer = (n: string) => st.priority?.layers.find((l) => l.layer === n);
  const autogroupOn = readFileSync('/proc/sys/kernel/sched_autogroup_enabled', 'utf8').trim() === '1';
  if (process.getuid?.() === 0) {
    // Root (CI here) may lower nice: every layer that applies is raised.
    t.true(st.priority?.ok, JSON.stringify(st.priority));
    t.true(
      threadNices(pid).every((n) => n === -10),
      `thread nices ${threadNices(pid).join(',')}`,
    );
    if (autogroupOn) t.regex(readFileSync(`/proc/${pid}/autogroup`, 'utf8'), /nice -10/);
    t.is(layer('autogroup')?.state, autogroupOn ? 'raised' : 'off');
    // The Winning PoSt's proof process (the started spare): a session of its own, its autogroup
    // and every thread at -20, above the miner's -10.
    t.is(layer('winning')?.state, 'raised');
    let winning: number | undefined;
    for (let i = 0; i < 300 && winning === undefined; i++) {
      winning = childrenOf(pid).find((c) => sessionOf(c) === c && threadNices(c).every((n) => n === -20));
      if (winning === undefined) await sleep(50);
    }
    t.truthy(
      winning,
      `a child of ${pid} leading its own session at nice -20 (children: ${childrenOf(pid)
        .map((c) => `${c} session ${sessionOf(c)} nices ${threadNices(c).join(',')}`)
        .join('; ')})`,
    );
    if (autogroupOn) t.regex(readFileSync(`/proc/${winning}/autogroup`, 'utf8'), /nice -20/);
  } else {
    // Without CAP_SYS_NICE or LimitNICE: still running, and the status names the fix.
    t.false(st.priority?.ok);
    t.regex(layer('nice')?.fix ?? '', /systemd/);
  }
  // And for Prometheus (alert DistminerPoStPriorityNotRaised).
  const scrape = await (await fetch(`http://${addr.host}:${addr.port}/debug/metrics`)).text();
  t.regex(scrape, new RegExp(`distminer_post_priority_raised\\{layer="nice"\\} ${st.priority?.ok ? 1 : 0}`));
  const s = run(['status', `--repo=${repo}`]);
  t.is(await s.exit, 0, s.out());
  t.regex(s.out(), /PoSt CPU priority \(nice -10\): (raised|NOT raised)/);
  t.regex(s.out(), /nice: (raised|kept|failed) — /);

  const seal = newRepo(t);
  const q = run(['run', `--repo=${seal}`, '--roles=seal'], {}, { detached: true });
  t.teardown(() => q.child.kill('SIGKILL'));
  const api2 = await apiOf(seal);
  t.is((await callApi<St>(api2.addr, api2.token, 'Distminer.Status')).priority, undefined);
  t.true(threadNices(q.child.pid!).every((n) => n === 0));
});
