// A deal sector sealed by hand with the real proofs, as the seal pipeline will do it through
// the DealPipeline interface: two 1016-byte deals → nextPieces(2KiB) → markSealing → AddPiece of
// each staged piece (then the plan's zero fillers) → PC1 → PC2 → C1 → markActive. CommD from
// the deal pieces must equal the sector's. (Commit2 and its verification for deal sectors: the
// deal devnet test and the demo, through the worker and the chain.)
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DealServer } from '../../src/deals/server.js';
import * as proofs from '../../src/proofs/index.js';
import { AUTH, MINER, postJson, raw, signedDeal, tmp } from './helpers.js';

const P2K = proofs.RegisteredSealProof.StackedDrg2KiBV1_1;

test('two deals sealed into one 2KiB sector with the real proofs (to Commit1); CommD matches the deal pieces; deals become Active', async (t) => {
  const dir = tmp();
  const srv = await DealServer.start({ dir, minerId: MINER, auth: AUTH });
  t.teardown(async () => {
    await srv.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const datas = [randomBytes(1016), randomBytes(1016)];
  for (const d of datas) {
    const p = await postJson(`${srv.url}/deals/proposal`, { deal: await signedDeal(d), transferSize: d.length });
    t.is(p.status, 201);
    const u = await raw(p.json.uploadUrl as string, { method: 'PUT', headers: { 'Content-Length': String(d.length) }, chunks: [d] });
    t.is(u.status, 200, JSON.stringify(u.json));
  }

  const plan = srv.pipeline.nextPieces(srv.sectorSize)!;
  t.is(plan.pieces.length, 2);
  const sectorNumber = 1;
  await srv.pipeline.markSealing(plan.dealUuids, { sectorNumber });

  const s = join(dir, 'sector');
  mkdirSync(join(s, 'cache'), { recursive: true });
  const stagedPath = join(s, 'staged');
  const sealedPath = join(s, 'sealed');
  const cacheDir = join(s, 'cache');
  writeFileSync(stagedPath, Buffer.alloc(0));
  writeFileSync(sealedPath, Buffer.alloc(0));
  const existing: number[] = [];
  const added: proofs.PieceInfo[] = [];
  for (const p of plan.pieces) {
    const r = await proofs.addPiece(P2K, p.path, proofs.unpaddedSize(p.size), stagedPath, existing);
    t.true(r.piece.commP.equals(p.commP), 'AddPiece computes the CommP the client proposed');
    t.is(r.leftAlignmentUnpadded, 0, 'no alignment padding needed');
    existing.push(proofs.unpaddedSize(p.size));
    added.push(r.piece);
  }
  for (const f of plan.fillers) {
    const zero = join(s, `zero-${f.size}`);
    writeFileSync(zero, Buffer.alloc(proofs.unpaddedSize(f.size)));
    const r = await proofs.addPiece(P2K, zero, proofs.unpaddedSize(f.size), stagedPath, existing);
    t.true(r.piece.commP.equals(f.commP));
    existing.push(proofs.unpaddedSize(f.size));
  }
  const expectedCommD = await proofs.generateDataCommitment(P2K, plan.pieceInfos);

  const proverId = proofs.proverIdFromMinerId(MINER);
  const ticket = Buffer.alloc(32, 3);
  const seed = Buffer.alloc(32, 9);
  seed[31] &= 0x3f;
  const ref = { proof: P2K, sectorNumber, proverId };
  const pc1 = await proofs.sealPreCommitPhase1(ref, { cacheDir, stagedPath, sealedPath }, ticket, plan.pieceInfos);
  const pc2 = await proofs.sealPreCommitPhase2(pc1, { cacheDir, sealedPath });
  t.true(pc2.commD.equals(expectedCommD), 'CommD of the sealed sector = CommD of the deal pieces');
  // Commit1 takes the deal pieces too; the Commit2 of a deal sector (~45 s of both cores) is
  // computed and verified by the chain in test/deals/devnet.test.ts and the demo.
  const c1 = await proofs.sealCommitPhase1(ref, { commR: pc2.commR, commD: pc2.commD, cacheDir, sealedPath, ticket, seed }, plan.pieceInfos);
  t.true(c1.length > 0);

  await srv.pipeline.markActive(plan.dealUuids, { sectorNumber, unsealedCid: pc2.unsealedCid, sealedCid: pc2.sealedCid });
  for (const [i, uuid] of plan.dealUuids.entries()) {
    const d = srv.store.get(uuid)!;
    t.is(d.state, 'Active');
    t.is(d.sector?.unsealedCid, pc2.unsealedCid);
    // Retrieval still serves the unsealed copy.
    const got = await raw(`${srv.url}/piece/${d.pieceCid}`);
    t.deepEqual(got.body, datas[i]);
  }
});
