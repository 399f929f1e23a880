// The crash-safe file and lock module: many starters racing for one lock (also over a lock
// file a dead process left) and exactly one wins; a SIGKILLed holder's lock is free at once;
// two opens in one process conflict; a write that hits a full disk leaves the old file whole.
import test from 'ava';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LockHeldError, lockFile, lockFileWait, writeFileAtomic, writeFileAtomicAsync } from '../../src/util/durable.js';

const tmp = () => mkdtempSync(join(tmpdir(), 'dm-durable-'));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const durableUrl = new URL('../../src/util/durable.js', import.meta.url).href;
const sectoridLockUrl = new URL('../../src/sectorid/lock.js', import.meta.url).href;
const kvUrl = new URL('../../src/store/kv.js', import.meta.url).href;

/**
 * A starter: loads everything, says "ready", waits for "go" on stdin, then tries to take the
 * lock the way its component does; prints "won" (and holds it for 1.5 s) or "lost".
 */
const STARTER: Record<string, string> = {
  file: `const { lockFile } = await import(${JSON.stringify(durableUrl)});
    take = () => lockFile(target + '/the.lock', 'racer ' + process.pid);`,
  sectorid: `const { lockRepo } = await import(${JSON.stringify(sectoridLockUrl)});
    take = () => lockRepo(target, 'racer ' + process.pid);`,
  kv: `const { KvStore } = await import(${JSON.stringify(kvUrl)});
    take = () => KvStore.open(target);`,
};

function starterScript(kind: string): string {
  return `
    const target = process.argv[1];
    let take;
    ${STARTER[kind]}
    process.stdout.write('ready\\n');
    process.stdin.once('data', async () => {
      try { await take(); process.stdout.write('won\\n'); await new Promise((r) => setTimeout(r, 1500)); process.exit(0); }
      catch (e) { process.stdout.write('lost ' + e.message.split('\\n')[0] + '\\n'); process.exit(0); }
    });`;
}

interface Racer {
  proc: ChildProcess;
  out: () => string;
  ready: Promise<void>;
  done: Promise<void>;
}

function startRacer(kind: string, target: string): Racer {
  const proc = spawn(process.execPath, ['--input-type=module', '-e', starterScript(kind), target], {
    stdio: ['pipe', 'pipe', 'inherit'],
    env: { ...process.env, DISTMINER_LOG_LEVEL: 'warn' },
  });
  let out = '';
  let readyResolve!: () => void;
  const ready = new Promise<void>((r) => (readyResolve = r));
  proc.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
    if (out.includes('ready')) readyResolve();
  });
  const done = new Promise<void>((r) => proc.on('close', () => r()));
  return { proc, out: () => out, ready, done };
}

/** A pid that is certainly dead: a child that has exited. */
function deadPid(): number {
  return Number(execFileSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }));
}

async function race(t: import('ava').ExecutionContext, kind: string, n: number, leftover: (target: string) => void): Promise<void> {
  const target = tmp();
  try {
    leftover(target);
    const racers = Array.from({ length: n }, () => startRacer(kind, target));
    await Promise.all(racers.map((r) => r.ready));
    // Every starter is loaded and waiting: release them together.
    for (const r of racers) r.proc.stdin!.write('go\n');
    await Promise.all(racers.map((r) => r.done));
    const outs = racers.map((r) => r.out());
    const won = outs.filter((o) => o.includes('won')).length;
    const lost = outs.filter((o) => o.includes('lost')).length;
    t.is(won, 1, `${kind}: ${won} of ${n} starters won the lock:\n${outs.join('')}`);
    t.is(lost, n - 1);
    // Losers were told who holds it (a loser that looked within microseconds of the take may
    // only know "another process").
    t.regex(
      outs.find((o) => o.includes('lost'))!,
      /(held by|in use by) (process \d+|another process)/,
    );
  } finally {
    rmSync(target, { recursive: true, force: true });
  }
}

const N = 40;

test(`${N} starters at once on a lock file a dead process left: exactly one wins`, async (t) => {
  await race(t, 'file', N, (dir) => writeFileSync(join(dir, 'the.lock'), `${deadPid()}\nold owner\n`));
});

test(`${N} sector-number starters at once on a stale sectorid.lock: exactly one wins`, async (t) => {
  await race(t, 'sectorid', N, (dir) => writeFileSync(join(dir, 'sectorid.lock'), `${deadPid()}\nsector-number server (killed)\n`));
});

