// Where a sector's sealed replica and cache live in the storage paths, laid out as Lotus lays
// them out (`<path>/sealed/s-t0<miner>-<n>`, `<path>/cache/s-t0<miner>-<n>/`), and whether
// they can be read. The PoSt miners keep no sector database: the chain says which sectors
// exist, the storage paths hold their files.
//
// Readability is checked in a child process per storage path, bounded by a timeout: a hung
// disk (NFS gone, a dying drive in D state) blocks the syscall forever, and in-process that
// would also block the libuv threads every later fs call needs. The child is killed at the
// timeout and the sectors it did not report are unreadable; other paths are unaffected.
import { spawn } from 'node:child_process';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';

export interface SectorFiles {
  sectorNumber: number;
  /** The storage path holding the files. */
  storage: string;
  sealedPath: string;
  cacheDir: string;
}

export interface CheckResult {
  sectorNumber: number;
  ok: boolean;
  /** Where it was found (first readable copy, else the first one seen). */
  files?: SectorFiles;
  /** Why it cannot be proven (missing, short file, read error, timed out). */
  reason?: string;
}

export const sectorName = (minerId: number, n: number): string => `s-t0${minerId}-${n}`;

export function sectorFilesIn(storage: string, minerId: number, n: number): SectorFiles {
  const name = sectorName(minerId, n);
  return { sectorNumber: n, storage, sealedPath: join(storage, 'sealed', name), cacheDir: join(storage, 'cache', name) };
}

// The child: for each sector, 'missing' (no sealed file in this path), 'ok', or a reason.
// Reads a little of the sealed file at both ends and the cache files a PoSt opens.
const CHECKER = `
const fs = require('fs');
const path = require('path');
const { dir, miner, sectors, sectorSize } = JSON.parse(process.argv[1]);
const readSome = (p, size) => {
  const fd = fs.openSync(p, 'r');
  try {
    const b = Buffer.alloc(Math.min(64, Math.max(size, 1)));
    fs.readSync(fd, b, 0, b.length, 0);
    if (size > b.length) fs.readSync(fd, b, 0, b.length, size - b.length);
  } finally { fs.closeSync(fd); }
};
for (const n of sectors) {
  const name = 's-t0' + miner + '-' + n;
  const sealed = path.join(dir, 'sealed', name);
  const cache = path.join(dir, 'cache', name);
  let out;
  try {
    let st;
    try { st = fs.statSync(sealed); } catch (e) { if (e.code === 'ENOENT') { out = 'missing'; } else throw e; }
    if (!out) {
      if (!st.isFile()) throw new Error(sealed + ' is not a file');
      if (sectorSize && st.size !== sectorSize) throw new Error(sealed + ' has ' + st.size + ' bytes, expected ' + sectorSize);
      readSome(sealed, st.size);
      const names = fs.readdirSync(cache);
      for (const f of ['p_aux', 't_aux']) if (!names.includes(f)) throw new Error(path.join(cache, f) + ' is missing');
      const trees = names.filter((f) => /^sc-02-data-tree-r-last(-\\d+)?\\.dat$/.test(f));
      if (trees.length === 0) throw new Error(cache + ' has no tree-r-last file');
      for (const f of ['p_aux', 't_aux', ...trees]) { const p = path.join(cache, f); readSome(p, fs.statSync(p).size); }
      out = 'ok';
    }
  } catch (e) { out = (e && e.message) || String(e); }
  process.stdout.write(JSON.stringify([n, out]) + '\\n');
}
`;

interface PathReport {
  /** sector → 'missing' | 'ok' | reason */
  results: Map<number, string>;
  error?: string;
}

function checkPath(dir: string, minerId: number, sectors: number[], sectorSize: number, timeoutMs: number): Promise<PathReport> {
  return new Promise((resolve) => {
    const results = new Map<number, string>();
    const child = spawn(process.execPath, ['-e', CHECKER, JSON.stringify({ dir, miner: minerId, sectors, sectorSize })], { stdio: ['ignore', 'pipe', 'pipe'] });
    let buf = '';
    let err = '';
    let done = false;
    const finish = (error?: string) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve({ results, error });
    };
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      finish(`no answer from ${dir} within ${timeoutMs} ms (hung storage?)`);
    }, timeoutMs);
    child.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        try {
          const [n, r] = JSON.parse(buf.slice(0, i)) as [number, string];
          results.set(n, r);
        } catch {
          // not ours
        }
        buf = buf.slice(i + 1);
      }
    });
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
    });
    child.on('error', (e) => finish(`cannot start the storage check: ${e.message}`));
    child.on('exit', (code) => finish(code === 0 ? undefined : `storage check of ${dir} failed: ${err.trim().split('\n').pop() ?? `exit ${code}`}`));
  });
}

export interface CheckOptions {
  /** Expected size of a sealed replica (bytes); 0 skips the size check. */
  sectorSize: number;
  /** Per storage path; default 10 s. */
  timeoutMs?: number;
}

/**
 * Finds and checks the files of `sectors` in every storage path at once (one child per path).
 * A sector is ok when some path has a readable copy; otherwise `reason` says what is wrong.
 */
export async function checkSectors(storage: string[], minerId: number, sectors: number[], opts: CheckOptions): Promise<Map<number, CheckResult>> {
  const out = new Map<number, CheckResult>();
  if (sectors.length === 0) return out;
  const reports = await Promise.all(storage.map((dir) => checkPath(dir, minerId, sectors, opts.sectorSize, opts.timeoutMs ?? 10_000)));
  for (const n of sectors) {
    const problems: string[] = [];
    let found: CheckResult | undefined;
    storage.forEach((dir, i) => {
      if (found?.ok) return;
      const r = reports[i].results.get(n);
      if (r === 'ok') found = { sectorNumber: n, ok: true, files: sectorFilesIn(dir, minerId, n) };
      else if (r === undefined) problems.push(reports[i].error ?? `${dir}: not checked`);
      else if (r !== 'missing') {
        problems.push(r);
        found ??= { sectorNumber: n, ok: false, files: sectorFilesIn(dir, minerId, n) };
      }
    });
    if (found?.ok) out.set(n, found);
    else {
      const reason = problems.length > 0 ? problems.join('; ') : `no sealed file ${sectorName(minerId, n)} in ${storage.join(', ') || '(no storage paths)'}`;
      out.set(n, { sectorNumber: n, ok: false, files: found?.files, reason });
    }
  }
  return out;
}

/**
 * Quick in-process lookup for a latency-critical proof (Winning PoSt): the first path with a
 * sealed file, each stat bounded by `timeoutMs` (a hung path is passed over, not waited on).
 */
export async function locateSector(storage: string[], minerId: number, n: number, timeoutMs = 2000): Promise<SectorFiles | undefined> {
  const found = await Promise.all(
    storage.map(async (dir) => {
      const f = sectorFilesIn(dir, minerId, n);
      const probe = Promise.all([stat(f.sealedPath), stat(f.cacheDir)]).then(
        () => true,
        () => false,
      );
      let t: NodeJS.Timeout | undefined;
      const timeout = new Promise<boolean>((r) => {
        t = setTimeout(() => r(false), timeoutMs);
      });
      const ok = await Promise.race([probe, timeout]);
      clearTimeout(t);
      return ok ? f : undefined;
    }),
  );
  return found.find((f) => f !== undefined);
}
