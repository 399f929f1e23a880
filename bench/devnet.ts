// Devnet throughput: epochs/s with N sectors on a miner and M messages per epoch, and real
// proof verifications/s (seal, Window PoSt, Winning PoSt) as the devnet performs them.
//   node dist/bench/devnet.js [--sectors 1000,5000] [--messages 0,50] [--epochs 200]
// Sectors are put into the miner actor's state directly (pre-commit + activation, the same
// code the messages run, without sealing thousands of sectors); verifications use sectors
// really sealed once (test/helpers/sealed.ts). Prints a table and writes bench/results/devnet.json.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import * as proofs from '../src/proofs/index.js';
import { encodePreCommitBatch2 } from '../src/chain/params.js';
import { MinerMethod } from '../src/chain/builtin-actors.js';
import { b64 } from '../src/chain/encoding.js';
import { Devnet } from '../src/devnet/node.js';
import { sealedSectors, SEAL_PROOF } from '../test/helpers/sealed.js';

const { values } = parseArgs({ options: { sectors: { type: 'string' }, messages: { type: 'string' }, epochs: { type: 'string' }, 'skip-proofs': { type: 'boolean' } } });
const sectorCounts = (values.sectors ?? '1000,5000').split(',').map(Number);
const messageCounts = (values.messages ?? '0,50').split(',').map(Number);
const epochs = Number(values.epochs ?? 200);
const POLICY = { wpostChallengeWindow: 4, wpostPeriodDeadlines: 48, wpostChallengeLookback: 1, faultDeclarationCutoff: 2, preCommitChallengeDelay: 2 };

async function epochRate(nSectors: number, nMessages: number) {
  const dir = mkdtempSync(join(tmpdir(), 'distminer-bench-devnet-'));
  const d = await Devnet.open({ dir, autoAdvance: false, blockDelayMs: 1000, policy: POLICY });
  try {
    await d.advanceTo(2);
    const m = d.miner('t01000');
    const commR = (n: number) => ({ '/': proofs.commRToCid(Buffer.alloc(32, n % 251)) });
    const pre = Array.from({ length: nSectors }, (_, i) => ({ sealProof: SEAL_PROOF, sectorNumber: i + 1, sealedCid: commR(i), sealRandEpoch: 1, dealIds: [], expiration: 1e9, unsealedCid: null }));
    m.preCommit(2, pre, () => true);
    m.activate(2, [...m.precommits.values()]);
    const worker = m.info.worker;
    let next = nSectors + 1;
    let pushNs = 0n;
    let applyNs = 0n;
    for (let e = 0; e < epochs; e++) {
      const p0 = process.hrtime.bigint();
      for (let k = 0; k < nMessages; k++) {
        const p = { sealProof: SEAL_PROOF, sectorNumber: next++, sealedCid: commR(next), sealRandEpoch: d.head().Height, dealIds: [], expiration: 1e9, unsealedCid: null };
        d.pushMessage({
          Version: 0,
          To: 't01000',
          From: worker,
          Nonce: 0,
          Value: '0',
          GasLimit: 0,
          GasFeeCap: '0',
          GasPremium: '0',
          Method: MinerMethod.PreCommitSectorBatch2,
          Params: b64(encodePreCommitBatch2([p])),
        });
      }
      const a0 = process.hrtime.bigint();
      pushNs += a0 - p0;
      await d.advance();
      applyNs += process.hrtime.bigint() - a0;
    }
    // Applying an epoch (messages, cron, durable append + snapshot) vs pushing its messages
    // (MpoolPushMessage: BLS signature in JS + journal fsync), measured apart.
    const applySecs = Number(applyNs) / 1e9;
    const pushSecs = Number(pushNs) / 1e9;
    return {
      sectors: nSectors,
      messagesPerEpoch: nMessages,
      epochs,
      applySeconds: +applySecs.toFixed(3),
      epochsPerSecond: +(epochs / applySecs).toFixed(1),
      pushesPerSecond: nMessages > 0 ? +((epochs * nMessages) / pushSecs).toFixed(1) : null,
    };
  } finally {
    await d.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function timeIt(n: number, f: () => Promise<unknown>): Promise<number> {
  await f(); // warm (loads verifying keys)
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) await f();
  return n / (Number(process.hrtime.bigint() - t0) / 1e9);
}

async function verifyRates() {
  const [a, b] = await sealedSectors(2);
  const proverId = proofs.proverIdFromMinerId(a.minerId);
  const seal = await timeIt(20, async () => {
    const v = await proofs.verifySeal({ proof: SEAL_PROOF, commR: a.commR, commD: a.commD, proverId, ticket: a.ticket, seed: a.seed, sectorNumber: a.sectorNumber, proofBytes: a.proofBytes });
    if (!v.valid) throw new Error(v.reason);
  });
  const wpt = proofs.windowPoStProofFor(SEAL_PROOF);
  const rand = Buffer.alloc(32, 9);
  const reps = [a, b].map((s) => ({ sectorNumber: s.sectorNumber, commR: s.commR, cacheDir: s.cacheDir, sealedPath: s.sealedPath, postProof: wpt }));
  const wp = await proofs.generateWindowPoSt(rand, reps, proverId);
  const window = await timeIt(20, async () => {
    const v = await proofs.verifyWindowPoSt(rand, reps, wp, proverId);
    if (!v.valid) throw new Error(v.reason);
  });
  const wnt = proofs.winningPoStProofFor(SEAL_PROOF);
  const wreps = [{ sectorNumber: a.sectorNumber, commR: a.commR, cacheDir: a.cacheDir, sealedPath: a.sealedPath, postProof: wnt }];
  const wn = await proofs.generateWinningPoSt(rand, wreps, proverId);
  const winning = await timeIt(10, async () => {
    const v = await proofs.verifyWinningPoSt(rand, wreps, wn, proverId);
    if (!v.valid) throw new Error(v.reason);
  });
  return { verifySealPerSecond: +seal.toFixed(1), verifyWindowPoStPerSecond: +window.toFixed(1), verifyWinningPoStPerSecond: +winning.toFixed(1) };
}

const runs = [];
for (const n of sectorCounts)
  for (const m of messageCounts) {
    const r = await epochRate(n, m);
    runs.push(r);
    console.log(
      `sectors ${String(n).padStart(6)}  messages/epoch ${String(m).padStart(4)}  apply ${String(r.epochsPerSecond).padStart(7)} epochs/s  push ${String(r.pushesPerSecond ?? '-').padStart(6)} msgs/s`,
    );
  }
const verify = values['skip-proofs'] ? null : await verifyRates();
if (verify) console.log(`verifications/s: seal ${verify.verifySealPerSecond}, window PoSt (2 sectors) ${verify.verifyWindowPoStPerSecond}, winning PoSt ${verify.verifyWinningPoStPerSecond}`);
const out = new URL('../../bench/results/', import.meta.url);
mkdirSync(out, { recursive: true });
writeFileSync(new URL('devnet.json', out), JSON.stringify({ date: new Date().toISOString(), node: process.version, policy: POLICY, epochRuns: runs, verify }, null, 2) + '\n');
console.log(`wrote ${new URL('devnet.json', out).pathname}`);
