// PoSt message sender and fee caps, like lotus-miner: a control address with the funds sends
// (StateMinerInfo.ControlAddresses, `lotus-miner actor control set`), else the richest one
// above the minimum, else the worker; [Fees] in config.toml caps every message kind with
// lotus-miner's keys, amounts and defaults.
import test from 'ava';
import { DEFAULT_FEE_CAPS, batchSendSpec, parseFil, sendSpec } from '../../src/chain/fees.js';
import { pickSender, postSenders } from '../../src/post/sender.js';
import { parseConfigToml, resolveSettings } from '../../src/config/settings.js';

const mi = { Owner: 't0100', Worker: 't0101', ControlAddresses: ['t0102', 't0103', 't0101'] };
const node = (balances: Record<string, string | Error>) => ({
  asked: [] as string[],
  async call<T>(method: string, params: unknown[] = []): Promise<T> {
    if (method !== 'WalletBalance') throw new Error(`unexpected ${method}`);
    const a = params[0] as string;
    this.asked.push(a);
    const b = balances[a];
    if (b instanceof Error) throw b;
    return (b ?? '0') as T;
  },
});

test('candidates: control addresses other than owner and worker, then the worker', (t) => {
  t.deepEqual(postSenders(mi), ['t0102', 't0103', 't0101']);
  t.deepEqual(postSenders({ Owner: 't0100', Worker: 't0101', ControlAddresses: [] }), ['t0101']);
  t.deepEqual(postSenders({ Owner: 't0100', Worker: 't0101', ControlAddresses: ['t0100'] }), ['t0101']);
});

test('the first control address with the funds sends; else the richest above the minimum; else the worker', async (t) => {
  t.is((await pickSender(node({ t0102: '5', t0103: '100', t0101: '1000' }), mi, 50n, 1n)).from, 't0103');
  t.is((await pickSender(node({ t0102: '60', t0103: '100' }), mi, 50n, 1n)).from, 't0102');
  t.is((await pickSender(node({ t0102: '5', t0103: '7', t0101: '3' }), mi, 50n, 1n)).from, 't0103', 'none has the funds: the richest');
  t.is((await pickSender(node({ t0102: new Error('down'), t0103: '0', t0101: '0' }), mi, 50n, 1n)).from, 't0101', 'none above the minimum: the worker');
  const n = node({ t0101: '9' });
  t.deepEqual(await pickSender(n, { Owner: 't0100', Worker: 't0101', ControlAddresses: [] }, 50n, 1n), { from: 't0101', balance: 9n, why: 'worker (no control address set)' });
  t.deepEqual(n.asked, ['t0101'], "no control address: only the worker's balance looked up");
  t.deepEqual(
    await pickSender(node({ t0101: new Error('down') }), { Owner: 't0100', Worker: 't0101', ControlAddresses: [] }, 50n, 1n),
    { from: 't0101', why: 'worker (no control address set)' },
    'unreadable: the worker, no balance',
  );
});

test('the chosen sender comes with its balance (what the wallet-balance metric shows)', async (t) => {
  t.is((await pickSender(node({ t0102: '5', t0103: '100', t0101: '1000' }), mi, 50n, 1n)).balance, 100n);
  t.is((await pickSender(node({ t0102: '5', t0103: '7', t0101: '3' }), mi, 50n, 1n)).balance, 7n);
  t.is((await pickSender(node({ t0102: '0', t0103: '0', t0101: '0' }), mi, 50n, 1n)).balance, 0n, 'none above the minimum: the worker, with its balance');
  t.is((await pickSender(node({ t0102: '0', t0103: '0', t0101: new Error('down') }), mi, 50n, 1n)).balance, undefined);
});

test('FIL amounts parse as Lotus writes them', (t) => {
  t.is(parseFil('5 FIL'), 5n * 10n ** 18n);
  t.is(parseFil('0.025 FIL'), 25n * 10n ** 15n);
  t.is(parseFil('5'), 5n * 10n ** 18n);
  t.is(parseFil('25 milliFIL'), 25n * 10n ** 15n);
  t.is(parseFil('1000 attoFIL'), 1000n);
  t.is(parseFil('0.5fil'), 5n * 10n ** 17n);
  t.throws(() => parseFil('-1 FIL'), { message: /not an amount/ });
  t.throws(() => parseFil('1.5 attoFIL'), { message: /decimals/ });
  t.throws(() => parseFil('3 dollars'), { message: /unknown unit/ });
});

test('[Fees] in config.toml: lotus-miner keys, defaults for what is absent, errors named', (t) => {
  const base = '[Distminer]\nMiner = "f01000"\n';
  const def = resolveSettings(parseConfigToml(base), {}, {});
  t.deepEqual(def.fees, DEFAULT_FEE_CAPS);
  t.true(def.maximizeWindowPoStFeeCap);
  const s = resolveSettings(
    parseConfigToml(
      `${base}[Fees]\nMaxWindowPoStGasFee = "0.5 FIL"\nMaxPreCommitGasFee = "1000 attoFIL"\nMaximizeWindowPoStFeeCap = false\nSomeLotusKeyDistminerIgnores = 3\n[Fees.MaxCommitBatchGasFee]\nPerSector = "0.01 FIL"\n`,
    ),
    {},
    {},
  );
  t.is(s.fees.windowPoSt, 5n * 10n ** 17n);
  t.is(s.fees.preCommit, 1000n);
  t.is(s.fees.commit, DEFAULT_FEE_CAPS.commit);
  t.deepEqual(s.fees.commitBatch, { base: 0n, perSector: 10n ** 16n });
  t.false(s.maximizeWindowPoStFeeCap);
  t.deepEqual(sendSpec(s.fees, 'windowPoSt'), { MaxFee: '500000000000000000' });
  t.deepEqual(batchSendSpec(s.fees, 'commitBatch', 3), { MaxFee: '30000000000000000' });
  t.throws(() => parseConfigToml(`${base}[Fees]\nMaxWindowPoStGasFee = "lots"\n`), { message: /MaxWindowPoStGasFee in \[Fees\]: "lots" is not an amount/ });
  t.throws(() => parseConfigToml(`${base}[Fees]\nMaxWindowPoStGasFee = 5\n`), { message: /must be a string/ });
});
