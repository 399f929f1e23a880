// Where a sector's sealed replica and cache live in the storage paths, laid out as Lotus lays
// them out (`<path>/sealed/s-t0<miner>-<n>`, `<path>/cache/s-t0<miner>-<n>/`), and whether
// they can be read. The PoSt miners keep no sector database: the chain says which sectors
// exist, the storage paths hold their files.
//
// Readability is checked in a child process per storage path, bounded by a timeout: a hung
// disk (NFS gone, a dying drive in D state) blocks the syscall forever, and in-process that
// would also block the libuv threads every later fs call needs. The child is killed at the
// timeout; other paths are unaffected.
//
// A check has three outcomes per sector: `ok`, `gone` (no sealed file, wrong size, a definite
// read error) and `slow` (no answer in time: the child was killed at the timeout, could not
// run, or a read failed with a transient error). A slow sector is not known to be lost — a
// loaded machine or a briefly slow disk looks the same — so the callers re-check it
// (checkWithRetries) while their deadline's budget allows, and only then give up on it.
import { type ChildProcess, spawn } from 'node:child_process';
import { stat, statfs } from 'node:fs/promises';
import { join } from 'node:path';
import { gauge } from '../metrics/index.js';

export interface SectorFiles {
  sectorNumber: number;
  /** The storage path holding the files. */
  storage: string;
  sealedPath: string;
  cacheDir: string;
}

export type CheckOutcome = 'ok' | 'gone' | 'slow';

export interface CheckResult {
  sectorNumber: number;
  ok: boolean;
  /** ok; gone (missing, wrong size, definite read error); slow (no answer in time: may still be there). */
  outcome: CheckOutcome;
  /** Where it was found (first readable copy, else the first copy with a definite error). */
  files?: SectorFiles;
  /** The sealed file (or files) the outcome is about, for logs. */
  path: string;
  /** Why it cannot be proven (missing, short file, read error, timed out). */
  reason?: string;
  /** Checks made of this sector (checkWithRetries; 1 for a single check). */
  attempts: number;
  /** From the first check to the answer given here (ms). */
  elapsedMs: number;
}

export const sectorName = (minerId: number, n: number): string => `s-t0${minerId}-${n}`;

export function sectorFilesIn(storage: string, minerId: number, n: number): SectorFiles {
  const name = sectorName(minerId, n);
  return { sectorNumber: n, storage, sealedPath: join(storage, 'sealed', name), cacheDir: join(storage, 'cache', name) };
}

// The child: for each sector, [n, 'missing' (no sealed file in this path) | 'ok' | a reason,
// the error's code]. Reads a little of the sealed file at both ends and the cache files a PoSt opens.
const CHECKER = `
const fs = require('fs');
const path = require('path');
const { dir, miner, sectors, sectorSize } = JSON.parse(process.argv[1]);
process.stdout.write('ready\\n');
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
  let code;
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
  } catch (e) { out = (e && e.message) || String(e); code = e && e.code; }
  process.stdout.write(JSON.stringify([n, out, code]) + '\\n');
}
`;

/** Error codes that say "not now" rather than "not there": the sector is re-checked. */
const TRANSIENT = new Set(['ETIMEDOUT', 'EAGAIN', 'EBUSY', 'EINTR', 'ENOMEM', 'EMFILE', 'ENFILE', 'ESTALE']);

interface PathReport {
  /** sector → 'missing' | 'ok' | [reason, code] */
  results: Map<number, 'ok' | 'missing' | [string, string | undefined]>;
  /** Why the sectors not in `results` got no answer (timeout, the checker could not run). */
  error?: string;
}

/**
 * Storage path → the exit of its last checker that was killed at the timeout and has not
 * exited yet. A process blocked on a hung disk (D state) ignores SIGKILL until its I/O
 * returns: a new check of that path waits for the old one to go (within its own timeout)
 * instead of spawning one more stuck process per retry.
 */
const stuck = new Map<string, Promise<void>>();

