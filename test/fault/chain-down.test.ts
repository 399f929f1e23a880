// A miner whose chain node goes away says so. Real processes: `distminer devnet` and a
// `distminer run` with the two PoSt roles. The devnet is SIGKILLed: within three epochs (10 s
// at least) both roles turn degraded with the reason — in `distminer status`, in
// Distminer.Status and as distminer_actor_degraded on /debug/metrics (what the
// DistminerRoleDegraded alert reads) — while still running. The devnet comes back on its port
// from its directory: both are healthy again. A miner started while the node is down runs its
// PoSt roles degraded (not failing and restarted) until the node answers.
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildStatus } from '../../actors/supervisor.js';
import { parseApiMultiaddr } from '../../src/config/multiaddr.js';
import { minerMetrics, minerRepo, minerStatus, runMiner, startDevnetProc } from '../helpers/cluster.js';
import { MAIN, Proc, killAll, until } from '../helpers/procs.js';

const ROLES = ['window-post', 'winning-post'];
// Serial: each test's teardown kills every process the helpers started (killAll).

/**
 * A devnet (2 s epochs) in a fresh directory and a miner running both PoSt roles against it;
 * with `nodeDownAtStart` the devnet is SIGKILLed before the miner starts.
 */
async function setUp(t: { timeout(ms: number): void; teardown(f: () => Promise<void>): void }, nodeDownAtStart: boolean) {
  t.timeout(4 * 60_000);
  const root = mkdtempSync(join(tmpdir(), 'distminer-chain-down-'));
  t.teardown(async () => {
    await killAll();
    rmSync(root, { recursive: true, force: true });
  });
  const devnetDir = join(root, 'devnet');
  const dn = await startDevnetProc(devnetDir, ['--block-delay', '2s']);
  const port = parseApiMultiaddr(dn.apiInfo.slice(dn.apiInfo.indexOf(':') + 1)).port;
  if (nodeDownAtStart) {
    dn.proc.child.kill('SIGKILL');
    await dn.proc.exited;
  }
  const storage = join(root, 'storage');
  mkdirSync(storage);
  const repo = minerRepo(join(root, 'miner'), 't01000', { chainApi: dn.apiInfo, storage });
  const miner = runMiner('miner', repo.path, ['--roles=winning-post,window-post']);
  const actors = async () => ((await minerStatus(repo.path, repo.token))?.actors ?? []).filter((a) => ROLES.includes(a.id));
  const all = (p: (a: ChildStatus) => boolean) => async () => {
    const a = await actors();
    return a.length === ROLES.length && a.every(p) && a;
  };
  /** The devnet again, on its port and from its directory (same chain, same token). */
  const restartNode = async () => {
    const again = new Proc('devnet-again', [MAIN, 'devnet', '--dir', devnetDir, '--listen', `127.0.0.1:${port}`, '--block-delay', '2s'], { DISTMINER_LOG_LEVEL: 'info' });
    await again.waitFor(/FULLNODE_API_INFO=\S+/, 30_000);
  };
  return { dn, port, repo, miner, actors, all, restartNode };
}

test.serial('the PoSt roles turn degraded when the chain node goes away, with the reason, and healthy when it is back', async (t) => {
  const { dn, port, repo, miner, all, restartNode } = await setUp(t, false);
  const degradedGauge = async () =>
    (await minerMetrics(repo.path))
      .find('distminer_actor_degraded')
      .filter((s) => ROLES.includes(s.labels.role))
      .map((s) => [s.labels.role, s.value])
      .sort();

  await until(
    all((a) => a.status === 'running' && a.degraded === undefined),
    60_000,
    'both PoSt roles running and healthy',
  );
  // Both following the chain (a head received: the lag gauge has a sample) before the node goes;
  // killed earlier, a role would still be starting, not degraded.
  await until(
    async () => (await minerMetrics(repo.path)).find('distminer_chain_head_lag_seconds').filter((s) => ROLES.includes(s.labels.role)).length === ROLES.length,
    60_000,
    'both PoSt roles to receive a chain head',
  );
  t.deepEqual(await degradedGauge(), [
    ['window-post', 0],
    ['winning-post', 0],
  ]);

  dn.proc.child.kill('SIGKILL');
  await dn.proc.exited;
  const killedAt = Date.now();
  const down = await until(
    all((a) => a.status === 'running' && a.degraded !== undefined),
    30_000,
    'both PoSt roles degraded',
  );
  t.log(`degraded ${((Date.now() - killedAt) / 1000).toFixed(1)} s after the chain node was killed`);
  for (const a of down) t.regex(a.degraded!, new RegExp(`^no chain head for \\d+ s \\(http://127\\.0\\.0\\.1:${port}/rpc/v1: .+\\)$`), a.id);
  t.deepEqual(await degradedGauge(), [
    ['window-post', 1],
    ['winning-post', 1],
  ]);
  const text = execFileSync(process.execPath, [MAIN, 'status', '--repo', repo.path], { encoding: 'utf8' });
  t.regex(text, /window-post\s+running DEGRADED .*DEGRADED: no chain head for \d+ s/);
  t.is(miner.child.exitCode, null, 'the miner keeps running');

  await restartNode();
  await until(
    all((a) => a.status === 'running' && a.degraded === undefined),
    30_000,
    'both PoSt roles healthy again',
  );
  t.deepEqual(await degradedGauge(), [
    ['window-post', 0],
    ['winning-post', 0],
  ]);
});

test.serial('a PoSt role started while its chain node is down runs degraded, is not restarted, and starts its work once the node answers', async (t) => {
  // The miner's chain API points at a port nobody listens on.
  const { port, repo, miner, actors, all, restartNode } = await setUp(t, true);
  const down = await until(
    all((a) => a.status === 'running' && a.degraded !== undefined),
    60_000,
    'both PoSt roles running, degraded',
  );
  for (const a of down) t.regex(a.degraded!, new RegExp(`^no chain node answered at start \\(attempt \\d+; next in \\d+ s\\): .*127\\.0\\.0\\.1:${port}`), a.id);
  // Long enough for several failed attempts (1 + 2 + 4 + 8 s): a failing start would have been
  // restarted by now.
  await new Promise((r) => setTimeout(r, 16_000));
  const still = await actors();
  t.is(still.length, ROLES.length, `the miner answers Distminer.Status (exit code ${miner.child.exitCode}); last lines:\n${miner.lines.slice(-20).join('\n')}`);
  t.true(
    still.every((a) => a.status === 'running' && a.restarts === 0 && a.degraded !== undefined),
    JSON.stringify(still),
  );
  t.regex(still.find((a) => a.id === 'window-post')!.degraded!, /attempt [4-9]/);
  t.is(miner.child.exitCode, null);

  await restartNode();
  await until(
    all((a) => a.status === 'running' && a.degraded === undefined && a.restarts === 0),
    45_000,
    'both PoSt roles healthy once the node answers',
  );
  // And doing their work: both follow the chain.
  await until(
    async () => (await minerMetrics(repo.path)).find('distminer_chain_head_lag_seconds').filter((s) => ROLES.includes(s.labels.role)).length === ROLES.length,
    60_000,
    'both PoSt roles to receive a chain head',
  );
});
