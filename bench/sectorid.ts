// Sector-number service benchmark: durable allocations/s and latency (p50/p99) with 1, 16
// and 64 clients over real TCP, for the file store and the PostgreSQL store, against a bare
// PostgreSQL `nextval` baseline in the same run. Writes bench/results/sectorid.json.
//
//   node dist/bench/sectorid.js [--seconds 3]
import { Auth } from '../src/auth/index.js';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { SectorIdClient, startSectorIdServer } from '../src/sectorid/index.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const secIdx = process.argv.indexOf('--seconds');
const SECONDS = secIdx > 0 ? Number(process.argv[secIdx + 1]) : 3;
const CLIENTS = [1, 16, 64];
const AUTH = Auth.random();
const TOKEN = AUTH.issue('admin');

interface Row {
  store: string;
  clients: number;
  allocations: number;
  seconds: number;
  perSecond: number;
  p50ms: number;
  p99ms: number;
  durable: boolean;
  commits?: number;
}

function pct(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** Run `clients` loops of `op` for SECONDS; each op is one allocation. */
async function drive(clients: number, op: (i: number) => Promise<unknown>): Promise<{ n: number; secs: number; lat: number[] }> {
  const lat: number[] = [];
  const end = Date.now() + SECONDS * 1000;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async (_, i) => {
      while (Date.now() < end) {
        const t0 = performance.now();
        await op(i);
        lat.push(performance.now() - t0);
      }
    }),
  );
  const secs = (performance.now() - started) / 1000;
  lat.sort((a, b) => a - b);
  return { n: lat.length, secs, lat };
}

function row(store: string, clients: number, r: { n: number; secs: number; lat: number[] }, durable: boolean, commits?: number): Row {
  return {
    store,
    clients,
    allocations: r.n,
    seconds: Number(r.secs.toFixed(2)),
    perSecond: Math.round(r.n / r.secs),
    p50ms: Number(pct(r.lat, 50).toFixed(3)),
    p99ms: Number(pct(r.lat, 99).toFixed(3)),
    durable,
    commits,
  };
}

async function benchServer(label: string, store: string, repoBase: string, miner: string): Promise<Row[]> {
  const rows: Row[] = [];
  for (const n of CLIENTS) {
    const repo = join(repoBase, `${label}-${n}`);
    mkdirSync(repo, { recursive: true });
    const srv = await startSectorIdServer({ repo, listen: '127.0.0.1:0', auth: AUTH, store, minerId: `${miner}${n}` });
    const clients = Array.from({ length: n }, () => new SectorIdClient({ address: srv.address, token: TOKEN }));
    await Promise.all(clients.map((c) => c.allocate(1))); // connect + warm up
    const before = srv.allocator.commits;
    const r = await drive(n, (i) => clients[i]!.allocate(1));
    rows.push(row(label, n, r, true, srv.allocator.commits - before));
    process.stderr.write(`  ${label} x${n}: ${rows[rows.length - 1]!.perSecond}/s\n`);
    await Promise.all(clients.map((c) => c.close()));
    await srv.close();
  }
  return rows;
}

async function benchNextval(url: string): Promise<Row[]> {
  const rows: Row[] = [];
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  await admin.query('DROP TABLE IF EXISTS bench_log; DROP SEQUENCE IF EXISTS bench_seq; CREATE SEQUENCE bench_seq; CREATE TABLE bench_log (n bigint PRIMARY KEY)');
  for (const [label, sql, durable] of [
    // A bare SELECT nextval commits no write, so its WAL is not flushed per call: not durable alone.
    ['pg nextval (SELECT)', "SELECT nextval('bench_seq')", false],
    // nextval recorded in a committed row: one WAL flush per call, the durable equivalent.
    ['pg nextval+INSERT commit', "INSERT INTO bench_log SELECT nextval('bench_seq') RETURNING n", true],
  ] as const) {
    for (const n of CLIENTS) {
      const conns = await Promise.all(
        Array.from({ length: n }, async () => {
          const c = new pg.Client({ connectionString: url });
          await c.connect();
          return c;
        }),
      );
      const r = await drive(n, (i) => conns[i]!.query(sql));
      rows.push(row(label, n, r, durable));
      process.stderr.write(`  ${label} x${n}: ${rows[rows.length - 1]!.perSecond}/s\n`);
      await Promise.all(conns.map((c) => c.end()));
    }
  }
  await admin.end();
  return rows;
}

async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'bench-sectorid-'));
  const script = join(ROOT, 'scripts/postgres-test.sh');
  process.stderr.write('starting a throw-away PostgreSQL (scripts/postgres-test.sh)\n');
  const url = execFileSync('bash', [script, 'start', join(work, 'pg')], { encoding: 'utf8' })
    .trim()
    .split('\n')
    .pop()!;
  const rows: Row[] = [];
  try {
    process.stderr.write(`sector-number benchmark: ${SECONDS}s per configuration\n`);
    rows.push(...(await benchServer('file', 'file', join(work, 'repos'), 'f0file')));
    rows.push(...(await benchServer('postgres', url, join(work, 'repos'), 'f0pg')));
    rows.push(...(await benchNextval(url)));
  } finally {
    execFileSync('bash', [script, 'stop', join(work, 'pg')], { stdio: 'ignore' });
    rmSync(work, { recursive: true, force: true });
  }
  const w = [28, 8, 12, 10, 10, 8];
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join(' ');
  const out = [
    line(['store', 'clients', 'allocs/s', 'p50 ms', 'p99 ms', 'durable']),
    ...rows.map((r) => line([r.store, String(r.clients), String(r.perSecond), r.p50ms.toFixed(2), r.p99ms.toFixed(2), r.durable ? 'yes' : 'no'])),
  ];
  process.stdout.write(`\n${out.join('\n')}\n`);
  const result = {
    bench: 'sectorid',
    date: new Date().toISOString(),
    node: process.version,
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model,
    secondsPerConfig: SECONDS,
    notes: 'file/postgres: one allocation per request over TCP, answered only after it is durable (group commit); pg nextval (SELECT) is not durable per call',
    rows,
  };
  const resDir = join(ROOT, 'bench/results');
  mkdirSync(resDir, { recursive: true });
  writeFileSync(join(resDir, 'sectorid.json'), `${JSON.stringify(result, null, 2)}\n`);
  process.stdout.write(`\nwrote bench/results/sectorid.json\n`);
}

main().catch((e: unknown) => {
  process.stderr.write(`bench sectorid: ${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
