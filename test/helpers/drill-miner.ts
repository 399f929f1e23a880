// A real `distminer run` that needs no chain and no proofs: the sector-number server, the
// Winning PoSt role (idle without a chain API) and the crash drill API (Distminer.ActorCrashDrill).
// What the tests of the miner's metrics and web page start when they need a live process.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseApiMultiaddr } from '../../src/config/multiaddr.js';
import { freePort } from '../../src/util/listen.js';
import { MAIN } from './procs.js';

/** Starts it on an initialised repo and waits for its api file; SIGKILLed at teardown. */
export async function startDrillMiner(
  t: { teardown(f: () => void): void },
  repo: string,
  env: NodeJS.ProcessEnv = {},
): Promise<{ child: ChildProcess; addr: { host: string; port: number }; admin: string }> {
  const sc = await freePort();
  const child = spawn(process.execPath, [MAIN, 'run', `--repo=${repo}`, '--roles=winning-post', '--sctype=alloce', `--sclisten=127.0.0.1:${sc}`, '--drill-crashes'], {
    env: { ...process.env, DISTMINER_LOG_PRETTY: '0', DISTMINER_LOG_LEVEL: 'fatal', ...env },
    stdio: 'ignore',
  });
  t.teardown(() => void child.kill('SIGKILL'));
  const apiFile = join(repo, 'api');
  for (let i = 0; i < 200 && !existsSync(apiFile) && child.exitCode === null; i++) await new Promise((r) => setTimeout(r, 50));
  if (!existsSync(apiFile)) throw new Error(`the miner wrote no api file (exit code ${child.exitCode})`);
  return { child, addr: parseApiMultiaddr(readFileSync(apiFile, 'utf8').trim()), admin: readFileSync(join(repo, 'token'), 'utf8').trim() };
}
