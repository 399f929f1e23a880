// The deal miner end to end, as real processes with real proofs on the devnet: a
// `distminer run --roles=deal,seal` miner with one seal worker of its own; clients make deals
// with the client CLI; the deals are published on chain (PublishStorageDeals), packed (one
// 2032-byte deal fills a sector, two 1016-byte deals share one), sealed on the deal miner's
// worker (which fetches each piece from the deal server), pre-committed with their deal IDs
// (the devnet checks CommD against the deals' pieces) and activated at prove-commit. The deal
// miner is killed with -9 while its sectors are being sealed and restarted: every deal still
// ends Active, in the sector it was packed into. A second deal miner for the same miner id,
// sharing the storage path, is refused. Retrieval returns the clients' bytes.
import test from 'ava';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { MarketDeal } from '../../src/chain/market.js';
import { parseApiMultiaddr } from '../../src/config/multiaddr.js';
import { adminGet } from '../../src/deals/client.js';
import type { DealRecord } from '../../src/deals/store.js';
import type { SectorView } from '../../src/sealing/service.js';
import { send, startDevnet } from '../devnet/_harness.js';
import { parseFil } from '../../src/chain/fees.js';
import { MAIN, Proc, killAll, rpc, until } from '../helpers/procs.js';

test.after.always(killAll);

// Info level: the test waits for the seed's log lines (the test runner sets warn).
const env = { DISTMINER_LOG_PRETTY: '0', DISTMINER_LOG_LEVEL: 'info' };

/** The CLI in a child process; not spawnSync: the devnet answers from this process's event loop. */
function cli(args: string[]): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile(process.execPath, [MAIN, ...args], { env: { ...process.env, ...env }, encoding: 'utf8', timeout: 120_000 }, (err, stdout, stderr) =>
      err ? reject(new Error(`distminer ${args.join(' ')} failed (${(err as { code?: unknown }).code}): ${stderr}${stdout}`)) : resolve(stdout),
    ),
  );
}

