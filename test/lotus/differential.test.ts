// The embedded devnet against real Lotus, question by question: the devnet is the referee of
// the fast tests and the default chain of `npm start`, so it must answer in Lotus's shapes —
// the same fields, the same JSON types, `null` where Lotus writes null — and refuse what Lotus
// refuses. Each Lotus v1 API method distminer uses is asked of both (the genesis miner t01000
// on each; an address each has never seen), and the answers' shapes are compared field by
// field. Values differ (different chains); shapes must not.
//
// Run by scripts/test-lotus.sh (FULLNODE_API_INFO of the Lotus devnet it started).
import test from 'ava';
import { ChainClient } from '../../src/chain/client.js';
import { newClientKey } from '../../src/deals/keys.js';
import { startDevnet } from '../devnet/_harness.js';
import { mergeFigures } from '../helpers/lotus-figures.js';

const API = process.env.FULLNODE_API_INFO;
if (!API) throw new Error('run this file through `npm run test:lotus` (scripts/test-lotus.sh): it needs FULLNODE_API_INFO of a real Lotus devnet');
const lotus = new ChainClient(API, { timeoutMs: 60_000, retryAfterMs: 1000 });

/**
 * A JSON value's shape: its type, an object's fields (sorted) with theirs, an array's first
 * element's ('[]' when empty), a map keyed by numbers (StateMarketDeals) as its first value's.
 */
function shape(v: unknown): unknown {
  if (v === null) return 'null';
  if (Array.isArray(v)) return v.length === 0 ? '[]' : [shape(v[0])];
  if (typeof v === 'object') {
    const keys = Object.keys(v as object);
    if (keys.length > 0 && keys.every((k) => /^\d+$/.test(k))) return [shape((v as Record<string, unknown>)[keys[0]])];
    return Object.fromEntries(keys.sort().map((k) => [k, shape((v as Record<string, unknown>)[k])]));
  }
  return typeof v;
}

/** Fields either chain may leave null by its data, not its shape (a miner without a peer id). */
const NULLABLE = new Set(['$.PeerId']);

/**
 * Where two shapes differ (an empty array or map matches any: the chains hold different data).
 * Known, explained differences are listed in the test below, not hidden here.
 */
function differences(a: unknown, b: unknown, path = '$'): string[] {
  const empty = (x: unknown) => x === '[]' || (x !== null && typeof x === 'object' && !Array.isArray(x) && Object.keys(x).length === 0);
  if (empty(a) && (Array.isArray(b) || empty(b))) return [];
  if (empty(b) && Array.isArray(a)) return [];
  if (NULLABLE.has(path) && (a === 'null' || b === 'null')) return [];
  if (Array.isArray(a) && Array.isArray(b)) return differences(a[0], b[0], `${path}[0]`);
  if (a && b && typeof a === 'object' && typeof b === 'object' && !Array.isArray(a) && !Array.isArray(b)) {
    const out: string[] = [];
    const ka = Object.keys(a);
    const kb = Object.keys(b);
    for (const k of ka) if (!kb.includes(k)) out.push(`${path}.${k}: Lotus has it, the devnet not`);
    for (const k of kb) if (!ka.includes(k)) out.push(`${path}.${k}: the devnet has it, Lotus not`);
    for (const k of ka) if (kb.includes(k)) out.push(...differences((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], `${path}.${k}`));
    return out;
  }
  return JSON.stringify(a) === JSON.stringify(b) ? [] : [`${path}: Lotus ${JSON.stringify(a)}, the devnet ${JSON.stringify(b)}`];
}