test(`${N} journal-store openers at once on a stale LOCK: exactly one wins`, async (t) => {
  await race(t, 'kv', N, (dir) => writeFileSync(join(dir, 'LOCK'), String(deadPid())));
});

test("a SIGKILLed holder's lock is free at once; the file is kept and names the holder", async (t) => {
  const dir = tmp();
  try {
    const path = join(dir, 'the.lock');
    const holder = startRacer('file', dir);
    await holder.ready;
    holder.proc.stdin!.write('go\n');
    while (!holder.out().includes('won')) await sleep(10);
    const e = t.throws(() => lockFile(path, 'second'), { instanceOf: LockHeldError });
    t.is(e!.holderPid, holder.proc.pid);
    t.regex(e!.message, new RegExp(`held by process ${holder.proc.pid} \\(racer ${holder.proc.pid}\\)`));
    holder.proc.kill('SIGKILL');
    await holder.done;
    const l = lockFile(path, 'second'); // no waiting, no stale-lock logic
    t.regex(readFileSync(path, 'utf8'), new RegExp(`^${process.pid}\\nsecond\\n$`));
    l.release();
    t.true(statSync(path).isFile(), 'the lock file is never deleted');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("lockFileWait (the parameter generator's lock) waits for the holder, and gets it as soon as the holder dies", async (t) => {
  const dir = tmp();
  try {
    const holder = startRacer('file', dir);
    await holder.ready;
    holder.proc.stdin!.write('go\n');
    while (!holder.out().includes('won')) await sleep(10);
    let waitedFor: number | undefined;
    const started = Date.now();
    const got = lockFileWait(join(dir, 'the.lock'), 'waiter', { pollMs: 50, onWait: (h) => (waitedFor = h.holderPid) });
    await sleep(300);
    holder.proc.kill('SIGKILL');
    const l = await got;
    t.is(waitedFor, holder.proc.pid);
    t.true(Date.now() - started >= 300, 'it waited while the holder lived');
    l.release();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('two locks on one path in one process conflict; release frees it', (t) => {
  const dir = tmp();
  try {
    const path = join(dir, 'the.lock');
    const a = lockFile(path, 'first');
    const e = t.throws(() => lockFile(path, 'second'), { instanceOf: LockHeldError });
    t.regex(e!.message, /\(this process\) \(first\)/);
    a.release();
    a.release(); // idempotent
    lockFile(path, 'second').release();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('atomic writes: content and mode; a full disk leaves the old file whole and no temp file', async (t) => {
  const dir = tmp();
  try {
    const secret = join(dir, 'secret');
    writeFileAtomic(secret, 'k\n', 0o600);
    t.is(statSync(secret).mode & 0o777, 0o600);
    await writeFileAtomicAsync(join(dir, 'b'), Buffer.from('bb'));
    t.is(readFileSync(join(dir, 'b'), 'utf8'), 'bb');
    if (process.getuid?.() !== 0) {
      t.log('not root: the tmpfs full-disk part is skipped');
      return;
    }
    const mnt = join(dir, 'mnt');
    mkdirSync(mnt);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', mnt]);
    try {
      const state = join(mnt, 'state.json');
      const good = JSON.stringify({ height: 7, pad: 'x'.repeat(8000) });
      writeFileAtomic(state, good);
      await writeFileAtomicAsync(join(mnt, 'async.json'), good);
      // Fill the disk but for ~10 KiB, then try bigger writes: a short write, then ENOSPC.
      writeFileSync(join(mnt, 'filler'), Buffer.alloc(64 * 1024 - 3 * 8192 - 10 * 1024));
      const big = JSON.stringify({ height: 8, pad: 'y'.repeat(40_000) });
      t.throws(() => writeFileAtomic(state, big), { code: 'ENOSPC' });
      await t.throwsAsync(writeFileAtomicAsync(join(mnt, 'async.json'), big), { code: 'ENOSPC' });
      t.is(readFileSync(state, 'utf8'), good, 'the previous content is intact');
      t.is(readFileSync(join(mnt, 'async.json'), 'utf8'), good);
      t.deepEqual(readdirSync(mnt).sort(), ['async.json', 'filler', 'state.json'], 'no temp file is left');
    } finally {
      execFileSync('umount', ['-l', mnt]);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