const delay = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function checkPath(dir: string, minerId: number, sectors: number[], sectorSize: number, timeoutMs: number): Promise<PathReport> {
  const t0 = Date.now();
  const prev = stuck.get(dir);
  if (prev) {
    let timer: NodeJS.Timeout | undefined;
    const gone = await Promise.race([prev.then(() => true), new Promise<boolean>((r) => (timer = setTimeout(() => r(false), timeoutMs)))]);
    clearTimeout(timer);
    if (!gone) return { results: new Map(), error: `no answer from ${dir}: its previous check, killed at its timeout, has still not exited after ${timeoutMs} ms more (hung storage?)` };
  }
  return new Promise((resolve) => {
    const results: PathReport['results'] = new Map();
    const left = Math.max(1, timeoutMs - (Date.now() - t0));
    let child: ChildProcess;
    try {
      child = spawn(process.execPath, ['-e', CHECKER, JSON.stringify({ dir, miner: minerId, sectors, sectorSize })], { stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (e) {
      resolve({ results, error: `cannot start the storage check of ${dir}: ${(e as Error).message}` });
      return;
    }
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    let buf = '';
    let err = '';
    let done = false;
    let started = false; // the child said 'ready': from then on only the storage is waited on
    const finish = (error?: string) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve({ results, error });
    };
    // At the timeout, answers that already arrived are read first: timers run before the I/O
    // callbacks in an event-loop turn, so a loop that lagged past the timeout (a loaded
    // process) would otherwise kill a checker whose answer is waiting (setImmediate runs after them).
    const timer = setTimeout(() => setImmediate(expire), left);
    const expire = () => {
      if (done) return;
      child.kill('SIGKILL');
      if (child.exitCode === null && child.signalCode === null) {
        stuck.set(dir, exited);
        void exited.then(() => {
          if (stuck.get(dir) === exited) stuck.delete(dir);
        });
      }
      finish(started ? `no answer from ${dir} within ${timeoutMs} ms (slow or hung storage?)` : `the storage check of ${dir} did not even start within ${timeoutMs} ms (an overloaded machine?)`);
    };
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        if (line === 'ready') started = true;
        else {
          try {
            const [n, r, code] = JSON.parse(line) as [number, string, string | undefined];
            results.set(n, r === 'ok' || r === 'missing' ? r : [r, code]);
          } catch {
            // not ours
          }
        }
        buf = buf.slice(i + 1);
      }
    });
    child.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
    });
    child.on('error', (e) => finish(`cannot start the storage check of ${dir}: ${e.message}`));
    // 'close', not 'exit': the child's stdio may still hold answers when it has exited.
    child.on('close', (code) => finish(code === 0 ? undefined : `storage check of ${dir} failed: ${err.trim().split('\n').pop() || `exit ${code}`}`));
  });
}

export interface CheckOptions {
  /** Expected size of a sealed replica (bytes); 0 skips the size check. */
  sectorSize: number;
  /** Per storage path; default 10 s. */
  timeoutMs?: number;
}

/**
 * Finds and checks the files of `sectors` in every storage path at once (one child per path),
 * once. A sector is ok when some path has a readable copy; slow when not, and some path did
 * not answer for it (or answered with a transient error): that path may hold a good copy;
 * gone otherwise. `reason` says what is wrong.
 */
export async function checkSectors(storage: string[], minerId: number, sectors: number[], opts: CheckOptions): Promise<Map<number, CheckResult>> {
  const out = new Map<number, CheckResult>();
  if (sectors.length === 0) return out;
  const t0 = Date.now();
  const reports = await Promise.all(storage.map((dir) => checkPath(dir, minerId, sectors, opts.sectorSize, opts.timeoutMs ?? 10_000)));
  const elapsedMs = Date.now() - t0;
  for (const n of sectors) {
    const problems: string[] = [];
    const slow: string[] = []; // sealed paths that gave no definite answer
    let ok: SectorFiles | undefined;
    let bad: SectorFiles | undefined;
    storage.forEach((dir, i) => {
      if (ok) return;
      const r = reports[i].results.get(n);
      const f = sectorFilesIn(dir, minerId, n);
      if (r === 'ok') ok = f;
      else if (r === 'missing') return;
      else if (r === undefined) {
        problems.push(reports[i].error ?? `${dir}: not checked`);
        slow.push(f.sealedPath);
      } else {
        const [reason, code] = r;
        problems.push(code ? `${reason} (${code})` : reason);
        if (code && TRANSIENT.has(code)) slow.push(f.sealedPath);
        else bad ??= f;
      }
    });
    if (ok) out.set(n, { sectorNumber: n, ok: true, outcome: 'ok', files: ok, path: ok.sealedPath, attempts: 1, elapsedMs });
    else {
      const reason = problems.length > 0 ? problems.join('; ') : `no sealed file ${sectorName(minerId, n)} in ${storage.join(', ') || '(no storage paths)'}`;
      const path = slow.length > 0 ? slow.join(', ') : bad ? bad.sealedPath : storage.map((d) => sectorFilesIn(d, minerId, n).sealedPath).join(', ');
      out.set(n, { sectorNumber: n, ok: false, outcome: slow.length > 0 ? 'slow' : 'gone', files: bad, path, reason, attempts: 1, elapsedMs });
    }
  }
  return out;
}

/** One check of some sectors with a given timeout (checkSectors bound to the storage, or a test double). */
export type SectorCheck = (sectors: number[], timeoutMs: number) => Promise<Map<number, CheckResult>>;

