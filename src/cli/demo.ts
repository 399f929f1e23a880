// `distminer demo` (what `npm start` runs): the seed's topology on this machine, all real
// processes on loopback with real 2KiB proofs —
//   the devnet (the chain), a PoSt miner (Window + Winning PoSt, sector-number server),
//   a seal miner (sector numbers from the PoSt miner) with two seal workers,
//   a deal miner (takes deals, seals them on its own seal worker) and a client making deals,
// all for one miner id, plus a live view (sectors by state, deadlines proven, blocks won,
// power, mailbox depth) until Ctrl-C. `--split-post` runs Window and Winning PoSt on two
// miners instead of one. Another terminal can run any command against it: the view prints
// the environment to use. Options: `distminer demo --help` (src/cli/program.ts).
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { countsBy } from '../util/counts.js';
import { freePort } from '../util/listen.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { SupervisorStatus } from '../../actors/supervisor.js';
import { repoAuth } from '../auth/index.js';
import { SECTORID_TOKEN_FILE } from '../config/repo.js';
import { writeFileAtomic } from '../util/durable.js';
import { callApi } from '../api/client.js';
import { rpcCall } from '../net/rpc-client.js';
import { ChainClient } from '../chain/client.js';
import { parseApiMultiaddr } from '../config/multiaddr.js';
import type { SectorView } from '../sealing/service.js';
import { adminGet } from '../deals/client.js';
import { readKeyFile } from '../deals/keys.js';
import { parseFil } from '../chain/fees.js';
import type { DealRecord } from '../deals/store.js';

/** dist/main.js, the documented entry point (this file is dist/src/cli/demo.js). */
const MAIN = fileURLToPath(new URL('../../main.js', import.meta.url));

/** `distminer demo`'s options, parsed by commander (src/cli/program.ts). */
export interface DemoOptions {
  dir?: string;
  keep?: boolean;
  sectors?: string;
  deals?: string;
  blockDelay?: string;
  periodDeadlines?: string;
  splitPost?: boolean;
}

async function waitFile(path: string, timeoutMs: number, what: string): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  while (!existsSync(path)) {
    if (Date.now() > deadline) throw new Error(`${what} did not start within ${timeoutMs / 1000}s (no ${path}); see the logs`);
    await new Promise((r) => setTimeout(r, 250));
  }
  return readFileSync(path, 'utf8').trim();
}

