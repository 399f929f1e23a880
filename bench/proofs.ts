// bench/proofs: each proofs operation on 2KiB sectors through the Node addon, N runs, median
// and min–max; then the same operations called directly from Rust (the distminer-native
// bench binary, no Node) so the table shows what the binding costs.
//   BENCH_RUNS=3 node dist/bench/proofs.js
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as proofs from '../src/proofs/index.js';
import { nativeBinary } from '../src/proofs/params.js';
import { machine, stats, table, writeResult } from './common.js';

const runs = Number(process.env.BENCH_RUNS ?? 2);
const P = proofs.RegisteredSealProof.StackedDrg2KiBV1_1;
const WINNING = proofs.RegisteredPoStProof.StackedDrgWinning2KiBV1;
const WINDOW = proofs.RegisteredPoStProof.StackedDrgWindow2KiBV1_1;
const prover = proofs.proverIdFromMinerId(1000);
const times: Record<string, number[]> = {};

async function timed<T>(op: string, f: () => Promise<T>): Promise<T> {
  const t = process.hrtime.bigint();
  const r = await f();
  (times[op] ??= []).push(Number(process.hrtime.bigint() - t) / 1e6);
  return r;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'dm-bench-proofs-'));
  try {
    process.stderr.write(`bench/proofs: ${runs} runs per operation (a Commit2 takes about a minute on 2 cores)\n`);
    const sealed: { n: number; commR: Buffer; cacheDir: string; sealedPath: string }[] = [];
    for (let i = 0; i < Math.max(runs, 2); i++) {
      const n = 100 + i;
      const d = join(dir, `s-${n}`);
      mkdirSync(join(d, 'cache'), { recursive: true });
      const piecePath = join(d, 'piece');
      writeFileSync(piecePath, Buffer.alloc(2032, i + 1));
      writeFileSync(join(d, 'staged'), Buffer.alloc(0));
      writeFileSync(join(d, 'sealed'), Buffer.alloc(0));
      const paths = { cacheDir: join(d, 'cache'), stagedPath: join(d, 'staged'), sealedPath: join(d, 'sealed') };
      const added = await timed('add_piece', () => proofs.addPiece(P, piecePath, 2032, paths.stagedPath));
      const ref = { proof: P, sectorNumber: n, proverId: prover };
      const ticket = Buffer.alloc(32, 7);
      const seed = Buffer.alloc(32, 9);
      const pc1 = await timed('precommit1', () => proofs.sealPreCommitPhase1(ref, paths, ticket, [added.piece]));
      const pc2 = await timed('precommit2', () => proofs.sealPreCommitPhase2(pc1, paths));
      sealed.push({ n, commR: pc2.commR, cacheDir: paths.cacheDir, sealedPath: paths.sealedPath });
      if (i >= runs) continue;
      const c1 = await timed('commit1', () => proofs.sealCommitPhase1(ref, { ...pc2, ...paths, ticket, seed }, [added.piece]));
      const proof = await timed('commit2', () => proofs.sealCommitPhase2(c1, n, prover));
      const v = await timed('verify_seal', () => proofs.verifySeal({ proof: P, commR: pc2.commR, commD: pc2.commD, proverId: prover, ticket, seed, sectorNumber: n, proofBytes: proof }));
      if (!v.valid) throw new Error(`sealed proof does not verify: ${v.reason}`);
      process.stderr.write(`  sector ${n} sealed\n`);
    }
    for (let i = 0; i < Math.max(runs, 100); i++) {
      await timed('data_commitment', () => proofs.generateDataCommitment(P, [{ size: 2048, commP: Buffer.alloc(32, 1) }]));
    }
    const r = Buffer.alloc(32, 3);
    for (let i = 0; i < runs; i++) {
      const s = sealed[0];
      await timed('winning_post', () => proofs.generateWinningPoSt(r, [{ sectorNumber: s.n, commR: s.commR, cacheDir: s.cacheDir, sealedPath: s.sealedPath, postProof: WINNING }], prover));
      await timed('window_post', () =>
        proofs.generateWindowPoSt(
          r,
          sealed.slice(0, 2).map((x) => ({ sectorNumber: x.n, commR: x.commR, cacheDir: x.cacheDir, sealedPath: x.sealedPath, postProof: WINDOW })),
          prover,
        ),
      );
    }

    process.stderr.write('bench/proofs: the same operations from Rust directly\n');
    const rust = spawnSync(nativeBinary(), ['bench', '--dir', join(dir, 'rust'), '--runs', String(runs)], {
      encoding: 'utf8',
      env: { ...process.env, FIL_PROOFS_PARAMETER_CACHE: proofs.parameterCacheDir() },
    });
    if (rust.status !== 0) throw new Error(`native bench failed: ${rust.stderr}`);
    const direct = JSON.parse(rust.stdout.trim().split('\n').pop()!) as Record<string, { median_ms: number; min_ms: number; max_ms: number; runs: number }>;

    const info = proofs.nativeInfo();
    const rows: (string | number)[][] = [];
    const result: Record<string, unknown> = {};
    for (const [op, samples] of Object.entries(times)) {
      const s = stats(samples);
      const d = direct[op];
      const overhead = d ? s.median - d.median_ms : NaN;
      rows.push([op, s.runs, s.median, `${s.min.toFixed(2)}–${s.max.toFixed(2)}`, d ? d.median_ms : '-', d ? overhead : '-']);
      result[op] = {
        addon: { runs: s.runs, medianMs: s.median, minMs: s.min, maxMs: s.max },
        rustDirect: d ? { runs: d.runs, medianMs: d.median_ms, minMs: d.min_ms, maxMs: d.max_ms } : null,
        addonOverheadMs: d ? overhead : null,
      };
    }
    const m = { ...machine(), gpu: info.cuda, filcrypto: info.filcrypto, nativeThreads: info.threads };
    process.stdout.write(`\nproofs on 2KiB sectors (${m.cores} cores, GPU: ${m.gpu ? 'yes' : 'no'}), milliseconds\n`);
    process.stdout.write(table(['operation', 'runs', 'median', 'min–max', 'rust direct', 'addon overhead'], rows) + '\n');
    const out = writeResult('proofs', { machine: m, sectorSize: '2KiB', operations: result });
    process.stdout.write(`\nwritten ${out}\n`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  process.stderr.write(`bench/proofs failed: ${(e as Error).stack}\n`);
  process.exit(1);
});
