// A storage client's escrow on the real market actor: `distminer client market add` builds an
// AddBalance (market method 2) from the client's own key, signs it as Lotus's wallet does and
// pushes it with MpoolPush; real Lotus must accept the signature (secp256k1 and BLS keys), run
// it, and StateMarketBalance must show the escrow. A client that cannot pay is refused with a
// clear error and nothing lands. `client deal --chain-api` takes its terms from the real market
// actor (the provider collateral minimum, a start after the head) and stops a client without
// escrow before it proposes. The deal miner's own top-up relies on MpoolPushMessage's MsgUuid: a
// repeat push under one uuid must be answered with the message already sent. (Publishing and
// activating deals on the real market: deals.test.ts.)
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ChainClient } from '../../src/chain/client.js';
import { parseFil } from '../../src/chain/fees.js';
import { mergeFigures } from '../helpers/lotus-figures.js';
import { fundedClient as fundedKey } from '../helpers/lotus-miner.js';
import { MAIN, exec } from '../helpers/procs.js';

const API = process.env.FULLNODE_API_INFO;
if (!API) throw new Error('run this file through `npm run test:lotus` (scripts/test-lotus.sh): it needs FULLNODE_API_INFO of a real Lotus devnet');
const chain = new ChainClient(API, { timeoutMs: 30_000, retryAfterMs: 1000 });
const work = mkdtempSync(join(tmpdir(), 'distminer-lotus-market-'));
const figures: Record<string, unknown> = {};
test.after.always(() => {
  mergeFigures(figures);
  rmSync(work, { recursive: true, force: true });
});

function distminer(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8', env: { ...process.env, DISTMINER_LOG_LEVEL: 'warn' }, timeout: 5 * 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A new client key file of `type`, funded with `fil` from the node's default wallet. */
const fundedClient = (type: 'secp256k1' | 'bls', fil: string) => fundedKey(chain, work, type, fil);

for (const type of ['secp256k1', 'bls'] as const) {
  test.serial(`client market add: an AddBalance signed by the client's ${type} key is accepted by Lotus and shows in StateMarketBalance`, async (t) => {
    t.timeout(5 * 60_000);
    const c = await fundedClient(type, '5');
    const t0 = Date.now();
    const add = distminer('client', 'market', 'add', '1.5', '--key', c.keyFile, '--chain-api', API!, '--json');
    t.is(add.status, 0, add.stderr);
    const out = JSON.parse(add.stdout) as { address: string; escrow: string; locked: string; available: string; message: string };
    t.like(out, { address: c.address, escrow: parseFil('1.5').toString(), locked: '0', available: parseFil('1.5').toString() });
    const b = await chain.call<{ Escrow: string; Locked: string }>('StateMarketBalance', [c.address, null]);
    t.deepEqual(b, { Escrow: parseFil('1.5').toString(), Locked: '0' }, 'the market actor holds it');
    const msg = await chain.call<{ From: string; To: string; Method: number }>('ChainGetMessage', [{ '/': out.message }]);
    t.like(msg, { To: 't05', Method: 2 });
    figures[`client_add_balance_${type}_seconds`] = Math.round((Date.now() - t0) / 100) / 10;
    const bal = distminer('client', 'market', 'balance', '--address', c.address, '--chain-api', API!);
    t.is(bal.status, 0, bal.stderr);
    t.is(bal.stdout, `market escrow of ${c.address}: 1.5 FIL (locked 0 FIL, available 1.5 FIL)\n`);
  });
}

test.serial('client market add: more than the client holds is refused by the node with a clear error, and nothing lands', async (t) => {
  t.timeout(5 * 60_000);
  const c = await fundedClient('secp256k1', '1');
  const add = distminer('client', 'market', 'add', '2', '--key', c.keyFile, '--chain-api', API!);
  t.is(add.status, 1);
  t.regex(add.stderr, /distminer: .*(insufficient|not enough|balance)/i, add.stderr);
  t.deepEqual(await chain.call('StateMarketBalance', [c.address, null]), { Escrow: '0', Locked: '0' });
  const usage = distminer('client', 'market', 'add', 'lots', '--key', c.keyFile, '--chain-api', API!);
  t.is(usage.status, 2, 'a bad amount is a usage error');
  t.regex(usage.stderr, /AMOUNT: "lots" is not an amount of FIL/);
});

test.serial(
  'client deal --chain-api: the terms follow the real market actor (its provider collateral minimum, a start after the head), and a client without escrow is stopped before it proposes',
  async (t) => {
    t.timeout(5 * 60_000);
    // A stand-in deal server that keeps what it was proposed (the proposal is the client's work).
    const proposed: { deal: { Proposal: Record<string, unknown> } }[] = [];
    const srv = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        proposed.push(JSON.parse(body));
        res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'the test stops here' }));
      });
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    t.teardown(() => srv.close());
    const url = `http://127.0.0.1:${(srv.address() as AddressInfo).port}`;
    const file = join(work, 'data.bin');
    writeFileSync(file, randomBytes(1000));
    const c = await fundedClient('secp256k1', '3');
    // Not spawnSync: the stand-in answers from this process's event loop.
    const deal = (...extra: string[]) =>
      exec(process.execPath, [MAIN, 'client', 'deal', file, '--miner', 't01000', '--api', url, '--key', c.keyFile, '--chain-api', API!, ...extra], {
        env: { ...process.env, DISTMINER_LOG_LEVEL: 'warn' },
        timeoutMs: 120_000,
      });

    const broke = await deal('--price', '1000');
    t.is(broke.status, 1);
    t.regex(broke.stderr, /not proposed: the client's available escrow is 0 FIL; this deal needs 0\.0000000005184 FIL: add 0\.0000000005184 FIL with `distminer client market add`/);
    t.is(proposed.length, 0, 'nothing proposed');

    t.is(distminer('client', 'market', 'add', '1', '--key', c.keyFile, '--chain-api', API!).status, 0);
    const head = (await chain.chainHead()).Height;
    const ok = await deal('--price', '1000');
    t.is(ok.status, 1, 'the stand-in refuses it');
    t.regex(ok.stderr, /proposal rejected \(400\): the test stops here/);
    t.is(proposed.length, 1);
    const p = proposed[0]!.deal.Proposal;
    // The minimum follows the circulating supply and the baseline power, epoch by epoch: asked
    // again a few epochs later it has moved a little.
    const bounds = await chain.call<{ Min: string; Max: string }>('StateDealProviderCollateralBounds', [p.PieceSize, false, null]);
    const [got, min] = [BigInt(p.ProviderCollateral as string), BigInt(bounds.Min)];
    const diff = got > min ? got - min : min - got;
    t.true(diff * 100n <= min, `the provider collateral the market actor asks at least: ${got} attoFIL, its minimum now ${min}`);
    t.log(`Lotus's provider collateral bounds for a ${p.PieceSize}-byte piece: ${bounds.Min}..${bounds.Max} attoFIL`);
    const start = p.StartEpoch as number;
    t.true(start >= head + 960 && start <= head + 980, `start ${start}: the head ${head} + 960`);
    t.is((p.EndEpoch as number) - start, 518_400, "the market's minimum duration");
    figures.deal_provider_collateral_min = bounds.Min;

    const late = await deal('--start-epoch', String(head - 1));
    t.is(late.status, 1);
    t.regex(late.stderr, /not proposed: start epoch \d+ is not after the chain head/);
    const long = await deal('--duration', String(1279 * 2880));
    t.regex(long.stderr, /not proposed: a deal lasts 518400 to 3680640 epochs/);
    t.is(proposed.length, 1, 'refused terms are never proposed');
  },
);