export async function main(o: DemoOptions): Promise<number> {
  const dir = o.dir ?? join(tmpdir(), 'distminer-demo');
  const target = Number(o.sectors ?? 4);
  const dealCount = Number(o.deals ?? 1);
  const blockDelay = o.blockDelay ?? '10s';
  const periodDeadlines = o.periodDeadlines ?? '12';
  if (!Number.isInteger(target) || target < 0) throw new Error(`demo: --sectors must be a non-negative integer, got "${o.sectors}"`);
  if (!Number.isInteger(dealCount) || dealCount < 0) throw new Error(`demo: --deals must be a non-negative integer, got "${o.deals}"`);
  if (!/^\d+$/.test(periodDeadlines) || Number(periodDeadlines) < 3) throw new Error(`demo: --period-deadlines must be an integer ≥ 3, got "${periodDeadlines}"`);
  const split = o.splitPost === true;
  if (existsSync(dir) && !o.keep) rmSync(dir, { recursive: true, force: true });
  mkdirSync(join(dir, 'logs'), { recursive: true });
  const children: { name: string; p: ChildProcess }[] = [];
  // Children stop themselves if the demo is SIGKILLed (src/main.ts, exitWithParent).
  const env = { ...process.env, DISTMINER_LOG_PRETTY: '0', DISTMINER_EXIT_WITH_PARENT: String(process.pid) };
  const start = (name: string, argv: string[], extraEnv: NodeJS.ProcessEnv = {}): ChildProcess => {
    const log = createWriteStream(join(dir, 'logs', `${name}.log`));
    // Each in a session of its own, as on separate hosts or services: a PoSt miner raises its
    // own session's scheduler priority (actors/priority.ts), not the seal workers'.
    const p = spawn(process.execPath, [MAIN, ...argv], { env: { ...env, ...extraEnv }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    p.stdout!.pipe(log);
    p.stderr!.pipe(log);
    p.on('exit', (code, sig) => {
      if (!stopping) process.stderr.write(`demo: ${name} exited (${sig ?? code}); see ${join(dir, 'logs', `${name}.log`)}\n`);
    });
    children.push({ name, p });
    process.stdout.write(`demo: started ${name} pid ${p.pid}\n`);
    return p;
  };
  let stopping = false;
  const running = (p: ChildProcess) => p.exitCode === null && p.signalCode === null;
  const stopAll = async () => {
    stopping = true;
    for (const { p } of [...children].reverse()) if (running(p)) p.kill('SIGTERM');
    // A child that does not stop within 30 s is killed: the demo must not leave processes behind.
    const kill = setTimeout(() => children.forEach(({ p }) => running(p) && p.kill('SIGKILL')), 30_000);
    await Promise.all(children.map(({ p }) => (running(p) ? new Promise((r) => p.once('exit', r)) : null)));
    clearTimeout(kill);
  };
  // Signals are taken from the start, so a Ctrl-C while the cluster is still starting also
  // stops every child started so far (a terminal signals them too; a `kill PID` does not).
  let signalled = false;
  let onSignal: () => void = () => undefined;
  const stop = new Promise<void>((resolve) => {
    onSignal = () => {
      signalled = true;
      resolve();
    };
    process.once('SIGINT', () => onSignal());
    process.once('SIGTERM', () => onSignal());
  });
  /** Waits for `p`, unless a signal comes first. */
  const orStop = <T>(p: Promise<T>): Promise<T> => Promise.race([p, stop.then(() => Promise.reject(new Error('stopped by a signal')))]);

  try {
    process.stdout.write(`demo: starting in ${dir} (logs in ${join(dir, 'logs')})\n`);
    // 1. The chain: a devnet with a short proving period (same formulas as mainnet).
    const devnet = start('devnet', [
      'devnet',
      '--dir',
      join(dir, 'devnet'),
      '--listen',
      '127.0.0.1:0',
      '--block-delay',
      blockDelay,
      '--challenge-window',
      '4',
      '--period-deadlines',
      periodDeadlines,
      '--challenge-lookback',
      '1',
      '--fault-cutoff',
      '2',
      '--precommit-delay',
      '3',
    ]);
    const apiInfo = await orStop(
      new Promise<string>((resolve, reject) => {
        let buf = '';
        const t = setTimeout(() => reject(new Error('the devnet did not print its API info within 30 s')), 30_000);
        devnet.stdout!.on('data', (d: Buffer) => {
          buf += d.toString();
          const m = /FULLNODE_API_INFO=(\S+)/.exec(buf);
          if (m) {
            clearTimeout(t);
            resolve(m[1]);
          }
        });
      }),
    );
    const chain = new ChainClient(apiInfo);

    // 2. Repositories: one miner id, one shared storage path (sealed files the PoSt miners
    //    read). Each host keeps its own API secret and admin token; a host that asks the
    //    sector-number server for numbers gets a write token of the server's repository
    //    (<repo>/sectorid-token), never a copy of its admin token.
    const storage = join(dir, 'storage');
    const repos = [...(split ? ['post-window', 'post-winning'] : ['post']), 'seal', ...(dealCount > 0 ? ['deal'] : [])];
    for (const r of repos) {
      const init = spawn(process.execPath, [MAIN, 'init', '--miner', 't01000', '--repo', join(dir, r), '--api', '/ip4/127.0.0.1/tcp/0/http'], { stdio: 'ignore' });
      await orStop(new Promise((res) => init.on('exit', res)));
      const cfg = join(dir, r, 'config.toml');
      writeFileSync(cfg, readFileSync(cfg, 'utf8').replace('[Distminer]', `[Distminer]\n  ChainApi = "${apiInfo}"\n  StoragePaths = ["${storage}"]`));
    }
    for (const r of ['seal', 'deal'].filter((x) => repos.includes(x))) {
      writeFileAtomic(join(dir, r, SECTORID_TOKEN_FILE), `${repoAuth(join(dir, repos[0])).issue('write')}\n`, 0o600);
    }
    const tokenOf = (r: string) => readFileSync(join(dir, r, 'token'), 'utf8').trim();
    const scPort = await freePort();
    const sc = `127.0.0.1:${scPort}`;

    // 3. The miners, with the seed's flags.
    if (split) {
      start('post-window', ['run', '--repo', join(dir, 'post-window'), '--window-post=true', '--winning-post=false', '--p2p=false', '--sctype=alloce', `--sclisten=${sc}`]);
      start('post-winning', ['run', '--repo', join(dir, 'post-winning'), '--window-post=false', '--winning-post=true', '--p2p=false']);
    } else {
      start('post', ['run', '--repo', join(dir, 'post'), '--window-post=true', '--winning-post=true', '--p2p=false', '--sctype=alloce', `--sclisten=${sc}`]);
    }
    await orStop(waitFile(join(dir, repos[0], 'sectorid-api'), 60_000, 'the sector-number server'));
    start('seal', ['run', '--repo', join(dir, 'seal'), '--window-post=false', '--winning-post=false', '--p2p=false', '--sctype=get', `--sclisten=${sc}`]);
    const sealApi = await orStop(waitFile(join(dir, 'seal', 'sealing-api'), 60_000, 'the seal miner'));
    const token = tokenOf('seal');
    // 4. Two seal workers, each connected to the seal miner only, with a write token (not the
    //    admin one: a worker host needs no more).
    const workerToken = repoAuth(join(dir, 'seal')).issue('write');
    for (const w of ['worker-1', 'worker-2']) start(w, ['worker', '--miner-api', `${workerToken}:${sealApi}`, '--dir', join(dir, w), '--storage', storage]);
    // 5. The deal miner (the seed's third line) with a seal worker of its own, and a client
    //    that makes the deals through the client CLI once the deal server is up.
    let dealApi: string | undefined;
    const deals: { made: number; failed: string[] } = { made: 0, failed: [] };
    if (dealCount > 0) {
      start('deal', ['run', '--repo', join(dir, 'deal'), '--window-post=false', '--winning-post=false', '--p2p=true', '--sctype=get', `--sclisten=${sc}`]);
      const dealSealApi = await orStop(waitFile(join(dir, 'deal', 'sealing-api'), 60_000, "the deal miner's seal service"));
      start('deal-worker', ['worker', '--miner-api', `${repoAuth(join(dir, 'deal')).issue('write')}:${dealSealApi}`, '--dir', join(dir, 'deal-worker'), '--storage', storage]);
      dealApi = await orStop(waitFile(join(dir, 'deal', 'deals', 'api'), 60_000, 'the deal server'));
      void makeDeals(dir, dealApi, dealCount, apiInfo, deals);
    }

    const sealHp = parseApiMultiaddr(sealApi);
    const sealRpc = <T>(method: string, params: unknown[] = []): Promise<T> => rpcCall<T>(`http://${sealHp.host}:${sealHp.port}/rpc/v0`, method, params, { token, timeoutMs: 30_000 });
    const minerStatus = async (r: string): Promise<SupervisorStatus | undefined> => {
      try {
        const addr = parseApiMultiaddr(readFileSync(join(dir, r, 'api'), 'utf8').trim());
        return await callApi<SupervisorStatus>(addr, tokenOf(r), 'Distminer.Status', [], 3000);
      } catch {
        return undefined;
      }
    };

    let pledged = 0;
    const tty = process.stdout.isTTY;
    let lastPrint = 0;
    let done = signalled;
    void stop.then(() => (done = true));
    process.stdout.write(
      `demo: running. In another terminal:\n  export FULLNODE_API_INFO=${apiInfo}\n  node ${MAIN} sectors list --repo ${join(dir, 'seal')}\n  node ${MAIN} proving deadlines --miner t01000\n  node ${MAIN} status --repo ${join(dir, repos[0])}\n${dealApi ? `  node ${MAIN} deals list --repo ${join(dir, 'deal')}\n` : ''}Ctrl-C stops everything.\n`,
    );
    while (!done) {
      let sectors: SectorView[] = [];
      try {
        sectors = await sealRpc<SectorView[]>('SectorsList');
        const inFlight = sectors.filter((s) => !['Proving', 'Removed', 'FailedUnrecoverable'].includes(s.state)).length;
        if (pledged < target && inFlight < 2) {
          await sealRpc('SectorsPledge', [1]);
          pledged++;
        }
      } catch {
        // the seal miner may still be starting
      }
      const now = Date.now();
      if (tty || now - lastPrint > 30_000) {
        lastPrint = now;
        const [head, power] = await Promise.all([chain.chainHead().catch(() => undefined), chain.stateMinerPower('t01000').catch(() => undefined)]);
        const lines = [
          `distminer demo — miner t01000 — epoch ${head?.Height ?? '?'} — power ${power ? `${Number(power.MinerPower.RawBytePower) / 1024} KiB` : '?'}`,
          `sectors: ${countsBy(sectors, (s) => s.state, 'none yet')}  (pledged ${pledged}/${target})`,
        ];
        if (dealApi) {
          const list = await adminGet<{ deals: DealRecord[] }>(dealApi, tokenOf('deal'), '/deals').then(
            (a) => a.body.deals ?? [],
            () => undefined,
          );
          const failed = deals.failed.length ? `; ${deals.failed.length} could not be made (${deals.failed[deals.failed.length - 1]})` : '';
          lines.push(`deals: ${list ? countsBy(list, (d) => d.state, 'none yet') : '?'}  (made ${deals.made}/${dealCount}${failed})`);
        }
        for (const r of repos) {
          const st = await minerStatus(r);
          if (!st) {
            lines.push(`${r}: starting…`);
            continue;
          }
          for (const a of st.actors) lines.push(`  ${r}/${a.id}: ${a.status} — ${a.detail}`);
          if (st.mailbox) {
            const q = Object.entries(st.mailbox.queued)
              .map(([k, v]) => `${k} ${v}`)
              .join(', ');
            lines.push(`  ${r}/mailbox: queued ${q}; running ${st.mailbox.running.length}`);
          }
        }
        process.stdout.write((tty ? '\x1b[2J\x1b[H' : '\n') + lines.join('\n') + '\n');
      }
      await Promise.race([stop, new Promise((r) => setTimeout(r, 2000))]);
    }
    process.stdout.write('demo: stopping…\n');
    await stopAll();
    process.stdout.write('demo: stopped\n');
    // HTTP keep-alive sockets and the chain client's timers would hold the process open.
    process.exit(0);
  } catch (e) {
    if (!signalled) throw e;
    // A signal during start-up: stop what was started, and exit as on Ctrl-C.
    process.stdout.write('demo: stopping…\n');
    await stopAll();
    process.stdout.write('demo: stopped\n');
    process.exit(0);
  } finally {
    await stopAll();
  }
}

/**
 * The demo's storage client, as a user would be one: a key, funded from the devnet's wallet
 * (its genesis key), 1 FIL put into its market escrow with `distminer client market add`
 * (signed by its own key), then `count` deals of 2032 random bytes (one 2 KiB piece, a full
 * sector each) at 1000 attoFIL an epoch through `distminer client deal --chain-api`, which takes
 * the provider collateral from the market. Starting 2000 epochs from now leaves the deal miner
 * ample time to seal them first.
 */
async function makeDeals(dir: string, dealApi: string, count: number, apiInfo: string, out: { made: number; failed: string[] }): Promise<void> {
  const chain = new ChainClient(apiInfo);
  const cdir = join(dir, 'client');
  mkdirSync(cdir, { recursive: true });
  const key = join(cdir, 'client.key');
  const cli = (argv: string[]) =>
    new Promise<void>((resolve, reject) => {
      const p = spawn(process.execPath, [MAIN, 'client', ...argv], { stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      p.stderr!.on('data', (d: Buffer) => (err += d.toString()));
      p.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(err.trim().split('\n').pop() || `exit ${code}`))));
    });
  try {
    if (!existsSync(key)) await cli(['key', 'new', '--out', key]);
    const client = readKeyFile(key, 'testnet').address;
    const sm = await chain.mpoolPushMessage({ From: await chain.walletDefaultAddress(), To: client, Method: 0, Value: parseFil('10').toString() });
    const r = await chain.stateWaitMsg(sm.CID!, 0);
    if (r.Receipt.ExitCode !== 0) throw new Error(`funding ${client} failed with exit code ${r.Receipt.ExitCode}`);
    await cli(['market', 'add', '1', '--key', key, '--chain-api', apiInfo]);
  } catch (e) {
    out.failed.push(`client: ${(e as Error).message}`);
    return;
  }
  for (let i = 0; i < count; i++) {
    try {
      const file = join(cdir, `data-${i}.bin`);
      writeFileSync(file, randomBytes(2032));
      const start = (await chain.chainHead()).Height + 2000;
      await cli(['deal', file, '--miner', 't01000', '--api', dealApi, '--key', key, '--start-epoch', String(start), '--price', '1000', '--chain-api', apiInfo, '--label', `demo deal ${i}`]);
      out.made++;
    } catch (e) {
      out.failed.push((e as Error).message);
    }
  }
}
