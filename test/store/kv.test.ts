// The journal store: atomic batches, group commit, torn tails cut, real corruption refused
// (every single-bit flip), format-1 journals, repair, failed writes and a full disk survived,
// compaction, and kill -9 of a writing process never loses an acknowledged write.
import test from 'ava';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { appendFileSync, fsyncSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, statfsSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Packr } from 'msgpackr';
import { KvStore, MAGIC, StoreCorruptError, crc32 } from '../../src/store/kv.js';

const MAIN = join(resolve(fileURLToPath(new URL('../../..', import.meta.url))), 'dist/src/main.js');
const cli = (args: string[]) => spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8', env: { ...process.env, DISTMINER_LOG_LEVEL: 'warn' } });

const tmp = () => mkdtempSync(join(tmpdir(), 'dm-kv-'));

test('batches are atomic and survive reopen; deletes too', async (t) => {
  const dir = tmp();
  try {
    const s = KvStore.open(dir);
    await s.commit([
      { key: 'sector/1', value: { state: 'PreCommit1', n: 1n } },
      { key: 'sector/2', value: { state: 'Packing' } },
    ]);
    await s.delete('sector/2');
    await Promise.all(Array.from({ length: 100 }, (_, i) => s.put(`k/${String(i).padStart(3, '0')}`, i)));
    await s.close();
    const r = KvStore.open(dir);
    t.deepEqual(r.get('sector/1'), { state: 'PreCommit1', n: 1 });
    t.false(r.has('sector/2'));
    t.is(r.entries('k/').length, 100);
    t.is(r.entries('k/')[99][1], 99);
    await r.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a second opener is refused while the first is alive', async (t) => {
  const dir = tmp();
  try {
    const s = KvStore.open(dir);
    t.throws(() => KvStore.open(dir), { message: /in use by process/ });
    await s.close();
    const again = KvStore.open(dir);
    await again.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a torn tail is cut; damage before the tail refuses to open', async (t) => {
  const dir = tmp();
  try {
    const s = KvStore.open(dir);
    await s.put('a', 1);
    await s.put('b', 2);
    await s.close();
    const journal = join(dir, 'journal');
    const good = readFileSync(journal);
    appendFileSync(journal, Buffer.from([0, 0, 0, 50, 1, 2, 3])); // a half-written frame
    const r = KvStore.open(dir);
    t.is(r.get('b'), 2);
    t.deepEqual(readFileSync(journal), good, 'the torn tail is cut');
    await r.put('c', 3);
    await r.close();
    // Blocks of an unfinished write left as zeros by a power loss: a torn tail too.
    appendFileSync(journal, Buffer.alloc(4096));
    const z = KvStore.open(dir);
    t.is(z.get('c'), 3);
    await z.close();
    // Flip a byte inside the first frame's payload: an acknowledged write is damaged.
    const bad = Buffer.from(readFileSync(journal));
    bad[MAGIC.length + 12 + 2] ^= 0xff;
    writeFileSync(journal, bad);
    const e = t.throws(() => KvStore.open(dir), { instanceOf: StoreCorruptError, message: /frame 0 at byte 8 fails its checksum/ });
    t.is(e!.frame, 0);
    t.is(e!.offset, 8);
    t.deepEqual(readFileSync(journal), bad, 'nothing is changed');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('every single-bit flip in a journal is refused, naming the frame and offset, and keeps every byte', async (t) => {
  const dir = tmp();
  try {
    const s = KvStore.open(dir);
    await s.put('a', 'first');
    await s.put('b', { n: 2 });
    await s.put('c', 'third value');
    await s.close();
    const journal = join(dir, 'journal');
    const good = readFileSync(journal);
    // Frame starts: after the 8-byte file header, each frame is a 12-byte header + payload.
    const starts: number[] = [];
    for (let off = MAGIC.length; off < good.length; off += 12 + good.readUInt32BE(off)) starts.push(off);
    t.is(starts.length, 3);
    for (let i = 0; i < good.length; i++) {
      const bad = Buffer.from(good);
      bad[i] ^= 1 << (i % 8);
      writeFileSync(journal, bad);
      let err: unknown;
      try {
        const r = KvStore.open(dir);
        await r.close();
      } catch (e) {
        err = e;
      }
      if (!(err instanceof StoreCorruptError)) {
        t.fail(`a flipped bit at byte ${i} was not refused (${String(err)})`);
        continue;
      }
      const frameIdx = i < MAGIC.length ? 0 : starts.filter((st) => st <= i).length - 1;
      t.is(err.frame, frameIdx, `byte ${i}`);
      t.is(err.offset, i < MAGIC.length ? 0 : starts[frameIdx], `byte ${i}`);
      t.deepEqual(readFileSync(journal), bad, `byte ${i}: the journal is unchanged`);
    }
    writeFileSync(journal, good);
    const r = KvStore.open(dir);
    t.is(r.get('c'), 'third value');
    await r.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** A format-1 frame (the journal format before the file header): [u32 len][u32 crc][payload]. */
function v1Frame(ops: { key: string; value?: unknown }[]): Buffer {
  const payload = new Packr({ useRecords: false, moreTypes: true, int64AsType: 'number' }).pack(ops);
  const h = Buffer.alloc(8);
  h.writeUInt32BE(payload.length, 0);
  h.writeUInt32BE(crc32(payload), 4);
  return Buffer.concat([h, payload]);
}

test('a format-1 journal opens and is converted; its torn-looking tail is kept aside', async (t) => {
  const dir = tmp();
  try {
    const journal = join(dir, 'journal');
    const v1 = Buffer.concat([
      v1Frame([
        { key: 'a', value: 1 },
        { key: 'b', value: 2 },
      ]),
      v1Frame([{ key: 'b' }, { key: 'c', value: 'x' }]),
    ]);
    const withTail = Buffer.concat([v1, Buffer.from([0, 0, 0, 90, 9, 9])]);
    writeFileSync(journal, withTail);
    const s = KvStore.open(dir);
    t.deepEqual(s.entries(), [
      ['a', 1],
      ['c', 'x'],
    ]);
    await s.put('d', 4);
    await s.close();
    t.deepEqual(readFileSync(journal).subarray(0, MAGIC.length), MAGIC, 'rewritten in format 2');
    const aside = readdirSync(dir).filter((f) => f.startsWith('journal.v1-tail-'));
    t.is(aside.length, 1);
    t.deepEqual(readFileSync(join(dir, aside[0])), withTail, 'the whole format-1 file is kept');
    const r = KvStore.open(dir);
    t.deepEqual(r.entries(), [
      ['a', 1],
      ['c', 'x'],
      ['d', 4],
    ]);
    await r.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('`distminer store repair` copies the journal aside, cuts at the last good frame, says what it dropped', async (t) => {
  const dir = tmp();
  try {
    const s = KvStore.open(dir);
    await s.put('a', 1);
    await s.put('b', 2);
    await s.put('c', 3);
    await s.close();
    const journal = join(dir, 'journal');
    const bad = Buffer.from(readFileSync(journal));
    const second = MAGIC.length + 12 + bad.readUInt32BE(MAGIC.length);
    bad[second + 1] ^= 0x10; // the second frame's length field
    writeFileSync(journal, bad);
    t.throws(() => KvStore.open(dir), { instanceOf: StoreCorruptError, message: new RegExp(`frame 1 at byte ${second} has a damaged header.*distminer store repair`) });
    const check = cli(['store', 'check', dir]);
    t.is(check.status, 1);
    t.regex(check.stdout, /1 good frame\(s\), then frame 1/);
    const r = cli(['store', 'repair', dir]);
    t.is(r.status, 0, r.stderr);
    t.regex(r.stdout, new RegExp(`kept 1 frame\\(s\\), cut at byte ${second}: frame 1 has a damaged header.*dropped ${bad.length - second} bytes`));
    const aside = readdirSync(dir).filter((f) => f.startsWith('journal.corrupt-'));
    t.is(aside.length, 1);
    t.deepEqual(readFileSync(join(dir, aside[0])), bad, 'the original is kept byte for byte');
    t.is(readFileSync(journal).length, second);
    const o = KvStore.open(dir);
    t.deepEqual(o.entries(), [['a', 1]]);
    // The store is in use: repair refuses.
    const busy = cli(['store', 'repair', dir]);
    t.not(busy.status, 0);
    t.regex(busy.stderr, /held by process/);
    await o.close();
    t.is(cli(['store', 'repair', dir]).stdout.includes('nothing to repair'), true);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** An io whose next write fails half-way (ENOSPC after part of the data reached the file). */
function flakyIo() {
  const state = { failWrite: false, failFsync: false };
  const io = {
    writeSync(fd: number, buf: Uint8Array, off: number, len: number, pos: number): number {
      if (state.failWrite) {
        state.failWrite = false;
        writeSync(fd, buf, off, Math.max(1, len >> 1), pos);
        throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
      }
      return writeSync(fd, buf, off, len, pos);
    },
    fsyncSync(fd: number): void {
      if (state.failFsync) {
        state.failFsync = false;
        throw Object.assign(new Error('EIO: i/o error, fsync'), { code: 'EIO' });
      }
      fsyncSync(fd);
    },
  };
  return { state, io };
}

test('a failed write or fsync rejects its commits, undoes them in memory, and later commits work', async (t) => {
  const dir = tmp();
  try {
    const { state, io } = flakyIo();
    const s = KvStore.open(dir, { io });
    await s.put('keep', 1);
    await s.put('gone', 'x');
    state.failWrite = true;
    const batch = [s.commit([{ key: 'keep', value: 2 }, { key: 'gone' }]), s.put('new', 'n')];
    t.is(s.get('keep'), 2, 'visible before the write');
    for (const p of batch) await t.throwsAsync(p, { code: 'ENOSPC' });
    t.is(s.get('keep'), 1, 'undone in memory');
    t.is(s.get('gone'), 'x');
    t.false(s.has('new'));
    await s.put('after', 'a'); // the store is not closed for good
    state.failFsync = true;
    await t.throwsAsync(s.put('keep', 3), { code: 'EIO' });
    t.is(s.get('keep'), 1);
    await s.put('after2', 'b');
    await s.close();
    const r = KvStore.open(dir);
    t.deepEqual(r.entries(), [
      ['after', 'a'],
      ['after2', 'b'],
      ['gone', 'x'],
      ['keep', 1],
    ]);
    await r.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a full disk during compaction is logged, the old journal kept, and the store goes on', async (t) => {
  if (process.getuid?.() !== 0) {
    t.log('not root: cannot mount a small tmpfs; skipped');
    t.pass();
    return;
  }
  const base = tmp();
  const mnt = join(base, 'mnt');
  mkdirSync(mnt);
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=512k', 'tmpfs', mnt]);
  try {
    const dir = join(mnt, 'store');
    const s = KvStore.open(dir, { compactBytes: 32 * 1024 });
    const pad = (i: number, round: number) => ({ round, pad: String(i).repeat(3000) });
    const want = new Map<string, unknown>();
    const put = async (i: number, round: number) => {
      await s.put(`k${i}`, pad(i, round));
      want.set(`k${i}`, pad(i, round));
    };
    for (let i = 0; i < 10; i++) await put(i, 0);
    // Room for about 13 more appends of 3 KB, not for a 30 KB snapshot next to the journal.
    const st = statfsSync(mnt);
    writeFileSync(join(mnt, 'filler'), Buffer.alloc(Number(st.bavail) * Number(st.bsize) - 40 * 1024));
    let failed = 0;
    for (let round = 1; round <= 3; round++) {
      for (let i = 0; i < 10; i++) {
        try {
          await put(i, round);
        } catch (e) {
          t.is((e as NodeJS.ErrnoException).code, 'ENOSPC');
          failed++;
        }
      }
    }
    t.true(failed > 0, 'appends ran out of space too');
    t.false(
      readdirSync(dir).some((f) => f.includes('compact')),
      "the failed snapshot's temp file is removed",
    );
    for (const [k, v] of want) t.deepEqual(s.get(k), v);
    rmSync(join(mnt, 'filler'));
    for (let round = 4; round < 12; round++) for (let i = 0; i < 10; i++) await put(i, round);
    await s.close();
    t.true(statSync(join(dir, 'journal')).size < 100 * 1024, 'compacted once there was space');
    const r = KvStore.open(dir);
    t.is(r.entries().length, 10);
    for (const [k, v] of want) t.deepEqual(r.get(k), v);
    await r.close();
  } finally {
    execFileSync('umount', ['-l', mnt]);
    rmSync(base, { recursive: true, force: true });
  }
});

test('compaction keeps the journal small and the data whole', async (t) => {
  const dir = tmp();
  try {
    const s = KvStore.open(dir, { compactBytes: 64 * 1024 });
    for (let round = 0; round < 50; round++) {
      await Promise.all(Array.from({ length: 20 }, (_, i) => s.put(`k${i}`, { round, pad: 'x'.repeat(200) })));
    }
    await s.close();
    t.true(statSync(join(dir, 'journal')).size < 128 * 1024);
    const r = KvStore.open(dir);
    t.is(r.entries('k').length, 20);
    t.is((r.get('k7') as { round: number }).round, 49);
    await r.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('kill -9 while writing never loses an acknowledged write', async (t) => {
  const dir = tmp();
  const storeUrl = new URL('../../src/store/kv.js', import.meta.url).href;
  // The child commits counters and prints each one after its commit resolved.
  const script = `
    import { KvStore } from ${JSON.stringify(storeUrl)};
    const s = KvStore.open(process.argv[1], { compactBytes: 32 * 1024 });
    let n = s.get('n') ?? 0;
    for (;;) { n++; await s.commit([{ key: 'n', value: n }, { key: 'v/' + n, value: 'x'.repeat(100) }]); process.stdout.write(n + '\\n'); }`;
  try {
    let lastAcked = 0;
    for (let round = 0; round < 8; round++) {
      const child = spawn(process.execPath, ['--input-type=module', '-e', script, dir], { stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      await new Promise((r) => setTimeout(r, 150 + Math.random() * 200));
      child.kill('SIGKILL');
      await new Promise((r) => child.on('close', r));
      const acked = out.trim().split('\n').filter(Boolean).map(Number);
      if (acked.length) lastAcked = acked[acked.length - 1];
      const s = KvStore.open(dir);
      const n = s.get<number>('n') ?? 0;
      t.true(n >= lastAcked, `round ${round}: store has ${n}, ${lastAcked} was acknowledged`);
      for (let i = 1; i <= n; i++) if (!s.has(`v/${i}`)) t.fail(`v/${i} missing`);
      await s.close();
    }
    t.true(lastAcked > 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
