// bench/seal: 2KiB sectors per hour through the whole seal pipeline (seal-miner process,
// worker processes, real proofs, real sector-number service; the chain is the in-memory
// double with fast epochs so that chain latency is not what is measured), with 1 and with 2
// workers, against a raw loop calling the native proofs directly in one process. The ratio
// raw/pipeline is the orchestration overhead. Also per-step times from the workers' logs.
//   BENCH_SECTORS=2 node dist/bench/seal.js
import { Auth } from '../src/auth/index.js';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as proofs from '../src/proofs/index.js';
import { startSectorIdServer } from '../src/sectorid/index.js';
import type { SectorView } from '../src/sealing/service.js';
import { MemChain } from '../test/helpers/mem-chain.js';
import { MAIN, Proc, killAll, rpc, until } from '../test/helpers/procs.js';
import { machine, stats, table, writeResult } from './common.js';

const SECTORS = Number(process.env.BENCH_SECTORS ?? 2);
// The seal miner's API secret: the bench calls with an admin token, the workers hold write.
const SECRET = randomBytes(32);
const auth = new Auth(SECRET);
const TOKEN = auth.issue('admin');
const WORKER_TOKEN = auth.issue('write');

const MINER_SCRIPT = fileURLToPath(new URL('../test/helpers/seal-miner.js', import.meta.url));

async function raw(dir: string): Promise<{ perHour: number; steps: Record<string, number[]> }> {
  const P = proofs.RegisteredSealProof.StackedDrg2KiBV1_1;
  const prover = proofs.proverIdFromMinerId(1000);
  const steps: Record<string, number[]> = {};
  const time = async <T>(k: string, f: () => Promise<T>) => {
    const t = Date.now();
    const r = await f();
    (steps[k] ??= []).push(Date.now() - t);
    return r;
  };
  const started = Date.now();
  for (let i = 0; i < SECTORS; i++) {
    const d = join(dir, `raw-${i}`);
    mkdirSync(join(d, 'cache'), { recursive: true });
    const paths = { cacheDir: join(d, 'cache'), stagedPath: join(d, 'staged'), sealedPath: join(d, 'sealed') };
    writeFileSync(join(d, 'zeros'), Buffer.alloc(2032));
    writeFileSync(paths.stagedPath, Buffer.alloc(0));
    writeFileSync(paths.sealedPath, Buffer.alloc(0));
    const ref = { proof: P, sectorNumber: i, proverId: prover };
    const ticket = Buffer.alloc(32, 1);
    const seed = Buffer.alloc(32, 2);
    const a = await time('AddPiece', () => proofs.addPiece(P, join(d, 'zeros'), 2032, paths.stagedPath));
    const pc1 = await time('PreCommit1', () => proofs.sealPreCommitPhase1(ref, paths, ticket, [a.piece]));
    const pc2 = await time('PreCommit2', () => proofs.sealPreCommitPhase2(pc1, paths));
    const c1 = await time('Commit1', () => proofs.sealCommitPhase1(ref, { ...pc2, ...paths, ticket, seed }, [a.piece]));
    await time('Commit2', () => proofs.sealCommitPhase2(c1, i, prover));
  }
  return { perHour: (SECTORS * 3600_000) / (Date.now() - started), steps };
}