test("the embedded devnet answers the Lotus API methods distminer uses in Lotus's shapes, and refuses what Lotus refuses", async (t) => {
  t.timeout(5 * 60_000);
  const h = await startDevnet({ miners: 1 });
  t.teardown(() => h.close());
  await h.devnet.advanceTo(3);
  const devnet = h.client;
  const stranger = newClientKey().address;
  // Per node: the method and its params (some name a tipset or an address of that chain).
  const asks = async (c: ChainClient): Promise<[string, unknown[]][]> => {
    const head = await c.chainHead();
    const info = await c.stateMinerInfo('t01000');
    return [
      ['Version', []],
      ['ChainHead', []],
      ['ChainGetTipSetByHeight', [head.Height - 1, null]],
      ['StateGetNetworkParams', []],
      ['StateNetworkVersion', [null]],
      ['StateMinerInfo', ['t01000', null]],
      ['StateMinerPower', ['t01000', null]],
      ['StateMinerProvingDeadline', ['t01000', null]],
      ['StateMinerDeadlines', ['t01000', null]],
      ['StateMinerPartitions', ['t01000', 0, null]],
      ['StateMinerActiveSectors', ['t01000', null]],
      ['StateMinerFaults', ['t01000', null]],
      ['StateMinerRecoveries', ['t01000', null]],
      ['StateMinerAllocated', ['t01000', null]],
      ['StateAccountKey', [info.Worker, null]],
      ['StateLookupID', [info.Worker, null]],
      ['WalletBalance', [info.Worker]],
      ['StateMarketBalance', ['t01000', null]],
      ['StateDealProviderCollateralBounds', [2048, false, null]],
      ['StateMinerCreationDeposit', [null]],
      ['StateMinerInitialPledgeForSector', [1_555_200, 2048, 0, null]],
      ['MpoolGetNonce', [info.Worker]],
      ['StateMarketDeals', [null]],
    ];
  };
  const [forLotus, forDevnet] = await Promise.all([asks(lotus), asks(devnet)]);
  const differ: Record<string, string[]> = {};
  for (const [i, [method, params]] of forLotus.entries()) {
    const [a, b] = await Promise.allSettled([lotus.call(method, params), devnet.call(method, forDevnet[i][1])]);
    if (a.status === 'rejected' || b.status === 'rejected') {
      differ[method] = [`Lotus: ${a.status === 'rejected' ? (a.reason as Error).message : 'answers'}; the devnet: ${b.status === 'rejected' ? (b.reason as Error).message : 'answers'}`];
      continue;
    }
    const d = differences(shape(a.value), shape(b.value));
    if (d.length) differ[method] = d;
  }
  // Known: the devnet makes a block every epoch even when no miner won (an empty block with
  // no election proof or signature), where Lotus has a null round; its blocks are real when a
  // miner mines them (test/post/mining-loop.test.ts).
  const blockWithoutWinner = ['$.Blocks[0].BLSAggregate', '$.Blocks[0].BlockSig', '$.Blocks[0].ElectionProof'].map(
    (f) => new RegExp(`^${f.replace(/[.[\]$]/g, '\\$&')}: Lotus \\{.*\\}, the devnet "null"$`),
  );
  for (const m of ['ChainHead', 'ChainGetTipSetByHeight']) {
    if (differ[m]?.every((d) => blockWithoutWinner.some((re) => re.test(d)))) delete differ[m];
  }
  t.deepEqual(differ, {}, `shapes that differ:\n${JSON.stringify(differ, null, 2)}`);

  // What both must refuse: an address neither chain has seen.
  for (const [method, params] of [
    ['StateMarketBalance', [stranger, null]],
    ['MpoolGetNonce', [stranger]],
    ['StateLookupID', [stranger, null]],
  ] as [string, unknown[]][]) {
    const [a, b] = await Promise.allSettled([lotus.call(method, params), devnet.call(method, params)]);
    t.is(a.status, 'rejected', `Lotus refuses ${method} of an unknown address`);
    t.is(b.status, 'rejected', `the devnet refuses ${method} of an unknown address, as Lotus (${a.status === 'rejected' ? (a.reason as Error).message : ''})`);
  }
  mergeFigures({ differential_methods_compared: forLotus.length });
});
