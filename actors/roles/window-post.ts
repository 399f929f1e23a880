// Window PoSt actor: every proving deadline, reads the deadline's partitions from the chain,
// checks the sealed files in the storage paths, proves through the GPU mailbox (window-post
// class) and submits before the window closes; declares faults and recoveries before their
// cutoffs (src/post/window.ts). It holds no sector metadata: a restart reads the chain again.
import { type PoStRoleOptions, chainOrIdle, mailboxRunner, reportHealth, serviceRole, untilChainAnswers } from './common.js';
import type { CreateRole } from './types.js';
import { watchStorageSpace } from '../../src/post/storage.js';
import { counter, gauge } from '../../src/metrics/index.js';
import type { DeadlineFunds, DeadlineMargin, WindowLeaseStatus } from '../../src/post/window.js';

// Metrics (src/metrics; this role's thread), from the scheduler's events.
const proven = counter({ name: 'distminer_windowpost_deadlines_proven_total', help: 'Window PoSt deadlines proven (the proof landed on chain)', labelNames: ['miner'] });
const missed = counter({ name: 'distminer_windowpost_deadlines_missed_total', help: 'Window PoSt deadlines missed (no proof landed before the window closed)', labelNames: ['miner'] });
const errors = counter({
  name: 'distminer_windowpost_errors_total',
  help: 'Window PoSt errors (each logged at error level: a refused or failed submission or declaration, a failed check)',
  labelNames: ['miner'],
});
const submitted = counter({ name: 'distminer_windowpost_submitted_total', help: 'Window PoSt messages pushed', labelNames: ['miner'] });
const faults = counter({ name: 'distminer_faults_declared_total', help: 'Sectors declared faulty (DeclareFaults landed)', labelNames: ['miner'] });
const recoveries = counter({ name: 'distminer_recoveries_declared_total', help: 'Sectors declared recovered (DeclareFaultsRecovered landed)', labelNames: ['miner'] });
const margin = gauge({
  name: 'distminer_windowpost_deadline_margin_seconds',
  help: 'Seconds until the open deadline closes, while some of its partitions are not proven on chain (no sample once they are)',
  labelNames: ['miner', 'deadline'],
});
// Beside the margin (same labels): "at risk" is the last sixth of the window, at most 300 s
// (mainnet: 60 epochs of 30 s, so 300 s; a devnet's short windows get a proportionate share).
const windowLen = gauge({
  name: 'distminer_windowpost_deadline_window_seconds',
  help: "Length of the open deadline's challenge window in seconds, while it has unproven partitions (beside distminer_windowpost_deadline_margin_seconds)",
  labelNames: ['miner', 'deadline'],
});
const nextGas = gauge({
  name: 'distminer_windowpost_next_deadline_gas_attofil',
  help: "What the next deadline's Window PoSt messages may cost at most: [Fees] MaxWindowPoStGasFee times the messages it needs",
  labelNames: ['miner'],
});
const balance = gauge({
  name: 'distminer_wallet_balance_attofil',
  help: 'Balance of the address that would pay the next Window PoSt (a control address with the funds, else the richest, else the worker)',
  labelNames: ['miner', 'address'],
});

