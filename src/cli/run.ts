// `distminer run`: start this host's miner — the supervisor with the role actors this host
// runs, the GPU mailbox, and the local API. See src/config/settings.ts for how the flags map
// onto roles.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { type ChildSpec, Supervisor } from '../../actors/supervisor.js';
import { InProcessExecutor, ProofProcessPool, type ProcessThrottle } from '../../actors/executors.js';
import { Mailbox } from '../../actors/mailbox.js';
import { taskKind } from '../../actors/task-kinds.js';
import { describePriority, exportPriority, raisePostPriority } from '../../actors/priority.js';
import type { CrashHow } from '../../actors/protocol.js';
import { registerLotusMinerApi } from '../api/lotus-miner.js';
import { readAdoptedSectors } from '../config/lotus-miner-repo.js';
import { sealServiceClient } from '../sealing/client.js';
import { startApiServer, RpcError } from '../api/server.js';
import { ChainClient } from '../chain/client.js';
import { type FileLock, LockHeldError, lockFile, writeFileAtomic } from '../util/durable.js';
import { formatApiMultiaddr, formatHostPort } from '../config/multiaddr.js';
import { API_FILE, type Repo, SECTORID_TOKEN_FILE, openRepo, resolveRepoPath } from '../config/repo.js';
import { type FlagConfig, type RunSettings, type ThrottleMode, resolveSettings } from '../config/settings.js';
import { checkLogLevel, logComponents, logger, setLogLevel } from '../log.js';
import { enableDefaultMetrics, gauge } from '../metrics/index.js';
import { metricsNeedToken } from '../metrics/config.js';
import { packageVersion } from './program.js';

const log = logger('miner');

/** Held by the running `distminer run` (flock), like lotus-miner's `repo.lock`. */
export const REPO_LOCK_FILE = 'repo.lock';

/** `distminer run`'s options, parsed by commander (src/cli/program.ts). */
export interface RunOptions {
  repo?: string;
  roles?: string;
  windowPost?: boolean;
  winningPost?: boolean;
  p2p?: boolean;
  seal?: boolean;
  sctype?: string;
  sclisten?: string;
  exitAfterStart?: boolean;
  drillCrashes?: boolean;
}

const ROLE_MODULE = (role: string) => new URL(`../../actors/roles/${role}.js`, import.meta.url).href;

function childSpecs(s: RunSettings, repo: string, token: string, sectorIdToken: string): ChildSpec[] {
  const sv = s.supervisor;
  const sectorId = { mode: s.sectorId.mode, address: s.sectorId.listen ? formatHostPort(s.sectorId.listen) : undefined, token: sectorIdToken };
  const backoff = { initialMs: sv.backoffInitialMs, maxMs: sv.backoffMaxMs, jitter: 0.5 };
  const specs: ChildSpec[] = s.roles.map((role) => ({
    id: role,
    module: ROLE_MODULE(role),
    restart: 'permanent',
    backoff,
    shutdownMs: sv.shutdownMs,
    options: {
      minerId: s.minerId,
      repo,
      token,
      chainApi: s.chainApi,
      storagePaths: s.storagePaths ?? [join(repo, 'storage')],
      sealListen: formatHostPort(s.sealListen),
      dealListen: formatHostPort(s.dealListen),
      waitDealsMs: s.waitDealsMs,
      // [Fees] caps of the PoSt messages (attoFIL as decimal strings: options cross process boundaries as JSON).
      windowPoStMaxFee: s.fees.windowPoSt.toString(),
      maximizeWindowPoStFeeCap: s.maximizeWindowPoStFeeCap,
      preCommitMaxFee: s.fees.preCommit.toString(),
      commitMaxFee: s.fees.commit.toString(),
      sectorId,
      slashFilter: s.slashFilter,
    },
  }));
  // The sector-number service: whenever this miner serves numbers, asks for them, or seals
  // with its own counter.
  const needsNumbers = s.roles.includes('seal') || s.roles.includes('deal');
  if (s.sectorId.mode !== 'local' || needsNumbers) {
    specs.push({
      id: 'sector-id',
      module: ROLE_MODULE('sector-id'),
      restart: 'permanent',
      backoff,
      shutdownMs: sv.shutdownMs,
      options: { mode: sectorId.mode, address: sectorId.address, repo, token: sectorIdToken, minerId: s.minerId, chainApi: s.chainApi },
    });
  }
  return specs;
}

async function resolveThrottle(mode: ThrottleMode): Promise<ProcessThrottle> {
  if (mode !== 'auto') return mode;
  // GPU builds: bellperson's priority lock pauses sealing kernels for a PoSt, and a stopped
  // process holding the GPU lock would block the PoSt; so only lower the CPU priority there.
  try {
    const proofs = await import('../proofs/index.js');
    return proofs.nativeInfo().cuda ? 'nice' : 'stop';
  } catch {
    return 'stop';
  }
}

