// A storage deal on real Lotus's market actor (v1.36.2, nv28, builtin-actors v18), end to end
// with distminer on both sides: the client funds its escrow from its own key (`client market
// add`), its deal terms come from the market (`client deal --chain-api`); the deal miner (a new
// miner made like `lotus-miner init`, deal + seal roles, one seal worker) checks the proposal
// against the market (a client without escrow is refused with 402), tops up its own escrow
// for the provider collateral from its worker (AddBalance), publishes (PublishStorageDeals,
// exit code 0, the deal id from the real receipt), seals the piece and activates the deal
// through ProveCommitSectors3's piece manifest. Lotus must then show the deal active in that
// sector (StateMarketStorageDeal), both parties' funds locked, the sector's deal weight, and the
// deal miner must serve the piece at /piece/{cid}, its bytes giving the deal's CommP.
//
// Run by scripts/test-lotus.sh (FULLNODE_API_INFO of the devnet it started).
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ChainClient } from '../../src/chain/client.js';
import { parseFil } from '../../src/chain/fees.js';
import { type MarketDeal, MarketMethod } from '../../src/chain/market.js';
import { fileCommP } from '../../src/deals/commp.js';
import type { DealRecord } from '../../src/deals/store.js';
import type { SectorView } from '../../src/sealing/service.js';
import { commPToCid } from '../../src/proofs/cid.js';
import { RegisteredSealProof } from '../../src/proofs/types.js';
import { mergeFigures } from '../helpers/lotus-figures.js';
import { chainMoving, createMiner, fundedClient, sealWorker, stateSeconds } from '../helpers/lotus-miner.js';
import { MAIN, Proc, exec, killAll, rpc, until } from '../helpers/procs.js';

const API = process.env.FULLNODE_API_INFO;
if (!API) throw new Error('run this file through `npm run test:lotus` (scripts/test-lotus.sh): it needs FULLNODE_API_INFO of a real Lotus devnet');
const chain = new ChainClient(API, { timeoutMs: 60_000, retryAfterMs: 1000 });
const started = Date.now();
const figures: Record<string, unknown> = { deal_active_on_lotus: false, deals_active: 0 };

test.after.always(async () => {
  await killAll();
  mergeFigures({ ...figures, seconds: Math.round((Date.now() - started) / 1000) });
});

/** The CLI in a child process, without blocking this one. */
const cli = (env: NodeJS.ProcessEnv, ...args: string[]) => exec(process.execPath, [MAIN, ...args], { env: { ...env, DISTMINER_LOG_LEVEL: 'warn' }, timeoutMs: 5 * 60_000 });

