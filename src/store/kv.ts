// A small embedded transactional key-value store: the durable state of the seal pipeline,
// deals, and anything else that must survive `kill -9` and power loss.
//
// Design: an in-memory map, made durable by an append-only journal of msgpackr-encoded
// batches. Each batch is one frame [u32 length][u32 crc32][payload] and is fsynced before
// `commit` resolves, so a batch is all-or-nothing: on open, frames are replayed in order and
// a torn or corrupt tail (a crash mid-write) is cut off — it was never acknowledged. Any
// corruption *before* the tail is not silently skipped: open fails and names the offset,
// because dropping an acknowledged write would lose state. When the journal grows past a
// threshold it is compacted: a snapshot of the whole map is written to a temp file, fsynced,
// renamed over the journal, and the directory fsynced.
//
// Concurrent commits share one fsync (group commit). Single process only: a lock file
// (O_EXCL, holding the pid; a stale lock of a dead pid is taken over) refuses a second opener.
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeFileSync, writeSync, ftruncateSync, fstatSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Packr } from 'msgpackr';
import { pidAlive } from '../util/process.js';

const packr = new Packr({ useRecords: false, moreTypes: true, int64AsType: 'number' });

export type Value = unknown;
export interface Op {
  key: string;
  /** undefined deletes the key */
  value?: Value;
}

export class StoreCorruptError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StoreCorruptError';
  }
}

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

