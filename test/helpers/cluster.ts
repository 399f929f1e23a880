// Real-process clusters for the PoSt integration tests: a `distminer devnet` process, miner
// repositories (one miner id, one token, one shared storage path, as the seed copies one
// repository to each host), `distminer run` / `distminer worker` processes, fixture sectors
// committed on the chain, and the election recomputed from the chain to check the miners.
import { type Exposition, parseExposition } from './prom.js';
import { copyFileSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { callApi } from '../../src/api/client.js';
import { ChainClient } from '../../src/chain/client.js';
import { computeWinCount } from '../../src/chain/crypto.js';
import { electionVrfInput, randomnessBeacon } from '../../src/chain/mining.js';
import { encodeProveCommitOne } from '../../src/chain/params.js';
import type { BlockHeader } from '../../src/chain/api-types.js';
import { ExitCode, MinerMethod } from '../../src/chain/builtin-actors.js';
import type { Cid } from '../../src/chain/cid.js';
import { b64 } from '../../src/chain/encoding.js';
import { parseApiMultiaddr } from '../../src/config/multiaddr.js';
import { initRepo } from '../../src/config/repo.js';
import { secretPath } from '../../src/auth/index.js';
import type { SupervisorStatus } from '../../actors/supervisor.js';
import { MAIN, Proc } from './procs.js';
import { type SealedSector, pieceManifest, preCommitFixture } from './sealed.js';

const LOG_ENV = { DISTMINER_LOG_LEVEL: 'info' };

export interface DevnetProc {
  proc: Proc;
  dir: string;
  apiInfo: string;
  client: ChainClient;
}

/** `distminer devnet` on an ephemeral loopback port; `args` are its policy flags. */
export async function startDevnetProc(dir: string, args: string[], pinned: SealedSector[] = []): Promise<DevnetProc> {
  const extra: string[] = [];
  if (pinned.length > 0) {
    const f = `${dir}-pinned.json`;
    writeFileSync(f, JSON.stringify(pinned.map((s) => ({ miner: s.minerId, sector: s.sectorNumber, ticket: s.ticket.toString('hex'), seed: s.seed.toString('hex') }))));
    extra.push('--pinned-randomness', f);
  }
  const proc = new Proc('devnet', [MAIN, 'devnet', '--dir', dir, '--listen', '127.0.0.1:0', ...args, ...extra], LOG_ENV);
  const line = await proc.waitFor(/FULLNODE_API_INFO=\S+/, 30_000);
  const apiInfo = /FULLNODE_API_INFO=(\S+)/.exec(line)![1];
  return { proc, dir, apiInfo, client: new ChainClient(apiInfo, { timeoutMs: 10_000, retryAfterMs: 500 }) };
}

/**
 * A miner repository for `miner` reading the chain at `chainApi`, with `storage` as its
 * storage path. `sameAs` (another repository's path) makes it a copy of the same miner's
 * repository: its API secret and token, as the seed copies one repository to each host.
 */
export function minerRepo(path: string, miner: string, o: { chainApi: string; storage: string; sameAs?: string; sealListen?: string }): { path: string; token: string } {
  initRepo(path, miner, '/ip4/127.0.0.1/tcp/0/http');
  const cfg = join(path, 'config.toml');
  const lines = [`  ChainApi = "${o.chainApi}"`, `  StoragePaths = ["${o.storage}"]`];
  if (o.sealListen) lines.push(`  SealListenAddress = "${o.sealListen}"`);
  writeFileSync(cfg, readFileSync(cfg, 'utf8').replace('[Distminer]', `[Distminer]\n${lines.join('\n')}`));
  if (o.sameAs) {
    copyFileSync(secretPath(o.sameAs), secretPath(path));
    copyFileSync(join(o.sameAs, 'token'), join(path, 'token'));
  }
  return { path, token: readFileSync(join(path, 'token'), 'utf8').trim() };
}

/** `distminer run --repo R ...flags` with info logs (JSON lines on stderr; Proc reads both streams). */
export function runMiner(name: string, repo: string, flags: string[], env: NodeJS.ProcessEnv = {}): Proc {
  return new Proc(name, [MAIN, 'run', '--repo', repo, ...flags], { ...LOG_ENV, ...env });
}

/** A miner's /debug/metrics (served without a token by default), parsed strictly. */
export async function minerMetrics(repo: string): Promise<Exposition> {
  const addr = parseApiMultiaddr(readFileSync(join(repo, 'api'), 'utf8').trim());
  const res = await fetch(`http://${addr.host}:${addr.port}/debug/metrics`, { signal: AbortSignal.timeout(10_000) });
  if (res.status !== 200) throw new Error(`/debug/metrics of ${repo}: HTTP ${res.status}`);
  return parseExposition(await res.text());
}

/** The miner's Distminer.Status over its local API (undefined while it is not up). */
export async function minerStatus(repo: string, token: string): Promise<SupervisorStatus | undefined> {
  try {
    const addr = parseApiMultiaddr(readFileSync(join(repo, 'api'), 'utf8').trim());
    return await callApi<SupervisorStatus>(addr, token, 'Distminer.Status', [], 3000);
  } catch {
    return undefined;
  }
}

/**
 * The web page's polls (/ui/status.json, with the read cookie) and Prometheus scrapes
 * (/debug/metrics), `clients` at a time, each `pauseMs` after the last was answered, until
 * stopped: some 40 requests a second by default, far beyond a page's one poll every 2 s and a
 * scrape every 15 s, yet not a busy loop of the test's own on the shared cores. The miner's API
 * address is read from `<repo>/api` once it is there.
 */
export function webBurst(repo: string, token: string, clients = 4, pauseMs = 100): { stop(): Promise<{ pages: number; scrapes: number; refused: number; failed: number }> } {
  let on = true;
  const n = { pages: 0, scrapes: 0, refused: 0, failed: 0 };
  const loop = async (i: number) => {
    while (on) {
      let url: string;
      try {
        const a = parseApiMultiaddr(readFileSync(join(repo, 'api'), 'utf8').trim());
        url = `http://${a.host}:${a.port}`;
      } catch {
        await new Promise((r) => setTimeout(r, 200));
        continue;
      }
      const page = i % 2 === 0;
      try {
        const signal = AbortSignal.timeout(10_000);
        const r = await fetch(page ? `${url}/ui/status.json` : `${url}/debug/metrics`, page ? { headers: { cookie: `distminer_ui=${token}` }, signal } : { signal });
        await r.arrayBuffer();
        if (r.status === 200) n[page ? 'pages' : 'scrapes']++;
        else n.refused++;
        await new Promise((r) => setTimeout(r, pauseMs));
      } catch {
        n.failed++; // not yet listening, or no answer in 10 s
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  };
  const loops = Array.from({ length: clients }, (_, i) => loop(i));
  return {
    async stop() {
      on = false;
      await Promise.all(loops);
      return n;
    },
  };
}

/**
 * Pre-commits and prove-commits fixture sectors (devnet with pinned seal randomness) on a
 * devnet that runs on its own clock. Resolves when they are active (unproven, no power yet).
 */
export async function commitFixtures(c: ChainClient, miner: string, fixture: SealedSector[], precommitDelay: number): Promise<void> {
  const worker = (await c.stateMinerInfo(miner)).Worker;
  const push = async (method: number, params: Buffer) => (await c.mpoolPushMessage({ To: miner, From: worker, Method: method, Params: b64(params) })).CID!;
  const wait = async (cid: Cid) => {
    const l = await c.stateWaitMsg(cid, 0, { timeoutMs: 300_000 });
    if (l.Receipt.ExitCode !== ExitCode.Ok) throw new Error(`setup message failed: ${JSON.stringify(l.ReturnDec)}`);
    return l;
  };
  // Seal randomness epoch 0: pinned values replace the chain's, and 0 is before any execution epoch.
  const pc = await push(MinerMethod.PreCommitSectorBatch2, preCommitFixture(fixture, 0));
  const l = await wait(pc);
  while ((await c.chainHead()).Height < l.Height + precommitDelay) await new Promise((r) => setTimeout(r, 250));
  const pcs = await Promise.all(fixture.map((s) => push(MinerMethod.ProveCommitSectors3, encodeProveCommitOne(s.sectorNumber, s.proofBytes, pieceManifest(s)))));
  await Promise.all(pcs.map(wait));
}

/** The key address of a miner's worker (what WalletSign signs the election with). */
export async function workerKey(c: ChainClient, miner: string): Promise<string> {
  return c.stateAccountKey((await c.stateMinerInfo(miner)).Worker);
}

/**
 * The win count of `miner` in `round`, recomputed from the chain: the beacon entries of the
 * round's parent and of the round (every devnet epoch has a tipset), the worker key's election
 * VRF (BLS signatures are deterministic: WalletSign gives the bytes the miner got) and the
 * Poisson win count for the given powers, which the caller knows held in that round.
 */
export async function electionWins(c: ChainClient, miner: string, worker: string, round: number, power: bigint, total: bigint, expectedLeaders = 5): Promise<number> {
  const [parent, ts] = await Promise.all([c.chainGetTipSetByHeight(round - 1, null), c.chainGetTipSetByHeight(round, null)]);
  if (ts.Height !== round || parent.Height !== round - 1) throw new Error(`no tipset at ${round - 1} or ${round}`);
  const prev = parent.Blocks[0].BeaconEntries[parent.Blocks[0].BeaconEntries.length - 1];
  const rbase = randomnessBeacon(prev, ts.Blocks[0].BeaconEntries);
  const vrf = Buffer.from((await c.walletSign(worker, electionVrfInput(rbase, round, miner))).Data, 'base64');
  return computeWinCount(vrf, power, total, expectedLeaders);
}

/** The blocks of the tipset at `height` (a devnet epoch without a miner block has t00's). */
export async function blocksAt(c: ChainClient, height: number): Promise<BlockHeader[]> {
  return (await c.chainGetTipSetByHeight(height, null)).Blocks;
}

/** Pids of every live descendant of `pid` (Linux /proc). */
export function descendants(pid: number): number[] {
  const parent = new Map<number, number>();
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const s = readFileSync(`/proc/${e}/stat`, 'utf8');
      parent.set(Number(e), Number(s.slice(s.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // gone meanwhile
    }
  }
  const out: number[] = [];
  const walk = (p: number) => {
    for (const [c, pp] of parent)
      if (pp === p) {
        out.push(c);
        walk(c);
      }
  };
  walk(pid);
  return out;
}

/** Whether a process exists (and is not a zombie). */
export function alive(pid: number): boolean {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return s.slice(s.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

/** JSON log lines of a process whose `msg` is `msg`. */
export function logLines<T = Record<string, unknown>>(p: Proc, msg: string): T[] {
  return p.logs((o) => o.msg === msg) as T[];
}
