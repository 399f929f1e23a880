// Groth16 parameters: where they live, whether the ones a proof needs are there, and the
// deterministic 2KiB generator (`distminer params`).
//
// - Directory: $FIL_PROOFS_PARAMETER_CACHE, else ~/.cache/distminer/filecoin-proof-parameters.
// - 2KiB: generated here from fixed seeds (native/src/params.rs); every host gets identical
//   files, checked against native/params-2k.json.
// - Production sizes: the official files, usually in /var/tmp/filecoin-proof-parameters
//   (`lotus fetch-params`). If our directory lacks them and that one has them, they are
//   linked in; if neither has them, the error names the files.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { homedir } from 'node:os';
import { basename, join } from 'node:path';
import { loadAddon, repoRoot, type NativeAddon } from './native.js';
import { ProofsError, RegisteredPoStProof, RegisteredSealProof, postProofSectorSize, sealProofSectorSize, sectorSizeName } from './types.js';
import { lockFileWait } from '../util/durable.js';

export const OFFICIAL_PARAMETER_DIR = '/var/tmp/filecoin-proof-parameters';

export function parameterCacheDir(): string {
  return process.env.FIL_PROOFS_PARAMETER_CACHE || join(homedir(), '.cache', 'distminer', 'filecoin-proof-parameters');
}

let configured: NativeAddon | undefined;

/**
 * The addon, with the proofs library pointed at our parameter directory. The library reads
 * its settings once per process, so this must run before the first proof call; it sets the
 * variable inside the addon (C setenv), which also works from worker threads, whose
 * `process.env` is a private copy.
 */
export function configuredAddon(): NativeAddon {
  if (configured) return configured;
  const a = loadAddon();
  const threads = process.env.DISTMINER_NATIVE_THREADS ? Number(process.env.DISTMINER_NATIVE_THREADS) : undefined;
  a.configure({ parameterCache: parameterCacheDir(), threads });
  configured = a;
  return a;
}

export type Circuit = 'window-post' | 'winning-post' | 'porep';
export const CIRCUITS: Circuit[] = ['window-post', 'winning-post', 'porep'];

/** File names (params, vk, meta) of the 2KiB circuits, by asking the proofs library. */
export function circuitFiles(c: Circuit): { params: string; vk: string; meta: string } {
  const a = configuredAddon();
  const f =
    c === 'porep'
      ? a.sealParamFiles(RegisteredSealProof.StackedDrg2KiBV1_1)
      : a.postParamFiles(c === 'winning-post' ? RegisteredPoStProof.StackedDrgWinning2KiBV1 : RegisteredPoStProof.StackedDrgWindow2KiBV1_1);
  const params = basename(f.params);
  return { params, vk: basename(f.vk), meta: params.replace(/\.params$/, '.meta') };
}

const checked = new Set<string>();

/**
 * Throws a ProofsError naming the missing files (and what to run) unless the parameters and
 * verifying key the given proof type needs are present. Cheap after the first success.
 */
export function ensureParamsFor(p: { seal?: RegisteredSealProof; post?: RegisteredPoStProof }): void {
  const key = p.seal !== undefined ? `s${p.seal}` : `p${p.post}`;
  if (checked.has(key)) return;
  const a = configuredAddon();
  const f = p.seal !== undefined ? a.sealParamFiles(p.seal) : a.postParamFiles(p.post!);
  const size = p.seal !== undefined ? sealProofSectorSize(p.seal) : postProofSectorSize(p.post!);
  const dir = parameterCacheDir();
  const missing = [f.params, f.vk].filter((x) => !existsSync(x));
  if (missing.length > 0 && size !== 2048) linkOfficial(missing, dir);
  const still = [f.params, f.vk].filter((x) => !existsSync(x));
  if (still.length > 0) {
    const names = still.map((x) => basename(x)).join(', ');
    if (size === 2048) {
      throw new ProofsError(`2KiB proof parameters are missing from ${dir}: ${names}`, 'params', 'run `distminer params` (about 11 minutes on 2 cores, once per host)');
    }
    throw new ProofsError(
      `${sectorSizeName(size)} proof parameters are missing: ${names} (looked in ${dir} and ${OFFICIAL_PARAMETER_DIR})`,
      'params',
      `fetch the official parameters for ${sectorSizeName(size)} (e.g. \`lotus fetch-params ${sectorSizeName(size)}\`) into ${OFFICIAL_PARAMETER_DIR} or set FIL_PROOFS_PARAMETER_CACHE`,
    );
  }
  checked.add(key);
}

function linkOfficial(missing: string[], dir: string): void {
  if (dir === OFFICIAL_PARAMETER_DIR) return;
  for (const m of missing) {
    const src = join(OFFICIAL_PARAMETER_DIR, basename(m));
    if (existsSync(src)) {
      mkdirSync(dir, { recursive: true });
      try {
        symlinkSync(src, m);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      }
    }
  }
}