export function crc32(b: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < b.length; i++) c = CRC_TABLE[(c ^ b[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function frame(payload: Buffer): Buffer {
  const h = Buffer.alloc(8);
  h.writeUInt32BE(payload.length, 0);
  h.writeUInt32BE(crc32(payload), 4);
  return Buffer.concat([h, payload]);
}

function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

export interface StoreOptions {
  /** Compact when the journal exceeds this many bytes and twice the live data (default 8 MiB). */
  compactBytes?: number;
}

export class KvStore {
  private map = new Map<string, Value>();
  private fd: number;
  private size: number;
  private pending: { frame: Buffer; resolve: () => void; reject: (e: Error) => void }[] = [];
  private flushing = false;
  private closed = false;
  private failed: Error | undefined;
  private readonly compactBytes: number;
  private readonly journal: string;
  private readonly lockPath: string;

  private constructor(readonly dir: string, opts: StoreOptions) {
    this.compactBytes = opts.compactBytes ?? 8 * 1024 * 1024;
    this.journal = join(dir, 'journal');
    this.lockPath = join(dir, 'LOCK');
    mkdirSync(dir, { recursive: true });
    this.takeLock();
    try {
      this.replay();
      this.fd = openSync(this.journal, existsSync(this.journal) ? 'r+' : 'w+');
      this.size = fstatSync(this.fd).size;
    } catch (e) {
      rmSync(this.lockPath, { force: true });
      throw e;
    }
  }

  /** Opens (creating if needed) the store in `dir`. Throws StoreCorruptError on damage. */
  static open(dir: string, opts: StoreOptions = {}): KvStore {
    return new KvStore(dir, opts);
  }

  private takeLock(): void {
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const fd = openSync(this.lockPath, 'wx');
        writeSync(fd, String(process.pid));
        closeSync(fd);
        return;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
        const pid = Number(readFileSync(this.lockPath, 'utf8'));
        // Opened twice in this process, or held by a live one.
        const alive = pid === process.pid || (pid > 0 && pidAlive(pid));
        if (alive) throw new Error(`store ${this.dir} is in use by process ${pid}`);
        rmSync(this.lockPath, { force: true }); // stale: its owner died
      }
    }
    throw new Error(`cannot lock store ${this.dir}`);
  }

  private replay(): void {
    if (!existsSync(this.journal)) return;
    const buf = readFileSync(this.journal);
    let off = 0;
    while (off < buf.length) {
      if (buf.length - off < 8) break; // torn header at the tail
      const len = buf.readUInt32BE(off);
      const crc = buf.readUInt32BE(off + 4);
      if (off + 8 + len > buf.length) break; // torn payload at the tail
      const payload = buf.subarray(off + 8, off + 8 + len);
      if (crc32(payload) !== crc) {
        // A bad frame followed by more data is damage, not a torn write.
        if (off + 8 + len < buf.length) {
          throw new StoreCorruptError(`store ${this.dir}: journal frame at byte ${off} fails its checksum with ${buf.length - off - 8 - len} bytes after it; refusing to open (restore the directory from a backup or move it aside)`);
        }
        break;
      }
      let ops: Op[];
      try {
        ops = packr.unpack(payload) as Op[];
      } catch (e) {
        throw new StoreCorruptError(`store ${this.dir}: journal frame at byte ${off} does not decode: ${(e as Error).message}`);
      }
      for (const op of ops) {
        if (op.value === undefined) this.map.delete(op.key);
        else this.map.set(op.key, op.value);
      }
      off += 8 + len;
    }
    if (off < buf.length) {
      // Cut the unacknowledged tail so new frames follow a clean boundary.
      const fd = openSync(this.journal, 'r+');
      try {
        ftruncateSync(fd, off);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
    }
  }

  get<T = Value>(key: string): T | undefined {
    return this.map.get(key) as T | undefined;
  }

  has(key: string): boolean {
    return this.map.has(key);
  }

  /** Entries whose key starts with `prefix`, in key order. */
  entries<T = Value>(prefix = ''): [string, T][] {
    const out: [string, T][] = [];
    for (const [k, v] of this.map) if (k.startsWith(prefix)) out.push([k, v as T]);
    return out.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  }

  /**
   * Applies `ops` atomically: visible to `get` at once, durable when the promise resolves.
   * A caller must not act on the change (answer a client, start work) before that.
   */
  commit(ops: Op[]): Promise<void> {
    if (this.closed) return Promise.reject(this.failed ?? new Error(`store ${this.dir} is closed`));
    // Encode first: a value msgpackr cannot encode must fail before anything changes.
    const f = frame(packr.pack(ops) as Buffer);
    for (const op of ops) {
      if (op.value === undefined) this.map.delete(op.key);
      else this.map.set(op.key, op.value);
    }
    return new Promise((resolve, reject) => {
      this.pending.push({ frame: f, resolve, reject });
      if (!this.flushing) queueMicrotask(() => this.flush());
    });
  }

  put(key: string, value: Value): Promise<void> {
    return this.commit([{ key, value }]);
  }

  delete(key: string): Promise<void> {
    return this.commit([{ key }]);
  }

  private flush(): void {
    if (this.flushing || this.pending.length === 0) return;
    this.flushing = true;
    const batch = this.pending;
    this.pending = [];
    try {
      const data = Buffer.concat(batch.map((b) => b.frame));
      let written = 0;
      while (written < data.length) written += writeSync(this.fd, data, written, data.length - written, this.size + written);
      fsyncSync(this.fd); // one fsync for every commit in the batch
      this.size += data.length;
      for (const b of batch) b.resolve();
    } catch (e) {
      // After a failed write or fsync the memory map is ahead of the disk and the kernel may
      // have dropped the dirty pages: the only safe state is closed (reopen replays the disk).
      this.failed = e as Error;
      this.closed = true;
      for (const b of [...batch, ...this.pending]) b.reject(e as Error);
      this.pending = [];
    } finally {
      this.flushing = false;
    }
    if (this.size > this.compactBytes) this.maybeCompact();
    if (this.pending.length > 0) setImmediate(() => this.flush());
  }

  private maybeCompact(): void {
    const snapshot = frame(packr.pack([...this.map].map(([key, value]) => ({ key, value }))) as Buffer);
    if (this.size < 2 * snapshot.length) return;
    const tmp = `${this.journal}.compact`;
    writeFileSync(tmp, snapshot);
    const fd = openSync(tmp, 'r');
    fsyncSync(fd);
    closeSync(fd);
    renameSync(tmp, this.journal);
    fsyncDir(dirname(this.journal));
    closeSync(this.fd);
    this.fd = openSync(this.journal, 'r+');
    this.size = snapshot.length;
  }

  /** Waits for pending commits, then releases the file and the lock. */
  async close(): Promise<void> {
    if (this.closed) {
      if (this.failed) {
        try {
          closeSync(this.fd);
        } catch {
          // already closed
        }
        rmSync(this.lockPath, { force: true });
      }
      return;
    }
    while (this.pending.length > 0 || this.flushing) {
      this.flush();
      await new Promise((r) => setImmediate(r));
    }
    this.closed = true;
    closeSync(this.fd);
    rmSync(this.lockPath, { force: true });
  }
}
