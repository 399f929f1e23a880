// The messages the seal pipeline sends a Lotus node: each carries lotus-miner's [Fees] cap for
// its kind as MpoolPushMessage's MessageSendSpec.MaxFee (Lotus's gas estimation never sets a
// fee cap above it), and the deposit or pledge the node named as its value.
import test from 'ava';
import type { ChainClient } from '../../src/chain/client.js';
import { DEFAULT_FEE_CAPS } from '../../src/chain/fees.js';
import * as proofs from '../../src/proofs/index.js';
import { lotusSealChain } from '../../src/sealing/lotus-chain.js';

function nodeDouble() {
  const pushed: { method: number; value: string; spec: unknown }[] = [];
  const head = { Height: 100, Cids: [{ '/': 'bafy2bzaceheadheadhead' }], Blocks: [] };
  const client = {
    chainHead: async () => head,
    stateMinerInfo: async () => ({ Worker: 't0101' }),
    stateMinerPreCommitDepositForPower: async () => 5_000n,
    stateSectorPreCommitInfo: async () => ({ Info: { SealProof: proofs.RegisteredSealProof.StackedDrg2KiBV1_1, Expiration: 100_000 }, PreCommitDeposit: '5000' }),
    stateMinerInitialPledgeForSector: async () => 9_000n,
    call: async (method: string, params: unknown[]) => {
      if (method !== 'MpoolPushMessage') throw new Error(`unexpected ${method}`);
      const m = params[0] as { Method: number; Value: string };
      pushed.push({ method: m.Method, value: m.Value, spec: params[1] });
      return { CID: { '/': `bafy2bzacemsg${pushed.length}` }, Message: m };
    },
  };
  return { client: client as unknown as ChainClient, pushed };
}

const preCommit = { number: 7, proof: proofs.RegisteredSealProof.StackedDrg2KiBV1_1, commR: Buffer.alloc(32, 1), commD: Buffer.alloc(32, 2), ticketEpoch: 90, hasData: false, expiration: 100_000 };
const proveCommit = { number: 7, proof: Buffer.alloc(192, 3), deals: [] };

test("pre-commit and prove-commit carry [Fees] MaxPreCommitGasFee and MaxCommitGasFee as MaxFee, lotus-miner's defaults unless set", async (t) => {
  const dflt = nodeDouble();
  const chain = lotusSealChain(dflt.client, 1000);
  await chain.sendPreCommit(preCommit);
  await chain.sendProveCommit(proveCommit);
  t.deepEqual(dflt.pushed, [
    { method: 28, value: '5000', spec: { MaxFee: DEFAULT_FEE_CAPS.preCommit.toString() } },
    { method: 34, value: '4000', spec: { MaxFee: DEFAULT_FEE_CAPS.commit.toString() } },
  ]);
  t.is(DEFAULT_FEE_CAPS.preCommit, 25n * 10n ** 15n, '0.025 FIL');
  t.is(DEFAULT_FEE_CAPS.commit, 50n * 10n ** 15n, '0.05 FIL');

  const set = nodeDouble();
  const capped = lotusSealChain(set.client, 1000, { fees: { preCommit: 123n, commit: 456n } });
  await capped.sendPreCommit(preCommit);
  await capped.sendProveCommit(proveCommit);
  t.deepEqual(
    set.pushed.map((p) => p.spec),
    [{ MaxFee: '123' }, { MaxFee: '456' }],
  );
});