/**
 * The token this host's seal pipeline and sector-id client send to the sector-number server:
 * `alloc` needs write, so a host never needs the admin token for it. A `--sctype=get` host
 * uses `<repo>/sectorid-token` (a token of the server's repository, written there with
 * `distminer auth create-token --perm write --repo SERVER_REPO --output FILE`); without one it
 * falls back to its own admin token, which the server accepts only when both repositories
 * share one secret (the seed's copied repository). Local numbers: a write token of this repo.
 */
function sectorIdTokenFor(s: RunSettings, repo: Repo): string {
  if (s.sectorId.mode !== 'get') return repo.auth.issue('write');
  if (repo.sectorIdToken) return repo.sectorIdToken;
  log.warn(
    { file: join(repo.path, SECTORID_TOKEN_FILE) },
    "no sectorid-token in the repo: sending this repo's admin token to the sector-number server (accepted only if both repos share one secret); give this host a write token of the server's repo instead",
  );
  return repo.token;
}

export async function main(flags: RunOptions): Promise<number> {
  const startedAt = new Date();
  const repoPath = resolveRepoPath(flags.repo);
  const repo = openRepo(repoPath);
  // One `run` per repo, like lotus-miner's repo.lock: a second one would overwrite (and on
  // stopping delete) the first one's api file and race it on every store. flock: released by
  // the kernel when this process dies, however it dies.
  let repoLock: FileLock;
  try {
    repoLock = lockFile(join(repoPath, REPO_LOCK_FILE), 'distminer run');
  } catch (e) {
    if (!(e instanceof LockHeldError)) throw e;
    throw new Error(`the repo ${repoPath} is in use: ${e.message}. Only one \`distminer run\` may use a repo; stop that one first (its api file is left alone).`, { cause: e });
  }
  const fc: FlagConfig = {
    windowPost: flags.windowPost,
    winningPost: flags.winningPost,
    p2p: flags.p2p,
    seal: flags.seal,
    roles: flags.roles !== undefined ? flags.roles.split(',') : undefined,
    sctype: flags.sctype,
    sclisten: flags.sclisten,
  };
  const settings = resolveSettings(repo.config, fc);
  const metricsToken = metricsNeedToken(repoPath);
  enableDefaultMetrics();
  gauge({ name: 'distminer_info', help: "Always 1: this miner's id, version and roles (join on instance)", labelNames: ['miner', 'version', 'roles'] }).set(
    { miner: settings.minerId, version: '0.1.0', roles: settings.roles.join(',') },
    1,
  );

  for (const line of settings.disabledLines) log.info(line);
  log.info({ miner: settings.minerId, roles: settings.roles, sectorId: settings.sectorId.mode, repo: repoPath }, `starting miner ${settings.minerId} with roles ${settings.roles.join(', ')}`);

  // A PoSt host wins the CPU at the OS level too, before any thread is started (threads
  // inherit the nice value of their creator): see actors/priority.ts.
  const priority = settings.roles.some((r) => r === 'winning-post' || r === 'window-post') ? raisePostPriority(-10, '/proc/self', { winning: settings.roles.includes('winning-post') }) : undefined;
  if (priority) {
    exportPriority(priority);
    const lines = describePriority(priority);
    if (priority.ok) log.info({ priority: lines }, 'PoSt CPU priority raised');
    else log.warn({ priority: lines }, 'PoSt CPU priority could not be raised in every layer: load from outside distminer can delay a Winning PoSt');
  }

  const throttle = await resolveThrottle(settings.mailbox.throttle);
  const postExec = new InProcessExecutor();
  // Winning PoSt: a warm process and a started spare (executors.ts): an abandoned round's proof
  // is killed and the next round's starts at once on the spare. Each in a session of its own at
  // the Winning PoSt's nice (-20, actors/priority.ts), above the rest of the miner.
  // Only where the role runs (a seal host keeps no idle proof processes).
  const winningExec = settings.roles.includes('winning-post') ? new ProofProcessPool({ throttle: 'stop', post: true, winning: true, spares: 1, idleMs: Infinity }) : postExec;
  const sealPool = new ProofProcessPool({ throttle });
  // Pausing (CPU host): Window PoSt in a warm proof process the mailbox can stop while a
  // Winning PoSt runs (executors.ts). The process stays for an hour of idleness, a proving
  // period's deadlines apart, so its parameters stay loaded.
  const windowExec = throttle === 'stop' ? new ProofProcessPool({ throttle: 'stop', idleMs: 60 * 60_000, post: true }) : postExec;
  const mailbox = new Mailbox({
    ...settings.mailbox,
    throttle: throttle === 'stop',
    executorFor: (kind) => ({ winning: winningExec, window: windowExec, seal: sealPool })[taskKind(kind).process],
  });

  const api = await startApiServer(settings.apiListen, repo.auth, { peers: settings.clusterPeers });
  const apiFile = join(repoPath, API_FILE);
  writeFileAtomic(apiFile, formatApiMultiaddr(api.address) + '\n');

  const sup = new Supervisor({
    children: childSpecs(settings, repoPath, repo.token, sectorIdTokenFor(settings, repo)),
    intensity: { maxRestarts: settings.supervisor.maxRestarts, withinMs: settings.supervisor.withinMs },
    stateDir: join(repoPath, 'actors'),
    mailbox,
    allowCrash: flags.drillCrashes === true,
  });
  // Prometheus: this process's metrics and every role actor's (asked for on each scrape).
  api.serveMetrics({ needToken: metricsToken, others: () => sup.collectMetrics() });

  api.register(
    'Distminer.Status',
    () => ({
      miner: settings.minerId,
      roles: settings.roles,
      sectorId: { mode: settings.sectorId.mode, listen: settings.sectorId.listen && formatHostPort(settings.sectorId.listen) },
      throttle,
      priority,
      ...sup.status(),
    }),
    'read',
  );
  const version = packageVersion();
  api.register('Distminer.Version', () => ({ version, apiVersion: 0 }), 'read');
  // lotus-miner's CLI (info, proving …, version, log alerts) pointed at this host.
  // lotus-miner's records are shown, never needed: a damaged file is a warning, not a miner that does not start.
  const adoptedSectors = (repo: string) => {
    try {
      return readAdoptedSectors(repo);
    } catch (err) {
      log.warn({ err }, "lotus-miner's adopted sector records are not readable: the Lotus API shows sectors without them");
      return undefined;
    }
  };
  registerLotusMinerApi(api.register, {
    minerId: settings.minerId,
    roles: settings.roles,
    version,
    startedAt,
    chain: settings.chainApi ? new ChainClient(settings.chainApi) : undefined,
    alerts: () => api.alerts(),
    seal: settings.roles.includes('seal') ? sealServiceClient(repoPath, repo.token) : undefined,
    adopted: adoptedSectors(repoPath),
    roleRunning: (role) => sup.status().actors.some((a) => a.id === role && a.status === 'running'),
  });
  // `distminer log list | set-level`: the loggers of this process's main thread and of every
  // actor's thread (each thread has its own).
  api.register('Distminer.LogList', async () => ({ main: logComponents(), actors: await sup.actorLogLevels() }), 'read');
  api.register(
    'Distminer.LogSetLevel',
    async (p) => {
      const [level, component] = (Array.isArray(p) ? p : []) as unknown[];
      try {
        checkLogLevel(level);
      } catch (e) {
        throw new RpcError(1, (e as Error).message);
      }
      if (component !== undefined && component !== null && typeof component !== 'string') throw new RpcError(1, 'the component must be a string');
      const comp = (component as string | null | undefined) ?? undefined;
      const changed = setLogLevel(level as string, comp);
      // Actor threads started from now on (restarts) and proof processes start at it too.
      if (comp === undefined) process.env.DISTMINER_LOG_LEVEL = level as string;
      const actors = await sup.actorLogLevels({ level: level as string, component: comp });
      log.info({ level, component: comp ?? 'all' }, 'log level set');
      return { main: { changed, components: logComponents() }, actors };
    },
    'write',
  );
  if (flags.drillCrashes === true) {
    api.register('Distminer.ActorCrashDrill', (p) => {
      const [id, how] = p as [string, CrashHow];
      try {
        sup.crash(id, how);
      } catch (e) {
        throw new RpcError(2, (e as Error).message);
      }
      return null;
    });
  }

  let finishing: Promise<number> | undefined;
  const finish = (code: number, why: string): Promise<number> => {
    finishing ??= (async () => {
      log.info({ why }, 'stopping the miner');
      await sup.stop();
      await mailbox.close([sealPool, ...[windowExec, winningExec].filter((e): e is ProofProcessPool => e !== postExec)]);
      await api.close();
      rmSync(apiFile, { force: true });
      repoLock.release();
      log.info({ code }, 'miner stopped');
      return code;
    })();
    return finishing;
  };

  const done = new Promise<number>((resolve) => {
    const onSignal = (sig: NodeJS.Signals) => {
      if (finishing) {
        log.warn(`${sig} again: exiting now`);
        process.exit(1);
      }
      void finish(0, sig).then(resolve);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    sup.on('escalate', () => void finish(1, 'restart intensity exceeded').then(resolve));
    if (flags.exitAfterStart === true) {
      const check = () => {
        const st = sup.status();
        if (st.actors.every((a) => a.status === 'running')) {
          log.info({ actors: st.actors.map((a) => `${a.id}:${a.state}`) }, 'all actors started');
          sup.off('state', check);
          void finish(0, '--exit-after-start').then(resolve);
        }
      };
      sup.on('state', check);
    }
  });
  sup.start();
  log.info({ api: formatApiMultiaddr(api.address) }, 'miner running');
  const code = await done;
  // Anything still holding the loop open (a native pool) must not keep a stopped miner alive.
  setTimeout(() => process.exit(code), 2000).unref();
  return code;
}
