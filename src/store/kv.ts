// A small embedded transactional key-value store: the durable state of the seal pipeline,
// deals, and anything else that must survive `kill -9` and power loss.
//
// Design: an in-memory map, made durable by an append-only journal of msgpackr-encoded
// batches, fsynced before `commit` resolves, so a batch is all-or-nothing.
//
// Journal format 2: an 8-byte file header (MAGIC), then frames
//   [u32 length][u32 crc32(payload)][u32 crc32(the 8 bytes before)][payload]
// The header checks itself, so a damaged length is told apart from a torn tail. On open:
//   - an incomplete last frame (fewer bytes than its checked length says, or a partial
//     header), or a tail of zero bytes (blocks a power loss left unwritten), is a write that
//     was never acknowledged: it is cut off;
//   - anything else that fails a check (a header or payload checksum, an undecodable
//     payload) is damage to acknowledged data: open refuses with StoreCorruptError naming
//     the frame and byte offset, and changes nothing. `distminer store repair DIR` copies the
//     journal aside and cuts it at the last good frame.
// Format 1 (no file header, [u32 length][u32 crc32][payload]) is still read; its length is
// unchecked, so a torn-looking tail is copied aside before it is cut, and the journal is then
// rewritten in format 2.
//
// When the journal grows past a threshold it is compacted: a snapshot of the whole map is
// written to a temp file, fsynced, renamed over the journal, the directory fsynced. A failed
// compaction (a full disk) is logged and the old journal kept.
//
// A failed write or fsync rejects that batch's commits and undoes their changes in memory;
// the journal is cut back to its last durable size before the next write, and later commits
// are accepted (the store does not stay closed).
//
// Concurrent commits share one fsync (group commit). Single process only: flock(2) on `LOCK`
// (src/util/durable.ts) refuses a second opener, in this process or another.
import { closeSync, existsSync, fstatSync, fsyncSync, ftruncateSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, join } from 'node:path';
import { Packr } from 'msgpackr';
import { logger } from '../log.js';
import { type FileLock, LockHeldError, fsyncDir, lockFile, writeAllSync, writeFileAtomic } from '../util/durable.js';
import { FSYNC_BUCKETS, LiveSet, counter, gauge, histogram } from '../metrics/index.js';

const packr = new Packr({ useRecords: false, moreTypes: true, int64AsType: 'number' });
const log = logger('store');

// Metrics (src/metrics), labelled by the store's directory name ("deals", "sealing").
const kvCommits = counter({ name: 'distminer_kv_commits_total', help: 'Commits (write batches) to a KV store, by outcome (ok: durable; failed: rejected)', labelNames: ['store', 'outcome'] });
const kvFsync = histogram({ name: 'distminer_kv_fsync_seconds', help: 'Duration of the journal fsync of one group commit', labelNames: ['store'], buckets: FSYNC_BUCKETS });
const kvCompactions = counter({ name: 'distminer_kv_compactions_total', help: 'Journal compactions, by outcome (ok, failed: the old journal stays in use)', labelNames: ['store', 'outcome'] });
const liveStores = new LiveSet<KvStore>();
gauge({
  name: 'distminer_kv_journal_bytes',
  help: "Size of a KV store's journal (compacted when it passes the threshold)",
  labelNames: ['store'],
  collect() {
    this.reset();
    for (const st of liveStores) this.set({ store: st.metricName }, st.journalBytes);
  },
});

export type Value = unknown;
export interface Op {
  key: string;
  /** undefined deletes the key */
  value?: Value;
}