// ------------------------------------------------------------------ generation

export function nativeBinary(): string {
  return process.env.DISTMINER_NATIVE_BIN ?? join(repoRoot, 'build', 'Release', 'distminer-native');
}

export const MANIFEST_PATH = join(repoRoot, 'native', 'params-2k.json');

export function manifest(): Record<string, string> {
  return JSON.parse(readFileSync(MANIFEST_PATH, 'utf8')) as Record<string, string>;
}

export function circuitPresent(c: Circuit, dir = parameterCacheDir()): boolean {
  const f = circuitFiles(c);
  return [f.params, f.vk, f.meta].every((n) => existsSync(join(dir, n)));
}

export async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}

export interface GenerateOptions {
  circuits?: Circuit[];
  /** Called every few seconds while a circuit is being generated. */
  onProgress?: (c: Circuit, elapsedMs: number) => void;
  onDone?: (c: Circuit, elapsedMs: number, files: Record<string, string>) => void;
}

/** Typical generation time on 2 cores, for progress lines. */
export const EXPECTED_SECONDS: Record<Circuit, number> = { 'window-post': 6, 'winning-post': 22, porep: 600 };

/**
 * Generates the missing 2KiB circuits, one native process each (the PoRep one takes about
 * 10 minutes and 5 GiB). Digests are checked against the manifest: a mismatch means the
 * generator is no longer deterministic, and the files are removed rather than trusted.
 */
export async function generateParams(opts: GenerateOptions = {}): Promise<Circuit[]> {
  const dir = parameterCacheDir();
  mkdirSync(dir, { recursive: true });
  // (Before the flock lock this was a directory `.distminer-paramgen.lock`: a new name, so a
  // leftover one of those is harmless.)
  const release = await lock(join(dir, '.distminer-paramgen.flock'));
  const made: Circuit[] = [];
  try {
    const want = manifest();
    for (const c of opts.circuits ?? CIRCUITS) {
      if (circuitPresent(c, dir)) continue;
      const started = Date.now();
      const files = await runGenerator(c, dir, (ms) => opts.onProgress?.(c, ms));
      for (const [name, digest] of Object.entries(files)) {
        if (want[name] !== undefined && want[name] !== digest) {
          for (const n of Object.keys(files)) rmSync(join(dir, n), { force: true });
          throw new ProofsError(`generated ${name} has sha256 ${digest}, the manifest says ${want[name]}: parameter generation is not deterministic on this host`, 'params');
        }
      }
      opts.onDone?.(c, Date.now() - started, files);
      made.push(c);
    }
  } finally {
    release();
  }
  return made;
}

function runGenerator(c: Circuit, dir: string, tick: (ms: number) => void): Promise<Record<string, string>> {
  return new Promise((resolve, reject) => {
    const bin = nativeBinary();
    if (!existsSync(bin)) {
      reject(new ProofsError(`the native helper ${bin} is not built`, 'caller', 'run `npm run build:native`'));
      return;
    }
    const started = Date.now();
    const child = spawn(bin, ['paramgen', '--dest', dir, '--circuit', c], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const timer = setInterval(() => tick(Date.now() - started), 5000);
    child.on('error', (e) => {
      clearInterval(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearInterval(timer);
      if (code !== 0) {
        reject(new ProofsError(`parameter generation for ${c} failed (${signal ?? `exit ${code}`}): ${err.trim().split('\n').slice(-3).join(' | ')}`, 'params'));
        return;
      }
      try {
        const line = out.trim().split('\n').pop() ?? '{}';
        resolve((JSON.parse(line) as { files: Record<string, string> }).files);
      } catch (e) {
        reject(new ProofsError(`parameter generator printed no result: ${String(e)}`, 'params'));
      }
    });
  });
}

/** Checks every 2KiB file against the manifest (reads about 1.2 GiB). */
export async function verifyParams(dir = parameterCacheDir()): Promise<{ ok: boolean; problems: string[] }> {
  const want = manifest();
  const problems: string[] = [];
  for (const [name, digest] of Object.entries(want)) {
    const p = join(dir, name);
    if (!existsSync(p)) {
      problems.push(`${name}: missing`);
      continue;
    }
    const got = await sha256File(p);
    if (got !== digest) problems.push(`${name}: sha256 ${got}, expected ${digest}`);
  }
  return { ok: problems.length === 0, problems };
}

/**
 * One generator per parameter directory, across processes: flock(2) on a lock file (released
 * by the kernel when the holder dies, so never stale); a second caller waits for the first.
 */
async function lock(path: string): Promise<() => void> {
  const l = await lockFileWait(path, 'distminer params (generating)', { pollMs: 1000 });
  return () => l.release();
}
