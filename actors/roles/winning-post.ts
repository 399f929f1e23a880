// Winning PoSt actor: every epoch, checks eligibility, computes the election proof and, on a
// win, the Winning PoSt through the mailbox's reserved top-priority lane, then creates and
// submits the block (src/post/winning.ts). The last mined epoch is persisted in
// <repo>/winning-post/last-mined.json, so no epoch is mined twice across restarts.
import { join } from 'node:path';
import { type PoStRoleOptions, chainOrIdle, mailboxRunner, serviceRole } from './common.js';
import type { CreateRole } from './types.js';

export const createRole: CreateRole = (ctx) => {
  const o = ctx.options as unknown as PoStRoleOptions;
  return serviceRole(ctx, { version: 2, runningDetail: 'waiting for the next epoch' }, async (sendBack) => {
    const chainApi = chainOrIdle(ctx, o.chainApi, sendBack);
    if (!chainApi) return undefined;
    const [{ ChainClient }, { WinningPoStMiner }] = await Promise.all([import('../../src/chain/client.js'), import('../../src/post/winning.js')]);
    const m = new WinningPoStMiner({ client: new ChainClient(chainApi), miner: o.minerId, storage: o.storagePaths, stateFile: join(o.repo, 'winning-post', 'last-mined.json'), runner: mailboxRunner(ctx), log: ctx.log });
    let won = 0;
    m.on('block', (r: { round: number; proofMs?: number; sentMs?: number }) => {
      won++;
      sendBack({ type: 'SET', key: 'blocksWon', value: won });
      sendBack({ type: 'PROGRESS', detail: `${won} block(s) won; last at epoch ${r.round} (proof ${r.proofMs ?? '?'} ms, sent at ${r.sentMs ?? '?'} ms)` });
    });
    m.on('round', (r: { round: number; outcome: string }) => {
      if (r.outcome !== 'mined') sendBack({ type: 'PROGRESS', detail: `${won} block(s) won; epoch ${r.round}: ${r.outcome}` });
    });
    await m.start();
    return () => m.stop();
  });
};
