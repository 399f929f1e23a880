// The journal store: atomic batches, group commit, torn tails cut, real corruption refused,
// compaction, and kill -9 of a writing process never loses an acknowledged write.
import test from 'ava';
import { spawn } from 'node:child_process';
import { appendFileSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KvStore, StoreCorruptError } from '../../src/store/kv.js';

const tmp = () => mkdtempSync(join(tmpdir(), 'dm-kv-'));

test('batches are atomic and survive reopen; deletes too', async (t) => {
  const dir = tmp();
  try {
    const s = KvStore.open(dir);
    await s.commit([{ key: 'sector/1', value: { state: 'PreCommit1', n: 1n } }, { key: 'sector/2', value: { state: 'Packing' } }]);
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
    await r.put('c', 3);
    await r.close();
    t.is(KvStore.open(dir).get('c'), 3);
    rmSync(join(dir, 'LOCK'));
    // Flip a byte inside the first frame: an acknowledged write is damaged.
    const bad = Buffer.from(readFileSync(journal));
    bad[10] ^= 0xff;
    writeFileSync(journal, bad);
    t.throws(() => KvStore.open(dir), { instanceOf: StoreCorruptError, message: /frame at byte 0 fails its checksum/ });
    t.true(good.length > 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
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
