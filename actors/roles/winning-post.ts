// Winning PoSt actor: every epoch, checks eligibility, computes the election proof and, on a
// win, the Winning PoSt through the mailbox's reserved top-priority lane, then creates and
// submits the block (src/post/winning.ts). The last mined epoch is persisted in
// <repo>/winning-post/last-mined.json, so no epoch is mined twice across restarts; with
// [Distminer] SlashFilter, also in a database every Winning PoSt host of the miner id shares,
// so two hosts never both send a block for one epoch (src/post/slash-filter.ts).
import { type PoStRoleOptions, chainOrIdle, mailboxRunner, reportHealth, serviceRole, untilChainAnswers } from './common.js';
import type { CreateRole } from './types.js';
import { SECONDS_BUCKETS, counter, histogram } from '../../src/metrics/index.js';

// Metrics (src/metrics; this role's thread), from the miner's round results (src/post/winning.ts).
const rounds = counter({
  name: 'distminer_winningpost_rounds_total',
  help: 'Winning PoSt rounds by outcome (not-eligible, lost, mined, other-host: mined by another host of the miner id sharing the slash filter, slash-filter, late, failed)',
  labelNames: ['miner', 'outcome'],
});
const abandoned = counter({ name: 'distminer_winningpost_blocks_abandoned_total', help: 'Rounds this miner won whose block was not sent (late, failed, slash filter)', labelNames: ['miner'] });
const phase = histogram({
  name: 'distminer_winningpost_phase_seconds',
  help: "Time from the head's arrival to the end of each phase of a won round: base (mining base read), proof (Winning PoSt done), sent (block submitted)",
  labelNames: ['miner', 'phase'],
  buckets: SECONDS_BUCKETS,
});

export const createRole: CreateRole = (ctx) => {
  const o = ctx.options as unknown as PoStRoleOptions;
  return serviceRole(ctx, { version: 2, runningDetail: 'waiting for the next epoch' }, async (sendBack, signal) => {
    const chainApi = chainOrIdle(ctx, o.chainApi, sendBack);
    if (!chainApi) return undefined;
    const [{ ChainClient }, { WinningPoStMiner, lastMinedFile }, { sharedSlashFilter }] = await Promise.all([
      import('../../src/chain/client.js'),
      import('../../src/post/winning.js'),
      import('../../src/post/slash-filter.js'),
    ]);
    const m = new WinningPoStMiner({
      client: new ChainClient(chainApi),
      miner: o.minerId,
      storage: o.storagePaths,
      stateFile: lastMinedFile(o.repo),
      sharedFilter: sharedSlashFilter(o.slashFilter, o.minerId),
      runner: mailboxRunner(ctx),
      log: ctx.log,
    });
    const M = { miner: o.minerId };
    for (const oc of ['not-eligible', 'lost', 'mined', 'other-host', 'slash-filter', 'late', 'failed']) rounds.inc({ ...M, outcome: oc }, 0);
    abandoned.inc(M, 0);
    // Rounds this miner won (elected), and what became of them: the demo's view, `status` and
    // bench/demo-load read these (context.data), as the metrics above count them.
    // Counted since this incarnation started.
    const tally = { roundsWon: 0, blocksMined: 0, roundsAbandoned: 0, minedByOtherHost: 0 };
    const setTally = () => Object.entries(tally).forEach(([k, v]) => sendBack({ type: 'SET', key: k, value: v }));
    setTally();
    let last = '';
    m.on('round', (r: { round: number; outcome: string; wins?: number; baseMs?: number; proofMs?: number; sentMs?: number; error?: string }) => {
      rounds.inc({ ...M, outcome: r.outcome });
      const wonRound = (r.wins ?? 0) > 0;
      if (wonRound) {
        tally.roundsWon++;
        if (r.outcome === 'mined') tally.blocksMined++;
        else if (r.outcome === 'other-host') tally.minedByOtherHost++;
        else {
          tally.roundsAbandoned++;
          abandoned.inc(M);
        }
        setTally();
      }
      for (const [p, ms] of [
        ['base', r.baseMs],
        ['proof', r.proofMs],
        ['sent', r.sentMs],
      ] as const)
        if (ms !== undefined && wonRound) phase.observe({ ...M, phase: p }, ms / 1000);
      if (r.outcome === 'mined') last = `last block at epoch ${r.round} (proof ${r.proofMs ?? '?'} ms, sent at ${r.sentMs ?? '?'} ms)`;
      else if (wonRound) last = `epoch ${r.round} won but ${r.outcome}${r.error ? `: ${r.error}` : ''}`;
      else last = `epoch ${r.round}: ${r.outcome}`;
      const other = tally.minedByOtherHost ? `, ${tally.minedByOtherHost} by the other host` : '';
      sendBack({ type: 'PROGRESS', detail: `won ${tally.roundsWon}: ${tally.blocksMined} mined, ${tally.roundsAbandoned} abandoned${other}; ${last}` });
    });
    if (!(await untilChainAnswers(ctx, sendBack, signal, () => m.start()))) {
      await m.stop();
      return undefined;
    }
    const stopHealth = reportHealth(sendBack, () => m.trouble());
    return async () => {
      stopHealth();
      await m.stop();
    };
  });
};
