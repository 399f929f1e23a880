// bench/deals: the deal intake path alone (sealing left out), as a miner configured for 32GiB
// sectors takes deals: a `distminer deals serve` process; a client here proposes and PUTs a
// piece over loopback HTTP; the server streams it to a staging file and checks its CommP.
// Reported per piece size: upload (transfer) MB/s, CommP verification time, whole intake MB/s,
// and the server process's peak RSS (VmHWM) against its RSS before the upload. Then CommP
// throughput of the JS library (@web3-storage/data-segment) against the native call.
//
// Pieces are generated on the fly into a temp file (the client needs its CommP before
// proposing), deleted after each size. Default sizes: 64 MiB and 1 GiB (a few minutes, ~2 GiB
// of disk at most); DISTMINER_BENCH_DEALS_4G=1 adds 4 GiB (~8 GiB of disk).
//   node dist/bench/deals.js
import { type ChildProcess, spawn } from 'node:child_process';
import { createCipheriv, randomBytes } from 'node:crypto';
import { createWriteStream, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { initRepo, readToken } from '../src/config/repo.js';
import { adminGet, buildProposal, propose, uploadFile } from '../src/deals/client.js';
import { jsFileCommP, nativeCommP } from '../src/deals/commp.js';
import { newClientKey } from '../src/deals/keys.js';
import { RegisteredSealProof, unpaddedSize } from '../src/proofs/types.js';
import { machine, repoRoot, table, writeResult } from './common.js';

const MiB = 2 ** 20;
const P32G = RegisteredSealProof.StackedDrg32GiBV1_1;
const sizes = process.env.DISTMINER_BENCH_DEALS_MIB
  ? process.env.DISTMINER_BENCH_DEALS_MIB.split(',').map((x) => Number(x) * MiB) // e.g. "8,16" for a quick check
  : [64 * MiB, 1024 * MiB, ...(process.env.DISTMINER_BENCH_DEALS_4G === '1' ? [4096 * MiB] : [])];
const compareBytes = Math.min(64 * MiB, ...sizes);
const work = mkdtempSync(join(tmpdir(), 'dm-bench-deals-'));

/** A file of `bytes` pseudo-random bytes (AES-CTR keystream: fast, incompressible). */
async function generate(path: string, bytes: number): Promise<void> {
  const aes = createCipheriv('aes-128-ctr', randomBytes(16), randomBytes(16));
  const zero = Buffer.alloc(MiB);
  let left = bytes;
  const src = Readable.from(
    (function* () {
      while (left > 0) {
        const n = Math.min(MiB, left);
        left -= n;
        yield aes.update(zero.subarray(0, n));
      }
    })(),
  );
  await pipeline(src, createWriteStream(path));
}

function rssOf(pid: number): { rss: number; hwm: number } {
  const s = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+) kB`).exec(s)?.[1] ?? 0) * 1024;
  return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
}

async function startServer(repo: string): Promise<{ proc: ChildProcess; url: string }> {
  const ready = join(repo, 'ready');
  const proc = spawn(process.execPath, [join(repoRoot, 'dist', 'main.js'), 'deals', 'serve', '--repo', repo, '--sector-size', '32GiB', '--ready-file', ready], {
    env: { ...process.env, DISTMINER_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const end = Date.now() + 30_000;
  while (!existsSync(ready)) {
    if (Date.now() > end || proc.exitCode !== null) throw new Error('the deal server did not start');
    await new Promise((r) => setTimeout(r, 50));
  }
  return { proc, url: readFileSync(ready, 'utf8').trim() };
}

interface IntakeRow {
  bytes: number;
  pieceSize: number;
  transferMBps: number;
  verifyMs: number;
  intakeMBps: number;
  serverRssBeforeMiB: number;
  serverPeakRssMiB: number;
  clientNativeCommPMBps: number;
}

async function intake(bytes: number): Promise<IntakeRow> {
  const file = join(work, `piece-${bytes}`);
  const repo = join(work, `repo-${bytes}`);
  initRepo(repo, 't01000');
  // A full piece of padded size `bytes` (its unpadded 127/128 of it), as clients send CARs
  // padded to the piece; the client can then use the native CommP too.
  const pieceSize = bytes;
  const dataBytes = unpaddedSize(pieceSize);
  await generate(file, dataBytes);
  const c0 = performance.now();
  const commP = await nativeCommP(P32G, file, pieceSize);
  const clientSecs = (performance.now() - c0) / 1000;
  const srv = await startServer(repo);
  try {
    const before = rssOf(srv.proc.pid!);
    let peak = before.rss;
    const sampler = setInterval(() => {
      try {
        peak = Math.max(peak, rssOf(srv.proc.pid!).rss);
      } catch {
        // exited
      }
    }, 100);
    const deal = buildProposal({ key: newClientKey(), commP, pieceSize, provider: 't01000', startEpoch: 100, endEpoch: 600_000 });
    const t0 = performance.now();
    const p = await propose(srv.url, deal, dataBytes);
    if (p.status !== 201) throw new Error(`proposal refused: ${JSON.stringify(p.body)}`);
    const u = await uploadFile(p.body.uploadUrl!, file);
    const secs = (performance.now() - t0) / 1000;
    clearInterval(sampler);
    if (u.status !== 200) throw new Error(`upload refused: ${JSON.stringify(u.body)}`);
    const st = await adminGet<{ history: { state: string; at: number }[] }>(srv.url, readToken(repo), `/deals/${p.body.uuid}`);
    const at = (s: string) => st.body.history.find((h) => h.state === s)!.at;
    const transferSecs = (at('Verifying') - at('Transferring')) / 1000;
    const after = rssOf(srv.proc.pid!);
    return {
      bytes: dataBytes,
      pieceSize,
      transferMBps: dataBytes / 1e6 / transferSecs,
      verifyMs: at('Publishing') - at('Verifying'),
      intakeMBps: dataBytes / 1e6 / secs,
      serverRssBeforeMiB: before.rss / MiB,
      serverPeakRssMiB: Math.max(peak, after.hwm) / MiB,
      clientNativeCommPMBps: dataBytes / 1e6 / clientSecs,
    };
  } finally {
    srv.proc.kill('SIGTERM');
    await new Promise((r) => srv.proc.once('exit', r));
    rmSync(file, { force: true });
    rmSync(repo, { recursive: true, force: true });
  }
}

async function commPCompare(bytes: number): Promise<{ bytes: number; nativeMBps: number; jsMBps: number; equal: boolean }> {
  const pieceSize = bytes;
  const n = unpaddedSize(pieceSize);
  const file = join(work, 'commp');
  await generate(file, n);
  try {
    const t0 = performance.now();
    const a = await nativeCommP(P32G, file, pieceSize);
    const t1 = performance.now();
    const b = await jsFileCommP(file, pieceSize);
    const t2 = performance.now();
    return { bytes: n, nativeMBps: n / 1e6 / ((t1 - t0) / 1000), jsMBps: n / 1e6 / ((t2 - t1) / 1000), equal: a.equals(b) };
  } finally {
    rmSync(file, { force: true });
  }
}

async function main(): Promise<void> {
  const rows: IntakeRow[] = [];
  try {
    for (const s of sizes) {
      process.stdout.write(`intake of a ${s / MiB} MiB piece (${unpaddedSize(s)} bytes of data)…\n`);
      rows.push(await intake(s));
    }
    process.stdout.write(`CommP: JS (data-segment) vs native on ${compareBytes / MiB} MiB…\n`);
    const cmp = await commPCompare(compareBytes);
    process.stdout.write(
      '\n' +
        table(
          ['data MiB', 'piece (padded)', 'upload MB/s', 'CommP verify ms', 'intake MB/s', 'server RSS before MiB', 'server peak RSS MiB'],
          rows.map((r) => [r.bytes / MiB, `${r.pieceSize / MiB} MiB`, r.transferMBps, r.verifyMs, r.intakeMBps, r.serverRssBeforeMiB, r.serverPeakRssMiB]),
        ) +
        '\n\n' +
        table(
          [`CommP of ${compareBytes / MiB} MiB`, 'MB/s'],
          [
            ['native (rust-fil-proofs via the addon)', cmp.nativeMBps],
            ['JS streaming (@web3-storage/data-segment)', cmp.jsMBps],
          ],
        ) +
        `\nsame CommP: ${cmp.equal}; native is ${(cmp.nativeMBps / cmp.jsMBps).toFixed(1)}× faster\n`,
    );
    const path = writeResult('deals', { machine: machine(), intake: rows, commp: cmp, note: 'intake = propose + PUT over loopback + staging + native CommP check; RSS of the deal server process' });
    process.stdout.write(`wrote ${resolve(path)}\n`);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

main().catch((e) => {
  process.stderr.write(`${(e as Error).stack}\n`);
  process.exitCode = 1;
});
