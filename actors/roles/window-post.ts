// Window PoSt actor: every proving deadline, reads the deadline's partitions from the chain,
// checks the sealed files in the storage paths, proves through the GPU mailbox (window-post
// class) and submits before the window closes; declares faults and recoveries before their
// cutoffs (src/post/window.ts). It holds no sector metadata: a restart reads the chain again.
import { type PoStRoleOptions, chainOrIdle, mailboxRunner, serviceRole } from './common.js';
import type { CreateRole } from './types.js';

export const createRole: CreateRole = (ctx) => {
  const o = ctx.options as unknown as PoStRoleOptions;
  return serviceRole(ctx, { version: 2, runningDetail: 'waiting for the next proving deadline' }, async (sendBack) => {
    const chainApi = chainOrIdle(ctx, o.chainApi, sendBack);
    if (!chainApi) return undefined;
    const [{ ChainClient }, { WindowPoStScheduler }, { DEFAULT_FEE_CAPS }] = await Promise.all([import('../../src/chain/client.js'), import('../../src/post/window.js'), import('../../src/post/sender.js')]);
    const fees = { ...DEFAULT_FEE_CAPS, ...(o.windowPoStMaxFee ? { windowPoSt: BigInt(o.windowPoStMaxFee) } : {}) };
    const s = new WindowPoStScheduler({ client: new ChainClient(chainApi), miner: o.minerId, storage: o.storagePaths, runner: mailboxRunner(ctx), fees, maximizeFeeCap: o.maximizeWindowPoStFeeCap, log: ctx.log });
    let proven = 0;
    const report = (what: string) => sendBack({ type: 'PROGRESS', detail: `head ${s.status().head}; ${proven} deadline(s) proven; ${what}` });
    s.on('proven', (e: { deadline?: number }) => {
      proven++;
      sendBack({ type: 'SET', key: 'proven', value: proven });
      report(`deadline ${e?.deadline ?? '?'} proven`);
    });
    s.on('submitted', (e: { deadline?: number }) => report(`submitted deadline ${e?.deadline ?? '?'}`));
    s.on('declared', (e: { kind?: string; sectors?: number[] }) => report(`declared ${e?.kind ?? ''} ${JSON.stringify(e?.sectors ?? [])}`));
    s.on('missed', (e: { deadline?: number }) => report(`MISSED deadline ${e?.deadline ?? '?'}`));
    s.on('error', (e: Error) => ctx.log.error({ err: e?.message }, 'window PoSt error'));
    // Storage check outcomes (ok / gone / slow, retries, skipped, declared) in the status,
    // sent when something other than the ok count moved.
    let lastStorage = '';
    s.on('storage', (c: Record<string, number>) => {
      const moved = JSON.stringify({ ...c, ok: 0 });
      if (moved === lastStorage) return;
      lastStorage = moved;
      sendBack({ type: 'SET', key: 'storageChecks', value: c });
    });
    await s.start();
    return () => s.stop();
  });
};