export interface RetryOptions {
  /** Timeout of the first check; a retry gets twice the previous one (at most 4×), never past untilMs. */
  timeoutMs: number;
  /** When the answers are needed (clock time, `now()`): a retry starts only if it can end by then. */
  untilMs: number;
  /** Wait before the first retry; doubles each time, at most 8 s. Default 500 ms. */
  backoffMs?: number;
  /** Checks already made of these sectors (their retries continue from there). Default 0. */
  attemptsBefore?: number;
  /** When the first of those checks started (for elapsedMs). Default now. */
  startedMs?: number;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
  /** Stops retrying (a scheduler stopping). */
  cancelled?: () => boolean;
}

/**
 * Checks `sectors`, then re-checks the slow ones with backoff while a retry still fits before
 * `untilMs`. A sector's result is its last answer, with the attempts made and the time since
 * the first; a sector still slow at the end stays slow. With `attemptsBefore` > 0 the first
 * check is a retry (and if none fits, the result has no entry for the sector).
 */
export async function checkWithRetries(check: SectorCheck, sectors: number[], o: RetryOptions): Promise<Map<number, CheckResult>> {
  const now = o.now ?? Date.now;
  const sleep = o.sleep ?? delay;
  const start = o.startedMs ?? now();
  const backoff = o.backoffMs ?? 500;
  const minAttemptMs = Math.min(o.timeoutMs, 1000);
  const out = new Map<number, CheckResult>();
  let pending = [...new Set(sectors)];
  let attempt = o.attemptsBefore ?? 0;
  while (pending.length > 0) {
    let timeoutMs = o.timeoutMs;
    if (attempt > 0) {
      const wait = Math.min(backoff * 2 ** (attempt - 1), 8000);
      if (o.cancelled?.() || now() + wait + minAttemptMs > o.untilMs) break;
      await sleep(wait);
      if (o.cancelled?.()) break;
      timeoutMs = Math.min(o.timeoutMs * 2 ** Math.min(attempt, 2), o.untilMs - now());
      if (timeoutMs < minAttemptMs) break;
    }
    attempt++;
    const r = await check(pending, timeoutMs);
    const elapsedMs = now() - start;
    for (const s of pending) {
      const x = r.get(s) ?? { sectorNumber: s, ok: false, outcome: 'slow' as const, path: '?', reason: 'the check gave no answer for it' };
      out.set(s, { ...x, attempts: attempt, elapsedMs });
    }
    pending = pending.filter((s) => out.get(s)!.outcome === 'slow');
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
        // setImmediate: a stat that completed while the event loop lagged is read first (see checkPath).
        t = setTimeout(() => setImmediate(() => r(false)), timeoutMs);
      });
      const ok = await Promise.race([probe, timeout]);
      clearTimeout(t);
      return ok ? f : undefined;
    }),
  );
  return found.find((f) => f !== undefined);
}

// ---------------------------------------------------------------- free space (metrics)

const freeBytes = gauge({ name: 'distminer_storage_free_bytes', help: 'Bytes free for the miner in a storage path (statfs: blocks available to unprivileged users)', labelNames: ['path'] });
const capacityBytes = gauge({ name: 'distminer_storage_capacity_bytes', help: 'Size of the file system holding a storage path (statfs)', labelNames: ['path'] });

/**
 * Keeps `distminer_storage_free_bytes` / `_capacity_bytes` of `paths` current: statfs now and
 * every `everyMs` (default 30 s), never at scrape time. A path whose statfs has not answered
 * (a hung mount) gets no second call until it does, so it holds one libuv thread at most and
 * never this thread; its samples are removed while it does not answer, and one that fails
 * (gone, not mounted) has none. Returns a function that stops watching and removes the samples.
 */
export function watchStorageSpace(paths: string[], everyMs = 30_000): () => void {
  const pending = new Set<string>();
  const unique = [...new Set(paths)];
  const drop = (p: string) => {
    freeBytes.remove({ path: p });
    capacityBytes.remove({ path: p });
  };
  let stopped = false;
  const poll = () => {
    for (const p of unique) {
      if (pending.has(p)) {
        drop(p); // the previous statfs has not answered in a whole interval
        continue;
      }
      pending.add(p);
      statfs(p).then(
        (st) => {
          pending.delete(p);
          if (stopped) return;
          freeBytes.set({ path: p }, Number(st.bavail) * Number(st.bsize));
          capacityBytes.set({ path: p }, Number(st.blocks) * Number(st.bsize));
        },
        () => {
          pending.delete(p);
          if (!stopped) drop(p);
        },
      );
    }
  };
  poll();
  const timer = setInterval(poll, everyMs);
  timer.unref();
  return () => {
    stopped = true;
    clearInterval(timer);
    for (const p of unique) drop(p);
  };
}