export class StoreCorruptError extends Error {
  constructor(
    message: string,
    /** Index of the first bad frame (0 = the first frame of the journal). */
    readonly frame?: number,
    /** Byte offset of that frame in the journal file. */
    readonly offset?: number,
  ) {
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

/** File header of format 2. Read as a format-1 length it would be ~4 GiB, so never ambiguous. */
export const MAGIC = Buffer.from([0xff, 0x44, 0x4d, 0x4b, 0x56, 0x4a, 0x02, 0x0a]); // \xff DMKVJ 2 \n
const HEADER = 12;

export function frame(payload: Buffer): Buffer {
  const h = Buffer.alloc(HEADER);
  h.writeUInt32BE(payload.length, 0);
  h.writeUInt32BE(crc32(payload), 4);
  h.writeUInt32BE(crc32(h.subarray(0, 8)), 8);
  return Buffer.concat([h, payload]);
}

function allZero(b: Uint8Array): boolean {
  for (let i = 0; i < b.length; i++) if (b[i] !== 0) return false;
  return true;
}

export interface JournalScan {
  version: 1 | 2;
  /** The good frames' decoded batches, in order. */
  batches: Op[][];
  /** Byte offset just after the last good frame (after the file header when there is none). */
  goodEnd: number;
  /** Bytes after goodEnd that are an unacknowledged (torn) tail; 0 when the file ends cleanly. */
  tornBytes: number;
  /** The file header is missing or partial (a new or just-created journal). */
  needsHeader: boolean;
  /** The first damaged frame, when there is one (then tornBytes is 0). */
  damage?: { frame: number; offset: number; why: string; bytesFrom: number };
}

/** Reads a journal image without changing anything (used by open and by repair). */
export function scanJournal(buf: Buffer): JournalScan {
  const batches: Op[][] = [];
  if (buf.length < MAGIC.length && MAGIC.subarray(0, buf.length).equals(buf)) {
    return { version: 2, batches, goodEnd: 0, tornBytes: 0, needsHeader: true };
  }
  const v2 = buf.length >= MAGIC.length && buf.subarray(0, MAGIC.length).equals(MAGIC);
  if (!v2) {
    // Format 1 must start with a whole, valid frame; anything else is a damaged file header
    // (a flipped bit in MAGIC must not make the whole journal read as one torn format-1 tail).
    const len0 = buf.length >= 8 ? buf.readUInt32BE(0) : -1;
    if (len0 < 0 || len0 > buf.length - 8 || crc32(buf.subarray(8, 8 + len0)) !== buf.readUInt32BE(4)) {
      return {
        version: 1,
        batches,
        goodEnd: 0,
        tornBytes: 0,
        needsHeader: false,
        damage: { frame: 0, offset: 0, why: 'starts with neither the format-2 file header nor a whole format-1 frame', bytesFrom: buf.length },
      };
    }
  }
  const header = v2 ? HEADER : 8;
  let off = v2 ? MAGIC.length : 0;
  let index = 0;
  const result = (extra: Partial<JournalScan>): JournalScan => ({ version: v2 ? 2 : 1, batches, goodEnd: off, tornBytes: 0, needsHeader: false, ...extra });
  const damaged = (why: string) => result({ damage: { frame: index, offset: off, why, bytesFrom: buf.length - off } });
  while (off < buf.length) {
    const rest = buf.length - off;
    if (rest < header) return result({ tornBytes: rest }); // a partial header at the tail
    const len = buf.readUInt32BE(off);
    const crc = buf.readUInt32BE(off + 4);
    if (v2 && crc32(buf.subarray(off, off + 8)) !== buf.readUInt32BE(off + 8)) {
      // Zeros to the end: blocks of an unfinished write that a power loss left unwritten.
      if (allZero(buf.subarray(off))) return result({ tornBytes: rest });
      return damaged('has a damaged header (its length field fails its checksum)');
    }
    if (len > rest - header) return result({ tornBytes: rest }); // the last write did not finish
    const payload = buf.subarray(off + header, off + header + len);
    if (crc32(payload) !== crc) {
      // Format 1 cannot check its length: a bad last frame may be a torn write.
      if (!v2 && off + header + len === buf.length) return result({ tornBytes: rest });
      return damaged('fails its checksum');
    }
    let ops: Op[];
    try {
      ops = packr.unpack(payload) as Op[];
      if (!Array.isArray(ops)) throw new Error('not a list of operations');
    } catch (e) {
      return damaged(`does not decode (${(e as Error).message})`);
    }
    batches.push(ops);
    off += header + len;
    index++;
  }
  return result({});
}

function corruptError(dir: string, d: NonNullable<JournalScan['damage']>): StoreCorruptError {
  return new StoreCorruptError(
    `store ${dir}: journal frame ${d.frame} at byte ${d.offset} ${d.why}; ${d.bytesFrom} bytes from there to the end of the file. ` +
      'Refusing to open (nothing was changed): an acknowledged write is damaged. Restore the directory from a backup, or run ' +
      `\`distminer store repair ${dir}\` to keep the ${d.frame} frame(s) before it (the journal is copied aside first).`,
    d.frame,
    d.offset,
  );
}

/** File operations the store uses for its journal appends (tests inject failures). */
export interface StoreIo {
  writeSync(fd: number, buf: Uint8Array, offset: number, length: number, position: number | null): number;
  fsyncSync(fd: number): void;
}

export interface StoreOptions {
  /** Compact when the journal exceeds this many bytes and twice the live data (default 8 MiB). */
  compactBytes?: number;
  /** For tests: replaces the journal's write and fsync. */
  io?: Partial<StoreIo>;
}

interface Pending {
  frame: Buffer;
  /** What each op replaced, to undo it in memory if the write fails: [key, had, old value]. */
  undo: [string, boolean, Value][];
  resolve: () => void;
  reject: (e: Error) => void;
}

export class KvStore {
  private map = new Map<string, Value>();
  private fd: number;
  /** Bytes of the journal that are durable (fsynced); the next frame is written here. */
  private size: number;
  private pending: Pending[] = [];
  private flushing = false;
  private closed = false;
  /** After a failed write: the journal may hold a partial frame past `size`; cut it first. */
  private needsCut = false;
  /** After a compaction's directory fsync failed: sync it before acknowledging anything. */
  private needsDirSync = false;
  /** No compaction attempt before the journal reaches this size (after a failed one). */
  private compactNotBefore = 0;
  private readonly compactBytes: number;
  private readonly journal: string;
  private readonly lock: FileLock;
  private readonly io: StoreIo;
  /** The `store` label of this store's metrics. */
  readonly metricName: string;
  private unlist?: () => void;

  get journalBytes(): number {
    return this.size;
  }

  private constructor(
    readonly dir: string,
    opts: StoreOptions,
  ) {
    this.compactBytes = opts.compactBytes ?? 8 * 1024 * 1024;
    this.io = { writeSync: opts.io?.writeSync ?? writeSync, fsyncSync: opts.io?.fsyncSync ?? fsyncSync };
    this.journal = join(dir, 'journal');
    this.metricName = basename(dir);
    mkdirSync(dir, { recursive: true });
    try {
      this.lock = lockFile(join(dir, 'LOCK'), `store ${dir}`);
    } catch (e) {
      if (e instanceof LockHeldError)
        throw new Error(`store ${dir} is in use by ${e.holderPid === undefined ? 'another process' : `process ${e.holderPid}`}${e.holderPid === process.pid ? ' (this process)' : ''}`, { cause: e });
      throw e;
    }
    try {
      this.replay();
      this.fd = openSync(this.journal, 'r+');
      this.size = fstatSync(this.fd).size;
    } catch (e) {
      this.lock.release();
      throw e;
    }
    this.unlist = liveStores.add(this);
  }

  /** Opens (creating if needed) the store in `dir`. Throws StoreCorruptError on damage. */
  static open(dir: string, opts: StoreOptions = {}): KvStore {
    return new KvStore(dir, opts);
  }

  private replay(): void {
    if (!existsSync(this.journal)) {
      writeFileAtomic(this.journal, MAGIC);
      return;
    }
    const buf = readFileSync(this.journal);
    const scan = scanJournal(buf);
    if (scan.damage) throw corruptError(this.dir, scan.damage);
    for (const ops of scan.batches) {
      for (const op of ops) {
        if (op.value === undefined) this.map.delete(op.key);
        else this.map.set(op.key, op.value);
      }
    }
    if (scan.version === 1) {
      if (scan.tornBytes > 0) {
        // Format 1 cannot tell a torn tail from a damaged length: keep the bytes for the operator.
        const aside = `${this.journal}.v1-tail-${Date.now()}`;
        writeFileAtomic(aside, buf);
        log.warn({ dir: this.dir, bytes: scan.tornBytes, at: scan.goodEnd, aside }, 'format-1 journal ends in an incomplete frame; cut it (the whole file is kept aside)');
      }
      closeSync(this.writeSnapshot().fd); // now in format 2
      log.info({ dir: this.dir, frames: scan.batches.length }, 'journal converted to format 2');
      return;
    }
    if (scan.needsHeader) {
      writeFileAtomic(this.journal, MAGIC);
      return;
    }
    if (scan.tornBytes > 0) {
      // Cut the unacknowledged tail so new frames follow a clean boundary.
      log.warn({ dir: this.dir, bytes: scan.tornBytes, at: scan.goodEnd }, 'journal ends in an unfinished write (never acknowledged); cutting it');
      const fd = openSync(this.journal, 'r+');
      try {
        ftruncateSync(fd, scan.goodEnd);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
    }
  }

  /** Replaces the journal by a snapshot of the map (atomically). Returns the open new journal. */
  private writeSnapshot(live: Buffer = this.packLive()): { fd: number; size: number } {
    const data = Buffer.concat([MAGIC, frame(live)]);
    const tmp = `${this.journal}.compact`;
    const fd = openSync(tmp, 'w+', 0o644);
    try {
      writeAllSync(fd, data, 0, this.io.writeSync);
      this.io.fsyncSync(fd);
      renameSync(tmp, this.journal);
    } catch (e) {
      closeSync(fd);
      rmSync(tmp, { force: true });
      throw e;
    }
    try {
      fsyncDir(this.dir);
    } catch (err) {
      // The rename is done but may not survive a power loss yet: sync before the next ack.
      log.error({ err, dir: this.dir }, 'fsync of the store directory failed after compaction; retrying before the next commit');
      this.needsDirSync = true;
    }
    return { fd, size: data.length };
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
   * A caller must not act on the change (answer a client, start work) before that. If the
   * write fails, the promise rejects and the change is undone in memory.
   */
  commit(ops: Op[]): Promise<void> {
    if (this.closed) return Promise.reject(new Error(`store ${this.dir} is closed`));
    // Encode first: a value msgpackr cannot encode must fail before anything changes.
    const f = frame(packr.pack(ops) as Buffer);
    const undo: Pending['undo'] = [];
    for (const op of ops) {
      undo.push([op.key, this.map.has(op.key), this.map.get(op.key)]);
      if (op.value === undefined) this.map.delete(op.key);
      else this.map.set(op.key, op.value);
    }
    return new Promise((resolve, reject) => {
      this.pending.push({ frame: f, undo, resolve, reject });
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
      if (this.needsCut) {
        // A failed write may have left part of a frame after the durable end.
        ftruncateSync(this.fd, this.size);
        this.io.fsyncSync(this.fd);
        this.needsCut = false;
      }
      if (this.needsDirSync) {
        fsyncDir(this.dir);
        this.needsDirSync = false;
      }
      const data = Buffer.concat(batch.map((b) => b.frame));
      this.needsCut = true; // until the fsync succeeded, bytes past `size` are not ours to keep
      writeAllSync(this.fd, data, this.size, this.io.writeSync);
      const t0 = process.hrtime.bigint();
      this.io.fsyncSync(this.fd); // one fsync for every commit in the batch
      kvFsync.observe({ store: this.metricName }, Number(process.hrtime.bigint() - t0) / 1e9);
      this.needsCut = false;
      this.size += data.length;
      kvCommits.inc({ store: this.metricName, outcome: 'ok' }, batch.length);
      for (const b of batch) b.resolve();
    } catch (e) {
      // Nothing of this batch is acknowledged: undo it in memory (newest first), so memory
      // matches the durable journal again; the journal is cut back before the next write.
      for (let i = batch.length - 1; i >= 0; i--) {
        const u = batch[i].undo;
        for (let j = u.length - 1; j >= 0; j--) {
          const [key, had, old] = u[j];
          if (had) this.map.set(key, old);
          else this.map.delete(key);
        }
      }
      kvCommits.inc({ store: this.metricName, outcome: 'failed' }, batch.length);
      log.error({ err: e, dir: this.dir, commits: batch.length }, 'journal write failed; these commits are rejected, later ones are tried again');
      for (const b of batch) b.reject(e as Error);
    } finally {
      this.flushing = false;
    }
    if (!this.needsCut && this.size > this.compactBytes && this.size >= this.compactNotBefore) this.maybeCompact();
    if (this.pending.length > 0) setImmediate(() => this.flush());
  }

  /** The whole map as one snapshot payload. */
  private packLive(): Buffer {
    return packr.pack([...this.map].map(([key, value]) => ({ key, value }))) as Buffer;
  }

  private maybeCompact(): void {
    const live = this.packLive();
    if (this.size < 2 * (live.length + HEADER + MAGIC.length)) return;
    let next: { fd: number; size: number };
    try {
      next = this.writeSnapshot(live);
    } catch (err) {
      // A full disk, say: the old journal is whole and stays in use. Try again after it grew.
      this.compactNotBefore = this.size + this.compactBytes;
      kvCompactions.inc({ store: this.metricName, outcome: 'failed' });
      log.error({ err, dir: this.dir, journalBytes: this.size }, 'journal compaction failed; keeping the old journal');
      return;
    }
    closeSync(this.fd);
    this.fd = next.fd;
    this.size = next.size;
    this.compactNotBefore = 0;
    kvCompactions.inc({ store: this.metricName, outcome: 'ok' });
  }

  /** Waits for pending commits, then releases the file and the lock. */
  async close(): Promise<void> {
    if (this.closed) return;
    while (this.pending.length > 0 || this.flushing) {
      this.flush();
      await new Promise((r) => setImmediate(r));
    }
    this.closed = true;
    this.unlist?.();
    if (this.needsCut) {
      try {
        ftruncateSync(this.fd, this.size);
        fsyncSync(this.fd);
      } catch (err) {
        log.error({ err, dir: this.dir }, 'could not cut a failed write off the journal; the next open cuts or refuses it');
      }
    }
    closeSync(this.fd);
    this.lock.release();
  }
}

// ------------------------------------------------------------------------------ repair

export interface RepairReport {
  /** Nothing to do: the journal is whole. */
  clean: boolean;
  framesKept: number;
  /** Where the first bad frame started (the cut), and why it is bad. */
  cutAt?: number;
  firstBadFrame?: number;
  why?: string;
  bytesDropped: number;
  /** The copy of the whole original journal. */
  aside?: string;
}

/**
 * `distminer store repair DIR`: for a journal that open refuses. Takes the store's lock,
 * copies the whole journal aside (journal.corrupt-<time>, fsynced), then cuts the journal at
 * the end of the last good frame. Everything after the first bad frame is dropped from the
 * store (and kept in the copy).
 */
export function repairJournal(dir: string): RepairReport {
  const lock = lockFile(join(dir, 'LOCK'), `distminer store repair ${dir}`);
  try {
    const path = join(dir, 'journal');
    const buf = readFileSync(path);
    const scan = scanJournal(buf);
    if (!scan.damage && scan.tornBytes === 0) return { clean: true, framesKept: scan.batches.length, bytesDropped: 0 };
    const aside = `${path}.corrupt-${new Date().toISOString().replace(/[:.]/g, '-')}`;
    writeFileAtomic(aside, buf, 0o600);
    const fd = openSync(path, 'r+');
    try {
      ftruncateSync(fd, scan.goodEnd);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    return {
      clean: false,
      framesKept: scan.batches.length,
      cutAt: scan.goodEnd,
      firstBadFrame: scan.batches.length,
      why: scan.damage?.why ?? 'is incomplete (a torn write)',
      bytesDropped: buf.length - scan.goodEnd,
      aside,
    };
  } finally {
    lock.release();
  }
}
