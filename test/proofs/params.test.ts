// Parameters: a missing file is a clear error naming it and the command to run; generation is
// deterministic (digests match native/params-2k.json); kill -9 mid-generation never leaves a
// file that would pass for a complete one.
import test from 'ava';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { circuitFiles, manifest } from '../../src/proofs/params.js';

const main = fileURLToPath(new URL('../../main.js', import.meta.url));

test('a proof without parameters fails with the missing file names and what to run', (t) => {
  const empty = mkdtempSync(join(tmpdir(), 'dm-noparams-'));
  try {
    const script = `
      import * as p from ${JSON.stringify(new URL('../../src/proofs/index.js', import.meta.url).href)};
      try {
        await p.verifySeal({ proof: 5, commR: Buffer.alloc(32), commD: Buffer.alloc(32), proverId: Buffer.alloc(32), ticket: Buffer.alloc(32), seed: Buffer.alloc(32), sectorNumber: 1, proofBytes: Buffer.alloc(192) });
        console.log('NO ERROR');
      } catch (e) { console.log(JSON.stringify({ kind: e.kind, message: e.message, hint: e.hint })); }`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { env: { ...process.env, FIL_PROOFS_PARAMETER_CACHE: empty }, encoding: 'utf8' });
    const out = JSON.parse(r.stdout.trim()) as { kind: string; message: string; hint: string };
    t.is(out.kind, 'params');
    t.regex(out.message, /2KiB proof parameters are missing from .*v28-stacked-proof-of-replication-.*\.params/);
    t.regex(out.hint, /distminer params/);
  } finally {
    rmSync(empty, { recursive: true, force: true });
  }
});

test('generation is deterministic and kill -9 leaves no complete-looking file', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'dm-paramgen-'));
  const env = { ...process.env, FIL_PROOFS_PARAMETER_CACHE: dir };
  const files = circuitFiles('window-post');
  try {
    // Start generating, then kill the whole process group (CLI and native generator) mid-way.
    const child = spawn(process.execPath, [main, 'params', '--circuit', 'window-post'], { env, detached: true, stdio: 'ignore' });
    await new Promise((r) => setTimeout(r, 1500));
    process.kill(-child.pid!, 'SIGKILL');
    await new Promise((r) => child.on('close', r));
    t.false(existsSync(join(dir, files.params)), 'no .params file after a kill mid-generation');
    t.false(existsSync(join(dir, files.vk)));
    // Only a staging directory (or the lock) may be left; the next run starts over and finishes.
    t.true(readdirSync(dir).every((n) => n.startsWith('.')));
    const r = spawnSync(process.execPath, [main, 'params', '--circuit', 'window-post'], { env, encoding: 'utf8' });
    t.is(r.status, 0, r.stderr);
    t.regex(r.stderr, /window-post done in .*digests match the manifest/);
    const want = manifest();
    for (const name of [files.params, files.vk, files.meta]) {
      t.true(existsSync(join(dir, name)), name);
      t.truthy(want[name], `${name} is in the manifest`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