test("deals are published, sealed on the deal miner's worker and Active on the devnet, through a kill -9 during sealing", async (t) => {
  const h = await startDevnet({ autoAdvance: true, blockDelayMs: 500 });
  t.teardown(async () => {
    await killAll();
    await h.close();
  });
  const dir = h.dir;
  const repo = join(dir, 'deal-miner');
  const storage = join(dir, 'storage');
  mkdirSync(storage, { recursive: true });
  await cli(['init', '--miner', 't01000', '--repo', repo, '--api', '/ip4/127.0.0.1/tcp/0/http']);
  const cfg = join(repo, 'config.toml');
  writeFileSync(cfg, readFileSync(cfg, 'utf8').replace('[Distminer]', `[Distminer]\n  ChainApi = "${h.apiInfo}"\n  StoragePaths = ["${storage}"]\n  WaitDealsSeconds = 60`));
  const token = readFileSync(join(repo, 'token'), 'utf8').trim();

  const startMiner = () => new Proc('deal-miner', [MAIN, 'run', '--repo', repo, '--p2p=true', '--window-post=false', '--winning-post=false'], env);
  let miner = startMiner();
  await miner.waitFor(/This miner will be disable minning block/, 30_000);
  await until(async () => existsSync(join(repo, 'sealing-api')) && existsSync(join(repo, 'deals', 'api')), 60_000, 'the seal service and the deal server');
  const sealHp = parseApiMultiaddr(readFileSync(join(repo, 'sealing-api'), 'utf8').trim());
  const sealUrl = `http://${sealHp.host}:${sealHp.port}`;
  const dealApi = readFileSync(join(repo, 'deals', 'api'), 'utf8').trim();
  new Proc(
    'worker',
    [
      MAIN,
      'worker',
      '--miner-api',
      `${token}:${readFileSync(join(repo, 'sealing-api'), 'utf8').trim()}`,
      '--dir',
      join(dir, 'worker'),
      '--storage',
      storage,
      '--cores',
      '2',
      '--memory',
      '8GiB',
      '--nice',
      '0',
    ],
    env,
  );

  // A second deal miner of t01000 sharing the storage path is refused.
  const repo2 = join(dir, 'deal-miner-2');
  await cli(['init', '--miner', 't01000', '--repo', repo2, '--api', '/ip4/127.0.0.1/tcp/0/http']);
  writeFileSync(join(repo2, 'config.toml'), readFileSync(cfg, 'utf8'));
  const second = new Proc('second-deal-miner', [MAIN, 'run', '--repo', repo2, '--roles=deal'], env);
  await second.waitFor(/another deal miner for t01000 is running/, 60_000);
  await second.kill9();

  // The client funds its market escrow from its own key; the deal miner funds its collateral.
  const key = join(dir, 'client.key');
  const client = (await cli(['client', 'key', 'new', '--out', key])).trim();
  await send(h, await h.client.walletDefaultAddress(), client, parseFil('10'));
  await cli(['client', 'market', 'add', '1', '--key', key, '--chain-api', h.apiInfo]);

  // Three deals by the client CLI: one fills a sector, two 1 KiB pieces share one.
  const start = (await h.client.chainHead()).Height + 3000;
  const data = { full: randomBytes(2032), half1: randomBytes(1016), half2: randomBytes(1016) };
  const pieceOf: Record<string, string> = {};
  for (const [name, bytes] of Object.entries(data)) {
    const f = join(dir, `${name}.bin`);
    writeFileSync(f, bytes);
    const out = await cli(['client', 'deal', f, '--miner', 't01000', '--api', dealApi, '--key', key, '--start-epoch', String(start), '--price', '1000', '--chain-api', h.apiInfo, '--label', name]);
    t.regex(out, /Publishing: the data is verified/);
    pieceOf[name] = /piece (baga\S+)/.exec(out)![1];
  }
  const deals = async () => (await adminGet<{ deals: DealRecord[] }>(dealApi, token, '/deals')).body.deals;

  // kill -9 the deal miner once its sectors are being sealed (pre-committed, not yet proven).
  await until(
    async () => {
      const ss = await rpc<SectorView[]>(sealUrl, token, 'SectorsList');
      return ss.length === 2 && ss.some((s) => ['PreCommitWait', 'WaitSeed', 'Committing'].includes(s.state)) && ss.every((s) => s.state !== 'Proving');
    },
    300_000,
    'deal sectors being sealed',
  );
  const before = await deals();
  t.true(
    before.every((d) => d.state === 'Sealing'),
    `every deal is Sealing at the kill: ${before.map((d) => d.state).join(', ')}`,
  );
  await miner.kill9();
  miner = startMiner();
  await miner.waitFor(/This miner will be disable minning block/, 30_000);

  const done = await until(
    async () => {
      const ds = await deals();
      const failed = ds.find((d) => d.state === 'Failed');
      if (failed) throw new Error(`deal failed: ${failed.reason}`);
      return ds.length === 3 && ds.every((d) => d.state === 'Active') && ds;
    },
    400_000,
    'every deal Active',
  ).catch(async (e) => {
    t.log(miner.lines.slice(-30).join('\n'));
    t.log(JSON.stringify(await rpc<SectorView[]>(sealUrl, token, 'SectorsList').catch(() => null)));
    throw e;
  });
  const byLabel = new Map(done.map((d) => [d.proposal.Label, d]));
  const sectorOf = (n: string) => byLabel.get(n)!.sector!.sectorNumber;
  t.is(sectorOf('half1'), sectorOf('half2'), 'the two 1 KiB deals share a sector');
  t.not(sectorOf('full'), sectorOf('half1'));
  for (const d of done) {
    t.is(d.sector!.sectorNumber, before.find((b) => b.uuid === d.uuid)!.sector!.sectorNumber, 'a deal stays in the sector it was packed into across the crash');
    const onChain = await h.client.stateSectorGetInfo('t01000', d.sector!.sectorNumber);
    t.truthy(onChain, `sector ${d.sector!.sectorNumber} is proven on chain`);
    // Activated through ProveCommitSectors3's notification: the market records the sector (the
    // sector itself lists no deals since network version 21).
    const md = await h.client.call<MarketDeal>('StateMarketStorageDeal', [d.publish!.dealId, null]);
    t.true(md.State.SectorStartEpoch > 0, 'the market activated the deal');
    t.is(md.State.SectorNumber, d.sector!.sectorNumber, "in the deal's sector");
    t.is(md.Proposal.PieceCID['/'], pieceOf[d.proposal.Label]);
    t.is(d.sector!.sealedCid, onChain!.SealedCID['/']);
  }
  // Retrieval: the clients' bytes (each piece here is exactly the data: no zero fill).
  for (const [name, bytes] of Object.entries(data)) {
    const r = await fetch(`${dealApi}/piece/${pieceOf[name]}`);
    t.is(r.status, 200);
    t.true(Buffer.from(await r.arrayBuffer()).equals(bytes), `piece ${name} retrieved intact`);
  }
  // The market locked the client's fees and the provider's collateral, funded by the deal miner.
  const fees = done.reduce((a, d) => a + 1000n * BigInt(d.proposal.EndEpoch - d.proposal.StartEpoch), 0n);
  t.deepEqual(await h.client.call('StateMarketBalance', [client, null]), { Escrow: parseFil('1').toString(), Locked: fees.toString() });
  const collateral = done.reduce((a, d) => a + BigInt(d.proposal.ProviderCollateral), 0n);
  t.true(collateral > 0n);
  const provider = await h.client.call<{ Escrow: string; Locked: string }>('StateMarketBalance', ['t01000', null]);
  t.is(provider.Locked, collateral.toString(), 'the provider collateral is locked');
  t.true(BigInt(provider.Escrow) >= collateral, 'from escrow the deal miner added');

  // The seal service's sectors carry the deal IDs, and no third sector was made by the restart.
  const sectors = await rpc<SectorView[]>(sealUrl, token, 'SectorsList');
  t.is(sectors.length, 2);
  t.true(sectors.every((s) => s.state === 'Proving' && s.deals.length > 0));
});
