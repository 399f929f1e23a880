// Crash-safe files and lock files: the one module every store uses.
//
// Writes: a temp file next to the target, every byte written (a short write is continued, an
// error stops), fsync, rename over the target, fsync the directory. After a crash or a full
// disk the target holds either the old or the new content, never a torn mix; a failed write
// removes its temp file and leaves the target untouched.
//
// Locks: flock(2) on a lock file (through the native addon; Node has no flock). The kernel
// releases the lock when the holder's file is closed, including when the holder dies, so a
// lock is never stale and nobody ever decides "stale, so mine" (that check races: two
// starters could both take over the same dead lock). The holder's pid and purpose are written
// into the file after the lock is taken, for the refusal message only. Lock files are never
// deleted: unlinking a lock file lets a second process lock a new file of the same name while
// a first still holds the old one.
import { closeSync, constants, fstatSync, fsyncSync, ftruncateSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { open, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { randomInt } from 'node:crypto';
import { loadAddon } from '../proofs/native.js';

let seq = 0;

/**
 * `.NAME.tmp-PID-DIGITS` beside the target (the sector-number store cleans up this pattern).
 * The digits are random plus a counter: worker threads share the pid and each has its own
 * counter, and a thread that died mid-write may have left its temp file behind.
 */
function tempPath(path: string): string {
  return join(dirname(path), `.${basename(path)}.tmp-${process.pid}-${randomInt(1e9)}${seq++}`);
}

function toBuffer(data: string | Uint8Array): Uint8Array {
  return typeof data === 'string' ? Buffer.from(data) : data;
}

/**
 * Writes all of `buf` at `position` (or the file offset), continuing after short writes.
 * `write` replaces fs.writeSync (stores inject failing writes in their fault tests).
 */
export function writeAllSync(
  fd: number,
  buf: Uint8Array,
  position: number | null = null,
  write: (fd: number, buf: Uint8Array, offset: number, length: number, position: number | null) => number = writeSync,
): void {
  let off = 0;
  while (off < buf.length) {
    const n = write(fd, buf, off, buf.length - off, position === null ? null : position + off);
    if (n <= 0) throw Object.assign(new Error(`write returned ${n} with ${buf.length - off} bytes left`), { code: 'EIO' });
    off += n;
  }
}

export function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

export async function fsyncDirAsync(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Replaces `path` with `data` crash-safely (see the top of this file). `mode` 0o600 for secrets. */
export function writeFileAtomic(path: string, data: string | Uint8Array, mode = 0o644): void {
  const tmp = tempPath(path);
  const fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, mode);
  try {
    writeAllSync(fd, toBuffer(data), 0);
    fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw e;
  }
  closeSync(fd);
  try {
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
  fsyncDir(dirname(path));
}

/** The async form of writeFileAtomic. */
export async function writeFileAtomicAsync(path: string, data: string | Uint8Array, mode = 0o644): Promise<void> {
  const tmp = tempPath(path);
  const fh = await open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, mode);
  try {
    const buf = toBuffer(data);
    let off = 0;
    while (off < buf.length) {
      const { bytesWritten } = await fh.write(buf, off, buf.length - off, off);
      if (bytesWritten <= 0) throw Object.assign(new Error(`write returned ${bytesWritten} with ${buf.length - off} bytes left`), { code: 'EIO' });
      off += bytesWritten;
    }
    await fh.sync();
  } catch (e) {
    await fh.close().catch(() => {});
    await unlink(tmp).catch(() => {});
    throw e;
  }
  await fh.close();
  try {
    await rename(tmp, path);
  } catch (e) {
    await unlink(tmp).catch(() => {});
    throw e;
  }
  await fsyncDirAsync(dirname(path));
}

// ------------------------------------------------------------------------------ locks

/** A lock held by another open file (another process, or another opener in this one). */
export class LockHeldError extends Error {
  constructor(
    readonly path: string,
    /** The holder's pid as written in the lock file (undefined: not written yet, or unreadable). */
    readonly holderPid: number | undefined,
    readonly holderWhat: string | undefined,
  ) {
    const who = holderPid === undefined ? 'another process' : `process ${holderPid}${holderPid === process.pid ? ' (this process)' : ''}`;
    super(`${path} is held by ${who}${holderWhat ? ` (${holderWhat})` : ''}`);
    this.name = 'LockHeldError';
  }
}

export interface FileLock {
  readonly path: string;
  /** Drops the lock (closes the file). Idempotent. The file stays (see the top of this file). */
  release(): void;
}

function readHolder(path: string): { pid?: number; what?: string } {
  try {
    const [pidText, what] = readFileSync(path, 'utf8').split('\n');
    const pid = Number(pidText);
    return { pid: Number.isInteger(pid) && pid > 0 ? pid : undefined, what: what || undefined };
  } catch {
    return {};
  }
}

/** Like lockFile, but returns `{ held }` (who holds it) instead of throwing when the lock is held. */
export function tryLockFile(path: string, what: string): { lock: FileLock } | { held: LockHeldError } {
  const addon = loadAddon();
  const fd = openSync(path, constants.O_RDWR | constants.O_CREAT, 0o644);
  let ok = false;
  try {
    if (!fstatSync(fd).isFile()) throw new Error(`${path} is not a regular file; it cannot be a lock file`);
    if (!addon.flock(fd, true, true)) {
      // The holder writes its pid just after taking the lock: give it a moment.
      let h = readHolder(path);
      for (let i = 0; i < 5 && h.pid === undefined; i++) {
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10);
        h = readHolder(path);
      }
      return { held: new LockHeldError(path, h.pid, h.what) };
    }
    // Ours now: say who holds it, for other starters' messages.
    ftruncateSync(fd, 0);
    writeAllSync(fd, Buffer.from(`${process.pid}\n${what}\n`), 0);
    ok = true;
  } finally {
    if (!ok) closeSync(fd);
  }
  let released = false;
  return {
    lock: {
      path,
      release() {
        if (released) return;
        released = true;
        try {
          ftruncateSync(fd, 0); // no pid of a process that no longer holds it
        } catch {
          // the lock still goes with the close
        }
        closeSync(fd);
      },
    },
  };
}

/**
 * Whether another process holds an flock(2) on `path` (a file another program locks, e.g.
 * goleveldb's `LOCK`, which lotus-miner holds while it runs). Opened read-only and never
 * written: the file is not ours. Taking and at once dropping the lock is the only way to ask.
 */
export function heldByAnother(path: string): boolean {
  const fd = openSync(path, constants.O_RDONLY);
  try {
    return !loadAddon().flock(fd, true, true);
  } finally {
    closeSync(fd); // drops the lock if we took it
  }
}

/**
 * Takes the exclusive lock on `path` (creating the file) without waiting. `what` says who
 * holds it, e.g. "sector-number server". Throws LockHeldError naming the holder if it is held.
 */
export function lockFile(path: string, what: string): FileLock {
  const r = tryLockFile(path, what);
  if ('held' in r) throw r.held;
  return r.lock;
}

/** Waits (polling every `pollMs`) until the lock is free, then takes it. */
export async function lockFileWait(path: string, what: string, opts: { pollMs?: number; onWait?: (held: LockHeldError) => void } = {}): Promise<FileLock> {
  let told = false;
  for (;;) {
    const r = tryLockFile(path, what);
    if ('lock' in r) return r.lock;
    if (!told) opts.onWait?.(r.held);
    told = true;
    await new Promise((res) => setTimeout(res, opts.pollMs ?? 1000));
  }
}