async function pipeline(dir: string, workers: number): Promise<{ perHour: number; steps: Record<string, number[]> }> {
  const chain = new MemChain(join(dir, 'chain.json'), 1000, 50);
  chain.startTicking();
  mkdirSync(join(dir, 'sid'), { recursive: true });
  const sid = await startSectorIdServer({ repo: join(dir, 'sid'), listen: '127.0.0.1:0', auth, minerId: 'f01000' });
  try {
    const m = new Proc(
      'miner',
      [
        MINER_SCRIPT,
        '--repo',
        join(dir, 'miner'),
        '--chain',
        join(dir, 'chain.json'),
        '--sectorid',
        sid.address,
        '--token',
        TOKEN,
        '--secret',
        SECRET.toString('hex'),
        '--port',
        '0',
        '--storage',
        join(dir, 'storage'),
      ],
      { DISTMINER_LOG_LEVEL: 'warn' },
    );
    const port = Number((await m.waitFor(/^READY \d+/)).split(' ')[1]);
    const ws: Proc[] = [];
    for (let i = 0; i < workers; i++) {
      ws.push(
        new Proc(`w${i}`, [MAIN, 'worker', '--miner-api', `${WORKER_TOKEN}:/ip4/127.0.0.1/tcp/${port}/http`, '--dir', join(dir, `w${i}`), '--cores', '2', '--memory', '8GiB', '--nice', '0'], {
          DISTMINER_LOG_LEVEL: 'info',
        }),
      );
    }
    await until(async () => (await rpc<unknown[]>(`http://127.0.0.1:${port}`, TOKEN, 'SealingWorkers')).length === workers && true, 30_000, 'workers connected');
    const started = Date.now();
    await rpc(`http://127.0.0.1:${port}`, TOKEN, 'SectorsPledge', [SECTORS]);
    await until(
      async () => {
        const l = await rpc<SectorView[]>(`http://127.0.0.1:${port}`, TOKEN, 'SectorsList');
        return l.length === SECTORS && l.every((s) => s.state === 'Proving');
      },
      SECTORS * 300_000,
      'sectors proving',
    );
    const elapsed = Date.now() - started;
    const steps: Record<string, number[]> = {};
    for (const w of ws) for (const o of w.logs((x) => x.msg === 'task done')) (steps[o.task as string] ??= []).push(o.ms as number);
    return { perHour: (SECTORS * 3600_000) / elapsed, steps };
  } finally {
    await killAll();
    chain.stop();
    await sid.close();
  }
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'dm-bench-seal-'));
  try {
    process.stderr.write(`bench/seal: ${SECTORS} sectors per configuration (a Commit2 takes about 45 s on 2 cores)\n`);
    const r = await raw(join(dir, 'raw'));
    process.stderr.write(`  raw loop: ${r.perHour.toFixed(1)} sectors/hour\n`);
    const p1 = await pipeline(join(dir, 'p1'), 1);
    process.stderr.write(`  pipeline, 1 worker: ${p1.perHour.toFixed(1)} sectors/hour\n`);
    const p2 = await pipeline(join(dir, 'p2'), 2);
    process.stderr.write(`  pipeline, 2 workers: ${p2.perHour.toFixed(1)} sectors/hour\n`);
    const rows = [
      ['raw native loop (one process)', r.perHour, 1],
      ['pipeline, 1 worker', p1.perHour, p1.perHour / r.perHour],
      ['pipeline, 2 workers', p2.perHour, p2.perHour / r.perHour],
    ] as (string | number)[][];
    process.stdout.write(`\n2KiB sectors through sealing (${machine().cores} cores)\n`);
    process.stdout.write(table(['configuration', 'sectors/hour', 'vs raw'], rows) + '\n\n');
    const stepRows = ['AddPiece', 'PreCommit1', 'PreCommit2', 'Commit1', 'Commit2', 'Finalize'].map((k) => {
      const f = (x?: number[]) => (x?.length ? stats(x).median : '-');
      return [k, f(r.steps[k]), f(p1.steps[k]), f(p2.steps[k])];
    });
    process.stdout.write('per-step median, ms\n' + table(['step', 'raw', '1 worker', '2 workers'], stepRows) + '\n');
    const out = writeResult('seal', { machine: machine(), sectors: SECTORS, raw, pipeline1: p1, pipeline2: p2 });
    process.stdout.write(`\nwritten ${out}\n`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  process.stderr.write(`bench/seal failed: ${(e as Error).stack}\n`);
  process.exit(1);
});
