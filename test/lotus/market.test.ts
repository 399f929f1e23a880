// A storage client's escrow on the real market actor: `distminer client market add` builds an
// AddBalance (market method 2) from the client's own key, signs it as Lotus's wallet does and
// pushes it with MpoolPush; real Lotus must accept the signature (secp256k1 and BLS keys), run
// it, and StateMarketBalance must show the escrow. A client that cannot pay is refused with a
// clear error and nothing lands. (Deals themselves on the real market: the open issue.)
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ChainClient } from '../../src/chain/client.js';
import { parseFil } from '../../src/chain/fees.js';
import { mergeFigures } from '../helpers/lotus-figures.js';
import { MAIN } from '../helpers/procs.js';

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

/** A new client key file of `type`, funded with `fil` from the node's default wallet (the genesis key), once that is on chain. */
async function fundedClient(type: 'secp256k1' | 'bls', fil: string): Promise<{ keyFile: string; address: string }> {
  const keyFile = join(work, `${type}.key`);
  const k = distminer('client', 'key', 'new', '--out', keyFile, '--type', type);
  if (k.status !== 0) throw new Error(k.stderr);
  const address = k.stdout.trim();
  const from = await chain.walletDefaultAddress();
  const sm = await chain.mpoolPushMessage({ From: from, To: address, Method: 0, Value: parseFil(fil).toString() });
  const r = await chain.stateWaitMsg(sm.CID!, 1);
  if (r.Receipt.ExitCode !== 0) throw new Error(`funding ${address}: exit ${r.Receipt.ExitCode}`);
  return { keyFile, address };
}

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