export const createRole: CreateRole = (ctx) => {
  const o = ctx.options as unknown as PoStRoleOptions;
  return serviceRole(ctx, { version: 2, runningDetail: 'waiting for the next proving deadline' }, async (sendBack, signal) => {
    const chainApi = chainOrIdle(ctx, o.chainApi, sendBack);
    if (!chainApi) return undefined;
    const [{ ChainClient }, { WindowPoStScheduler }, { DEFAULT_FEE_CAPS }, { windowPoStLeases }] = await Promise.all([
      import('../../src/chain/client.js'),
      import('../../src/post/window.js'),
      import('../../src/chain/fees.js'),
      import('../../src/post/window-lease.js'),
    ]);
    const fees = { ...DEFAULT_FEE_CAPS, ...(o.windowPoStMaxFee ? { windowPoSt: BigInt(o.windowPoStMaxFee) } : {}) };
    const s = new WindowPoStScheduler({
      client: new ChainClient(chainApi),
      miner: o.minerId,
      storage: o.storagePaths,
      runner: mailboxRunner(ctx),
      fees,
      maximizeFeeCap: o.maximizeWindowPoStFeeCap,
      // Two window-post hosts of one miner id share deadline leases in the slash filter's database.
      leases: windowPoStLeases(o.slashFilter, o.minerId),
      log: ctx.log,
    });
    const M = { miner: o.minerId };
    for (const c of [proven, missed, submitted, faults, recoveries]) c.inc(M, 0);
    let nProven = 0;
    const report = (what: string) => sendBack({ type: 'PROGRESS', detail: `head ${s.status().head}; ${nProven} deadline(s) proven; ${what}` });
    // The margin each proof landed with (epochs before its window closed): the smallest is
    // what bench/demo-load reports beside the blocks.
    let minMargin: number | undefined;
    s.on('proven', (e: { deadline?: number; epoch?: number; close?: number }) => {
      lastMissed = null;
      nProven++;
      proven.inc(M);
      sendBack({ type: 'SET', key: 'proven', value: nProven });
      const m = e?.epoch !== undefined && e.close !== undefined ? e.close - e.epoch : undefined;
      if (m !== undefined) {
        minMargin = Math.min(minMargin ?? m, m);
        sendBack({ type: 'SET', key: 'minMarginEpochs', value: minMargin });
      }
      report(`deadline ${e?.deadline ?? '?'} proven${m === undefined ? '' : ` ${m} epoch(s) before its window closed`}`);
    });
    s.on('submitted', (e: { deadline?: number }) => {
      submitted.inc(M);
      report(`submitted deadline ${e?.deadline ?? '?'}`);
    });
    s.on('declared', (e: { kind?: string; sectors?: number[]; exitCode?: number; decls?: { sectors?: number[] }[] }) => {
      const n = (e?.decls ?? []).reduce((a, d) => a + (d.sectors?.length ?? 0), 0);
      if (e?.exitCode === undefined || e.exitCode === 0) (e?.kind === 'recoveries' ? recoveries : faults).inc(M, n);
    });
    s.on('declared', (e: { kind?: string; sectors?: number[] }) => report(`declared ${e?.kind ?? ''} ${JSON.stringify(e?.sectors ?? [])}`));
    // Degraded from a missed deadline until a later one is proven.
    let lastMissed: string | null = null;
    s.on('missed', (e: { deadline?: number; open?: number; why?: string }) => {
      lastMissed = `deadline ${e?.deadline ?? '?'} (open ${e?.open ?? '?'}) missed: ${e?.why ?? 'no reason given'}`;
      missed.inc(M);
      report(`MISSED deadline ${e?.deadline ?? '?'}`);
    });
    s.on('margin', (e: DeadlineMargin) => {
      margin.reset();
      windowLen.reset();
      if (e.unprovenPartitions > 0) {
        margin.set({ ...M, deadline: String(e.deadline) }, e.secondsLeft);
        windowLen.set({ ...M, deadline: String(e.deadline) }, e.windowSeconds);
      }
    });
    s.on('funds', (e: DeadlineFunds) => {
      nextGas.set(M, Number(e.gas));
      balance.reset();
      if (e.balance !== undefined) balance.set({ ...M, address: e.payer }, Number(e.balance));
    });
    const unwatch = watchStorageSpace(o.storagePaths);
    s.on('error', () => errors.inc(M)); // the scheduler has logged it, with its context
    // Storage check outcomes (ok / gone / slow, retries, skipped, declared) in the status,
    // sent when something other than the ok count moved.
    let lastStorage = '';
    s.on('storage', (c: Record<string, number>) => {
      const moved = JSON.stringify({ ...c, ok: 0 });
      if (moved === lastStorage) return;
      lastStorage = moved;
      sendBack({ type: 'SET', key: 'storageChecks', value: c });
    });
    // Two hosts sharing deadline leases: which ones this host holds, which another does.
    s.on('leases', (l: WindowLeaseStatus | undefined) => sendBack({ type: 'SET', key: 'leases', value: l }));
    if (!(await untilChainAnswers(ctx, sendBack, signal, () => s.start()))) {
      unwatch();
      await s.stop();
      return undefined;
    }
    const stopHealth = reportHealth(sendBack, () => s.trouble() ?? lastMissed);
    return async () => {
      stopHealth();
      unwatch();
      await s.stop();
    };
  });
};
