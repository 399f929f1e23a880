// Sealing against real Lotus (v1.36.2, nv28, builtin-actors v18): `distminer init
// --create-miner` makes a new miner actor through the power actor (funded from the node's
// default wallet, the genesis key), then distminer's own seal role (`distminer run`, seal only)
// and a seal worker bring 2 pledged 2KiB sectors on chain: PreCommitSectorBatch2 (28) with the
// deposit Lotus names, ProveCommitSectors3 (34) with the pledge less the deposit. Lotus's
// StateSectorGetInfo must return both, every message must have exit code 0, and each value
// must be what Lotus answered at the tipset the seal role asked it at.
//
// Run by scripts/test-lotus.sh (FULLNODE_API_INFO of the devnet it started).
import test from 'ava';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ChainClient } from '../../src/chain/client.js';
import { MinerMethod, PowerMethod } from '../../src/chain/builtin-actors.js';
import type { SectorView } from '../../src/sealing/service.js';
import { mergeFigures } from '../helpers/lotus-figures.js';
import { chainMoving, createMiner, sealWorker, stateSeconds } from '../helpers/lotus-miner.js';
import { MAIN, Proc, killAll, rpc, until } from '../helpers/procs.js';

const API = process.env.FULLNODE_API_INFO;
if (!API) throw new Error('run this file through `npm run test:lotus` (scripts/test-lotus.sh): it needs FULLNODE_API_INFO of a real Lotus devnet');
const chain = new ChainClient(API, { timeoutMs: 60_000, retryAfterMs: 1000 });
const started = Date.now();
const figures: Record<string, unknown> = { sectors_sealed_new_miner: null, seal_seconds: null, new_miner: null };

test.after.always(async () => {
  await killAll();
  mergeFigures({ ...figures, seconds: Math.round((Date.now() - started) / 1000) });
});

test('a miner created like lotus-miner init seals 2 sectors that real Lotus accepts (methods 28 and 34, exit code 0, the values Lotus asked)', async (t) => {
  t.timeout(25 * 60_000);
  const dir = mkdtempSync(join(tmpdir(), 'distminer-lotus-seal-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const repo = join(dir, 'miner');
  const env = { ...process.env, FULLNODE_API_INFO: API, DISTMINER_LOG_LEVEL: 'info' };

  // 1. The miner actor, on chain.
  const t0 = Date.now();
  await chainMoving(chain);
  const init = await createMiner(repo, API!, env);
  t.is(init.status, 0, `init --create-miner:\n${init.output}`);
  const miner = init.miner;
  t.regex(miner, /^t0\d+$/);
  t.not(miner, 't01000');
  figures.new_miner = miner;
  const createCid = /CreateMiner message (\S+)/.exec(init.output)![1];
  const createMsg = await chain.chainGetMessage({ '/': createCid });
  t.is(createMsg.To, 't04');
  t.is(createMsg.Method, PowerMethod.CreateMiner);
  const createLookup = (await chain.stateSearchMsg({ '/': createCid }))!;
  t.is(createLookup.Receipt.ExitCode, 0);
  const creationDeposit = await chain.stateMinerCreationDeposit(createLookup.TipSet);
  t.true(BigInt(createMsg.Value) >= creationDeposit, `CreateMiner carried ${createMsg.Value}, Lotus asks ${creationDeposit}`);
  const info = await chain.stateMinerInfo(miner);
  t.is(info.SectorSize, 2048);
  t.log(`created ${miner} in ${Math.round((Date.now() - t0) / 1000)} s (deposit ${createMsg.Value} attoFIL)`);

  // 2. Its seal role and one worker; 2 committed-capacity sectors.
  const sealStart = Date.now();
  const run = new Proc('seal', [MAIN, 'run', '--repo', repo, '--window-post=false', '--winning-post=false', '--p2p=false'], env);
  const { url, token } = await sealWorker(repo, dir, run, env);
  const numbers = await rpc<number[]>(url, token, 'SectorsPledge', [2]);
  t.is(numbers.length, 2);
  const views = await until(
    async () => {
      const vs = await Promise.all(numbers.map((n) => rpc<SectorView>(url, token, 'SectorsStatus', [n])));
      const failed = vs.find((v) => v.chainRejected || v.state === 'FailedUnrecoverable');
      if (failed) throw new Error(`sector ${failed.number} failed: ${failed.failure}`);
      return vs.every((v) => v.state === 'Proving') && vs;
    },
    20 * 60_000,
    'both sectors proving',
  ).catch((e) => {
    t.log(
      run.lines
        .filter((l) => /sector state|error|refused|failed/i.test(l))
        .slice(-40)
        .join('\n'),
    );
    throw e;
  });
  const sealSeconds = Math.round((Date.now() - sealStart) / 1000);

  // 3. What Lotus says.
  for (const v of views) {
    const onChain = await chain.stateSectorGetInfo(miner, v.number);
    t.truthy(onChain, `Lotus holds sector ${v.number}`);
    t.is(onChain!.SealedCID['/'], v.sealedCid ?? '');
    const pre = await chain.chainGetMessage({ '/': v.preCommitMsg! });
    const prove = await chain.chainGetMessage({ '/': v.commitMsg! });
    t.is(pre.Method, MinerMethod.PreCommitSectorBatch2);
    t.is(prove.Method, MinerMethod.ProveCommitSectors3);
    t.is(pre.To, miner);
    t.is((await chain.stateSearchMsg({ '/': v.preCommitMsg! }))!.Receipt.ExitCode, 0);
    t.is((await chain.stateSearchMsg({ '/': v.commitMsg! }))!.Receipt.ExitCode, 0);
    // The values, against Lotus's own answers at the tipsets they were asked at.
    const preAt = await chain.chainGetTipSetByHeight(v.valueAskedAt!.preCommit!);
    const deposit = await chain.stateMinerPreCommitDepositForPower(
      miner,
      { SealProof: onChain!.SealProof, SectorNumber: v.number, SealedCID: onChain!.SealedCID, SealRandEpoch: v.ticketEpoch!, DealIDs: [], Expiration: v.expiration!, UnsealedCid: null },
      preAt.Cids,
    );
    t.is(pre.Value, deposit.toString(), `sector ${v.number}: the pre-commit carried the deposit Lotus named`);
    t.is(pre.Value, v.preCommitValue ?? '');
    const proveAt = await chain.chainGetTipSetByHeight(v.valueAskedAt!.commit!);
    const pc = (await chain.stateSectorPreCommitInfo(miner, v.number, proveAt.Cids))!;
    const pledge = await chain.stateMinerInitialPledgeForSector(pc.Info.Expiration - proveAt.Height, 2048, 0, proveAt.Cids);
    const want = pledge - BigInt(pc.PreCommitDeposit);
    t.is(prove.Value, (want > 0n ? want : 0n).toString(), `sector ${v.number}: the prove-commit carried the pledge less the deposit`);
    t.true(BigInt(onChain!.InitialPledge) > 0n, 'the actor locked a pledge');
  }
  figures.sectors_sealed_new_miner = views.length;
  figures.seal_seconds = sealSeconds;
  for (const v of views) t.log(`sector ${v.number}: ${stateSeconds(v.log)}`);
  t.log(`2 sectors sealed and on chain in ${sealSeconds} s; whole test ${Math.round((Date.now() - t0) / 1000)} s`);
  await run.stop();
});
