// A full disk while the devnet writes its state: the previous state.json stays whole (never a
// short write renamed over it), so the devnet starts again once there is space. Needs root
// for a small tmpfs (the real ENOSPC and the short write before it).
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Devnet } from '../../src/devnet/node.js';

test('a full disk during a snapshot leaves the previous state; the devnet starts again', async (t) => {
  if (process.getuid?.() !== 0) {
    t.log('not root: cannot mount a small tmpfs; skipped');
    t.pass();
    return;
  }
  const base = mkdtempSync(join(tmpdir(), 'dm-devnet-full-'));
  const mnt = join(base, 'mnt');
  mkdirSync(mnt);
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mnt]);
  try {
    const dir = join(mnt, 'devnet');
    // Ten miners make state.json ~23 KB, several pages, so a nearly full disk takes part of it.
    const opts = { dir, miners: 10, autoAdvance: false, blockDelayMs: 1000 };
    let d = await Devnet.open(opts);
    await d.advanceTo(3);
    const before = readFileSync(join(dir, 'state.json'), 'utf8');
    t.true(before.length > 3 * 4096);
    // Leave two pages: room for the epoch's chain record, not for the new state.json.
    const st = statfsSync(mnt);
    writeFileSync(join(mnt, 'filler'), Buffer.alloc(Number(st.bavail) * Number(st.bsize) - 2 * 4096));
    await t.throwsAsync(d.advance(), { code: 'ENOSPC' });
    await d.close();
    t.is(readFileSync(join(dir, 'state.json'), 'utf8'), before, 'state.json is the previous snapshot, whole');
    t.deepEqual(
      readdirSync(dir).filter((f) => f.includes('tmp')),
      [],
      'no temp file is left',
    );
    rmSync(join(mnt, 'filler'));
    d = await Devnet.open(opts);
    t.is(d.head().Height, 3);
    t.is((await d.advance()).Height, 4);
    await d.close();
  } finally {
    execFileSync('umount', ['-l', mnt]);
    rmSync(base, { recursive: true, force: true });
  }
});