test('a deal on the real market: escrow on both sides, PublishStorageDeals, activation by ProveCommitSectors3, the deal active in its sector, the piece served', async (t) => {
  t.timeout(30 * 60_000);
  const dir = mkdtempSync(join(tmpdir(), 'distminer-lotus-deal-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const repo = join(dir, 'miner');
  const env = { ...process.env, FULLNODE_API_INFO: API, DISTMINER_LOG_LEVEL: 'info' };

  // 1. The deal miner: a new miner actor; deal + seal roles; one worker.
  await chainMoving(chain);
  const init = await createMiner(repo, API!, env);
  t.is(init.status, 0, `init --create-miner:\n${init.output}`);
  const miner = init.miner;
  // One deal fills the sector; do not wait the default 10 minutes for company in any case.
  const cfg = join(repo, 'config.toml');
  writeFileSync(cfg, readFileSync(cfg, 'utf8').replace(/^\[Distminer\]$/m, '[Distminer]\n  WaitDealsSeconds = 5'));
  const run = new Proc('deal-miner', [MAIN, 'run', '--repo', repo, '--window-post=false', '--winning-post=false', '--p2p=true'], env);
  const seal = await sealWorker(repo, dir, run, env);
  const dealApi = await until(
    async () => {
      try {
        return readFileSync(join(repo, 'deals', 'api'), 'utf8').trim();
      } catch {
        return undefined;
      }
    },
    120_000,
    'the deal server',
  );
  const token = readFileSync(join(repo, 'token'), 'utf8').trim();
  const record = async (uuid: string) => (await (await fetch(`${dealApi}/deals/${uuid}`, { headers: { Authorization: `Bearer ${token}` } })).json()) as DealRecord;

  // 2. The client: a funded key; 2032 bytes (one whole 2KiB sector's piece).
  const client = await fundedClient(chain, dir, 'secp256k1', '5');
  const file = join(dir, 'data.bin');
  const data = randomBytes(2032);
  writeFileSync(file, data);
  const price = 1000n;

  // Without --chain-api the client checks nothing itself: the deal miner refuses the proposal —
  // no provider collateral (400), then no escrow (402).
  const bounds = await chain.call<{ Min: string }>('StateDealProviderCollateralBounds', [2048, false, null]);
  const low = await cli(
    env,
    'client',
    'deal',
    file,
    '--miner',
    miner,
    '--api',
    dealApi,
    '--key',
    client.keyFile,
    '--price',
    String(price),
    '--start-epoch',
    String((await chain.chainHead()).Height + 960),
  );
  t.is(low.status, 1);
  t.regex(low.stderr, /proposal rejected \(400\): ProviderCollateral 0 is outside the market's bounds for a 2048-byte piece: \d+\.\.\d+ attoFIL/, low.stderr);
  // 1.5 × the minimum: within the provider's cap (2 ×) though the minimum moves with the
  // circulating supply, epoch by epoch.
  const broke = await cli(
    env,
    'client',
    'deal',
    file,
    '--miner',
    miner,
    '--api',
    dealApi,
    '--key',
    client.keyFile,
    '--price',
    String(price),
    '--start-epoch',
    String((await chain.chainHead()).Height + 960),
    '--provider-collateral',
    String((3n * BigInt(bounds.Min)) / 2n),
  );
  t.is(broke.status, 1);
  t.regex(broke.stderr, /proposal rejected \(402\): the client's available escrow is 0 FIL; this deal needs 0\.0000000005184 FIL/, broke.stderr);

  const add = await cli(env, 'client', 'market', 'add', '0.01', '--key', client.keyFile, '--chain-api', API!);
  t.is(add.status, 0, add.stderr);
  const t0 = Date.now();
  const deal = await cli(env, 'client', 'deal', file, '--miner', miner, '--api', dealApi, '--key', client.keyFile, '--price', String(price), '--chain-api', API!, '--label', 'lotus deal');
  t.is(deal.status, 0, deal.stderr);
  const uuid = /deal (\S+) accepted/.exec(deal.stdout)![1];
  const pieceCid = /piece (\S+)/.exec(deal.stdout)![1];

  // 3. The deal miner takes it to Active.
  const states = new Set<string>();
  let published: number | undefined;
  const active = await until(
    async () => {
      const d = await record(uuid);
      states.add(d.state);
      if (d.publish?.dealId !== undefined && published === undefined) published = Math.round((Date.now() - t0) / 1000);
      if (d.state === 'Failed') throw new Error(`deal failed: ${d.reason}`);
      return d.state === 'Active' && d;
    },
    25 * 60_000,
    'the deal Active',
  ).catch((e) => {
    t.log(
      run.lines
        .filter((l) => /deal|sector state|error|refused|failed/i.test(l))
        .slice(-40)
        .join('\n'),
    );
    throw e;
  });
  const activeSeconds = Math.round((Date.now() - t0) / 1000);
  t.log(`deal states ${[...states].join(' → ')}; published after ${published} s, active after ${activeSeconds} s`);
  const dealId = active.publish!.dealId!;
  const sector = active.sector!.sectorNumber;
  const sectorLog = (await rpc<SectorView>(seal.url, seal.token, 'SectorsStatus', [sector])).log;
  t.log(`sector ${sector} pledged ${Math.round((Date.parse(sectorLog[0].at) - t0) / 1000)} s after the deal was proposed: ${stateSeconds(sectorLog)}`);

  // 4. What Lotus says: the publication, the activation, the escrow.
  const pub = await chain.chainGetMessage({ '/': active.publish!.cid! });
  t.like(pub, { To: 't05', Method: MarketMethod.PublishStorageDeals });
  t.is((await chain.stateSearchMsg({ '/': active.publish!.cid! }))!.Receipt.ExitCode, 0);
  const onMarket = await chain.call<MarketDeal>('StateMarketStorageDeal', [dealId, null]);
  // The market keeps the client by its ID address.
  const clientId = await chain.call<string>('StateLookupID', [client.address, null]);
  t.like(onMarket.Proposal, { PieceCID: { '/': pieceCid }, PieceSize: 2048, Client: clientId, Provider: miner, Label: 'lotus deal', StoragePricePerEpoch: price.toString() });
  t.true(onMarket.State.SectorStartEpoch > 0, `activated at epoch ${onMarket.State.SectorStartEpoch}`);
  t.is(onMarket.State.SectorNumber, sector, 'in the sector distminer sealed it in');
  t.is(onMarket.State.SlashEpoch, -1);
  const info = (await chain.stateSectorGetInfo(miner, sector))!;
  t.true(BigInt(info.DealWeight) > 0n, `the sector carries deal weight ${info.DealWeight}`);
  const worker = await chain.stateAccountKey((await chain.stateMinerInfo(miner)).Worker);
  const fromWorker = (await chain.stateListMessages({ To: 't05', From: worker }, 0, null)) ?? [];
  const methods = await Promise.all(fromWorker.map(async (c) => (await chain.chainGetMessage(c)).Method));
  // Once: the top-up is recorded before it is pushed and pushed under its MsgUuid, which Lotus's
  // MpoolPushMessage answers a second time with the message it already sent.
  t.is(methods.filter((m) => m === MarketMethod.AddBalance).length, 1, 'the worker funded the provider collateral (one AddBalance)');
  const collateral = BigInt(onMarket.Proposal.ProviderCollateral);
  t.true(collateral > 0n, "the provider collateral is the market's minimum, not 0");
  const provider = await chain.call<{ Escrow: string; Locked: string }>('StateMarketBalance', [miner, null]);
  t.true(BigInt(provider.Locked) >= collateral && BigInt(provider.Escrow) >= BigInt(provider.Locked), `provider escrow ${provider.Escrow}, locked ${provider.Locked}`);
  const cost = price * BigInt(onMarket.Proposal.EndEpoch - onMarket.Proposal.StartEpoch);
  const mine = await chain.call<{ Escrow: string; Locked: string }>('StateMarketBalance', [client.address, null]);
  t.deepEqual(mine, { Escrow: parseFil('0.01').toString(), Locked: cost.toString() }, "the client's storage fee is locked");

  // 5. Retrieval: the piece, whose bytes give the deal's CommP.
  const res = await fetch(`${dealApi}/piece/${pieceCid}`);
  t.is(res.status, 200);
  const got = Buffer.from(await res.arrayBuffer());
  t.deepEqual(got.subarray(0, data.length), data);
  const back = join(dir, 'retrieved');
  writeFileSync(back, got);
  const commP = await fileCommP(back, RegisteredSealProof.StackedDrg2KiBV1_1, 2048);
  t.is(commPToCid(commP.commP), pieceCid);

  Object.assign(figures, {
    deal_active_on_lotus: true,
    // The figure: deals this test saw active on Lotus's market actor (one).
    deals_active: 1,
    deal_published_seconds: published,
    deal_active_seconds: activeSeconds,
    deal_provider_collateral: collateral.toString(),
    deal_states: [...states],
  });
  await run.stop();
});