// The deal miner's collateral top-up is recorded with a uuid before it is pushed, and pushed
// again under that uuid when no answer came (src/deals/coordinator.ts): that is safe only if
// real Lotus answers a repeat push with the message it already signed (MpoolPushMessage's
// MsgUuid), before and after that message landed. One AddBalance lands; a new uuid is a new one.
test.serial("deal miner's top-up: a repeat push under one MsgUuid is answered with the message Lotus already sent, before and after it landed; one AddBalance lands", async (t) => {
  t.timeout(5 * 60_000);
  const { lotusDealChain } = await import('../../src/deals/deal-chain.js');
  const dc = lotusDealChain(chain, 1000);
  const since = (await chain.chainHead()).Height;
  const before = await chain.call<{ Escrow: string }>('StateMarketBalance', ['t01000', null]);
  const uuid = randomUUID();
  const first = await dc.fundProvider(1000n, uuid);
  t.is(await dc.fundProvider(1000n, uuid), first, 'pushed again before it landed: the same message');
  const r = await chain.stateWaitMsg({ '/': first }, 1);
  t.is(r.Receipt.ExitCode, 0);
  t.is(await dc.fundProvider(1000n, uuid), first, 'pushed again after it landed: still the same message, nothing new');
  const other = await dc.fundProvider(1n, randomUUID());
  t.not(other, first, 'a new uuid is a new top-up');
  t.is((await chain.stateWaitMsg({ '/': other }, 1)).Receipt.ExitCode, 0);
  const listed = (await chain.stateListMessages({ To: 't05' }, since)) ?? [];
  const forT01000 = (await chain.chainGetMessage({ '/': first })).Params; // AddBalance's params: the provider
  const addBalances = [];
  for (const cid of listed) {
    const m = await chain.chainGetMessage(cid);
    if (m.Method === 2 && m.Params === forT01000) addBalances.push(cid['/']);
  }
  t.deepEqual(addBalances.sort(), [first, other].sort(), "exactly two AddBalance for t01000's escrow since the test began");
  const after = await chain.call<{ Escrow: string }>('StateMarketBalance', ['t01000', null]);
  t.true(BigInt(after.Escrow) - BigInt(before.Escrow) >= 1001n, `escrow ${before.Escrow} → ${after.Escrow}`);
  figures.market_msg_uuid_repeat_push_ok = 1;
});
