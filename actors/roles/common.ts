// What the role actors share: a long-running-service role skeleton, the PoSt roles' options,
// and the ProofRunner that sends PoSt proofs
// through this host's GPU mailbox (Winning PoSt on its reserved lane, Window PoSt on the
// PoSt lanes, both ahead of any sealing proof, which the mailbox pauses while they run).
import { type ProofJob, type ProofRunner, ProofCancelledError, ProofDeadlineError } from '../../src/post/runner.js';
import { type RoleEvent, roleMachine } from './base.js';
import type { RoleContext, RoleDefinition } from './types.js';
import { parseAddress } from '../../src/chain/address.js';

export { countsBy } from '../../src/util/counts.js';

/** A miner's actor number and network from its ID address (f0…: mainnet, t0…: testnet). */
export function minerAddress(minerId: string): { id: number; network: 'mainnet' | 'testnet' } {
  const a = parseAddress(minerId);
  if (a.id === undefined) throw new TypeError(`miner "${minerId}" is not an ID address`);
  return { id: Number(a.id), network: a.network };
}

/** Sends the status detail now and every `ms` (default 5 s); returns what stops it. */
export function reportEvery(sendBack: (e: RoleEvent) => void, detail: () => string, ms = 5000): () => void {
  const report = () => sendBack({ type: 'PROGRESS', detail: detail() });
  report();
  const timer = setInterval(report, ms);
  return () => clearInterval(timer);
}

export interface PoStRoleOptions {
  minerId: string;
  repo: string;
  chainApi?: string;
  storagePaths: string[];
  /** [Fees] MaxWindowPoStGasFee in attoFIL (decimal string); absent: lotus-miner's default. */
  windowPoStMaxFee?: string;
  /** [Fees] MaximizeWindowPoStFeeCap. */
  maximizeWindowPoStFeeCap?: boolean;
  /** [Distminer] SlashFilter: the PoSt hosts' shared database (a postgres:// URL): the Winning PoSt slash filter and the Window PoSt deadline leases. */
  slashFilter?: string;
}

export function mailboxRunner(ctx: RoleContext): ProofRunner {
  return {
    run: async <T>(job: ProofJob): Promise<T> => {
      try {
        const r = await ctx.submitProof<T>(job.kind, job.args, { deadline: job.deadlineMs, signal: job.signal });
        return r.value;
      } catch (e) {
        if ((e as { code?: unknown }).code === 'cancelled' && job.signal?.aborted) throw new ProofCancelledError((e as Error).message);
        // The mailbox gave up on the job at its deadline: the time ran out, not the sectors
        // (a Window PoSt must not blame, skip and declare faulty the sectors it was proving).
        if ((e as { code?: unknown }).code === 'deadline') throw new ProofDeadlineError((e as Error).message);
        throw e;
      }
    },
  };
}

/**
 * Sends HEALTH when `why()` changes (a reason: degraded; null: healthy), checked now and every
 * `everyMs`. Returns a function that stops it.
 */
export function reportHealth(sendBack: (e: RoleEvent) => void, why: () => string | null, everyMs = 2000): () => void {
  // Sent once at first whatever it says: it replaces what the start said (untilChainAnswers).
  let last: string | null | undefined;
  const check = () => {
    const w = why();
    if (w === last) return;
    last = w;
    sendBack({ type: 'HEALTH', degraded: w });
  };
  check();
  const timer = setInterval(check, everyMs);
  timer.unref();
  return () => clearInterval(timer);
}

/**
 * Runs `start` until the chain node answers it. While no node answers (ChainUnavailableError:
 * the node is down, restarting, not yet up after a host reboot) the role stays up and degraded,
 * saying why, and tries again with backoff (1 s doubling to 15 s): restarting the thread would
 * not bring the node back, and repeated failed starts would exhaust the supervisor's restart
 * intensity and stop the whole miner, sealing included. Any other error fails the start.
 * Resolves false if `signal` aborted first.
 */
export async function untilChainAnswers(
  ctx: RoleContext,
  sendBack: (e: RoleEvent) => void,
  signal: AbortSignal,
  start: () => Promise<void>,
  o: { firstMs?: number; maxMs?: number } = {},
): Promise<boolean> {
  let wait = o.firstMs ?? 1000;
  for (let attempt = 1; ; attempt++) {
    if (signal.aborted) return false;
    try {
      await start();
      if (attempt > 1) ctx.log.info({ attempt }, 'chain node answered; started');
      return !signal.aborted;
    } catch (e) {
      if ((e as Error)?.name !== 'ChainUnavailableError') throw e;
      const why = `no chain node answered at start (attempt ${attempt}; next in ${Math.round(wait / 1000)} s): ${(e as Error).message}`;
      sendBack({ type: 'HEALTH', degraded: why });
      sendBack({ type: 'PROGRESS', detail: 'waiting for the chain node' });
      if (attempt === 1 || attempt % 10 === 0) ctx.log.warn({ err: e, attempt }, 'no chain node answered at start; the role waits, degraded');
    }
    await new Promise<void>((resolve) => {
      const t = setTimeout(done, wait);
      function done() {
        clearTimeout(t);
        signal.removeEventListener('abort', done);
        resolve();
      }
      signal.addEventListener('abort', done);
    });
    wait = Math.min(wait * 2, o.maxMs ?? 15_000);
  }
}

export const NO_CHAIN = 'idle: no chain API configured (set FULLNODE_API_INFO or [Distminer] ChainApi in config.toml)';

/**
 * The chain API, or undefined after telling the operator: without a chain the role has nothing
 * to do, and restarting it would not help, so it stays up, idle, saying why in its status.
 */
export function chainOrIdle(ctx: RoleContext, chainApi: string | undefined, sendBack: (e: { type: 'PROGRESS'; detail: string }) => void): string | undefined {
  if (chainApi) return chainApi;
  ctx.log.error(NO_CHAIN);
  sendBack({ type: 'PROGRESS', detail: NO_CHAIN });
  return undefined;
}

/**
 * A role whose work is one long-running service: `start` brings it up (reporting through
 * `sendBack`; `signal` aborts when the role is stopped before it is up) and returns how to stop it. A start that throws fails the actor (the supervisor
 * restarts it); a stop requested before the start finished stops the service once it is up.
 */
export function serviceRole(
  ctx: RoleContext,
  o: { version: number; runningDetail: string },
  start: (sendBack: (e: RoleEvent) => void, signal: AbortSignal) => Promise<(() => Promise<void>) | undefined>,
): RoleDefinition {
  let stop: (() => Promise<void>) | undefined;
  return {
    version: o.version,
    machine: roleMachine(ctx, {
      runningDetail: o.runningDetail,
      run: ({ sendBack }) => {
        const cancel = new AbortController();
        start(sendBack, cancel.signal).then(
          (s) => {
            stop = s;
            if (cancel.signal.aborted) void s?.();
          },
          (e: Error) => {
            if (!cancel.signal.aborted) sendBack({ type: 'FAIL', error: e.message });
          },
        );
        return () => cancel.abort();
      },
      stop: async () => {
        await stop?.();
      },
    }),
  };
}
