// Pieces the real-Lotus tests share (test/lotus/*): a client key funded from the node's default
// wallet (the devnet's genesis key), and a new miner made like `lotus-miner init` with its seal
// role's API and one seal worker.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ChainClient } from '../../src/chain/client.js';
import { parseFil } from '../../src/chain/fees.js';
import { parseConfigToml } from '../../src/config/settings.js';
import { keyInfoOf, newClientKey } from '../../src/deals/keys.js';
import { writeFileAtomic } from '../../src/util/durable.js';
import { MAIN, Proc, exec, until } from './procs.js';

/** A new client key file of `type` in `dir`, funded with `fil` FIL from the node's default wallet, once that is on chain. */
export async function fundedClient(chain: ChainClient, dir: string, type: 'secp256k1' | 'bls', fil: string): Promise<{ keyFile: string; address: string }> {
  const k = newClientKey(type);
  const keyFile = join(dir, `${k.address}.key`);
  writeFileAtomic(keyFile, JSON.stringify(keyInfoOf(k)) + '\n', 0o600);
  const from = await chain.walletDefaultAddress();
  const sm = await chain.mpoolPushMessage({ From: from, To: k.address, Method: 0, Value: parseFil(fil).toString() });
  const r = await chain.stateWaitMsg(sm.CID!, 1);
  if (r.Receipt.ExitCode !== 0) throw new Error(`funding ${k.address}: exit ${r.Receipt.ExitCode}`);
  return { keyFile, address: k.address };
}

/**
 * `distminer init --create-miner` in `repo`: a new miner actor through the power actor, its
 * worker funded with `workerFil`. Returns the miner id and init's output.
 */
export async function createMiner(repo: string, api: string, env: NodeJS.ProcessEnv, workerFil = '50'): Promise<{ miner: string; status: number | null; output: string }> {
  const args = [MAIN, 'init', '--create-miner', '--repo', repo, '--chain-api', api, '--worker-funds', workerFil, '--api', '/ip4/127.0.0.1/tcp/0/http'];
  // Not spawnSync: ava's timeouts and the other processes' logs go on while it waits for the chain.
  const init = await exec(process.execPath, args, { env, timeoutMs: 10 * 60_000 });
  const output = `${init.stderr}${init.stdout}`;
  if (init.status !== 0) return { miner: '', status: init.status, output };
  return { miner: parseConfigToml(readFileSync(join(repo, 'config.toml'), 'utf8')).minerId!, status: 0, output: init.stdout };
}

/**
 * Fails at once, with the reason, when the devnet's chain is not moving: every message a test
 * sends would wait for nothing (lotus-miner alone can stop for good: test/lotus/post.test.ts's
 * handBack says when).
 */
export async function chainMoving(chain: ChainClient, timeoutMs = 120_000): Promise<void> {
  const h = (await chain.chainHead()).Height;
  await until(async () => (await chain.chainHead()).Height > h, timeoutMs, `the devnet's chain to move past epoch ${h} (is lotus-miner mining? see its log)`);
}

/**
 * Waits for the seal service of `run` (a `distminer run` on `repo`) and starts one seal worker
 * for it; its URL and the repo's token. Not niced: beside lotus-miner (≈1.7 cores for its
 * Winning PoSt here) a nice-19 worker gets ~10% of a core and one 2KiB Commit2 takes over 10
 * minutes.
 */
export async function sealWorker(repo: string, workDir: string, run: Proc, env: NodeJS.ProcessEnv): Promise<{ url: string; token: string; worker: Proc }> {
  const token = readFileSync(join(repo, 'token'), 'utf8').trim();
  const sealApi = await until(
    async () => {
      try {
        return readFileSync(join(repo, 'sealing-api'), 'utf8').trim();
      } catch {
        return undefined;
      }
    },
    120_000,
    'the seal service',
  ).catch((e) => {
    throw new Error(`${(e as Error).message}\n${run.lines.slice(-30).join('\n')}`);
  });
  const worker = new Proc('worker', [MAIN, 'worker', '--miner-api', `${token}:${sealApi}`, '--dir', join(workDir, 'worker'), '--storage', join(repo, 'storage'), '--nice', '0'], env);
  const hp = /\/ip4\/([^/]+)\/tcp\/(\d+)/.exec(sealApi)!;
  return { url: `http://${hp[1]}:${hp[2]}`, token, worker };
}

/**
 * Where a sector's time went, from its event log (`sectors status`): "Packing 3 s, PreCommit1
 * 21 s, …" in order, each state's span up to the next entry, repeats summed. For the tests' logs,
 * so a slow tier shows which step (proof, message, wait for the chain) to look at.
 */
export function stateSeconds(log: { at: string; state: string }[]): string {
  const spans = new Map<string, number>();
  for (let i = 0; i + 1 < log.length; i++) {
    const ms = Date.parse(log[i + 1].at) - Date.parse(log[i].at);
    spans.set(log[i].state, (spans.get(log[i].state) ?? 0) + ms);
  }
  return [...spans].map(([s, ms]) => `${s} ${Math.round(ms / 1000)} s`).join(', ');
}
