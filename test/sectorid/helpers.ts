// Helpers for the sector-number tests: temp repos, the server as a child process, a
// throw-away PostgreSQL cluster (scripts/postgres-test.sh), raw socket exchanges.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Auth, KEYSTORE_DIR, secretPath } from '../../src/auth/index.js';
import { FrameReader, decodeBody } from '../../src/sectorid/protocol.js';

const run = promisify(execFile);
export const ROOT = resolve(fileURLToPath(new URL('../../..', import.meta.url)));
export const MAIN = join(ROOT, 'dist/src/main.js');
// One API secret per test process: in-process servers get AUTH, spawned ones find it in their
// repo (writeSecret). TOKEN is an admin token; READ/WRITE carry only those levels.
const SECRET = randomBytes(32);
export const AUTH = new Auth(SECRET);
export const TOKEN = AUTH.issue('admin');
export const WRITE_TOKEN = AUTH.issue('write');
export const READ_TOKEN = AUTH.issue('read');

/** Put the test secret where `repoAuth(repo)` (the server process) reads it. */
export function writeSecret(repo: string): void {
  mkdirSync(join(repo, KEYSTORE_DIR), { recursive: true });
  writeFileSync(secretPath(repo), JSON.stringify({ Type: 'jwt-hmac-secret', PrivateKey: SECRET.toString('base64') }), { mode: 0o600 });
}

export function tmpDir(prefix = 'sectorid-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export function cleanup(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Throws if any number repeats; returns the sorted list. */
export function assertDistinct(nums: number[]): number[] {
  const sorted = [...nums].sort((a, b) => a - b);
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i] === sorted[i - 1]) throw new Error(`sector number ${sorted[i]} was handed out twice`);
  }
  return sorted;
}

export interface ChildServer {
  proc: ChildProcess;
  address: string;
  stderr(): string;
  kill9(): Promise<void>;
  stop(): Promise<void>;
}

/** Start `distminer sectorid serve` as a child process and wait until it listens. */
export async function spawnServer(args: string[], repo: string, timeoutMs = 15_000): Promise<ChildServer> {
  writeSecret(repo);
  const ready = join(repo, `ready-${Date.now()}-${Math.random().toString(16).slice(2)}`);
  const proc = spawn(process.execPath, [MAIN, 'sectorid', 'serve', '--repo', repo, '--ready-file', ready, ...args], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, DISTMINER_LOG_LEVEL: 'warn', DISTMINER_LOG_PRETTY: '0' },
  });
  let err = '';
  proc.stderr!.on('data', (d: Buffer) => {
    err += d.toString();
  });
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  const started = Date.now();
  while (!existsSync(ready)) {
    if (proc.exitCode !== null || proc.signalCode !== null) throw new Error(`server exited (${proc.exitCode ?? proc.signalCode}): ${err}`);
    if (Date.now() - started > timeoutMs) {
      proc.kill('SIGKILL');
      throw new Error(`server did not start in ${timeoutMs} ms: ${err}`);
    }
    await sleep(10);
  }
  const address = readFileSync(ready, 'utf8').trim();
  rmSync(ready, { force: true });
  return {
    proc,
    address,
    stderr: () => err,
    async kill9() {
      proc.kill('SIGKILL');
      await exited;
    },
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      await exited;
    },
  };
}

/** Run the CLI to completion. */
export async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run(process.execPath, [MAIN, ...args], { env: { ...process.env, DISTMINER_LOG_LEVEL: 'warn', DISTMINER_LOG_PRETTY: '0' } });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const x = e as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof x.code === 'number' ? x.code : 1, stdout: x.stdout ?? '', stderr: x.stderr ?? '' };
  }
}

/**
 * Send raw bytes on a fresh connection, half-close, and collect every reply frame until the
 * server closes. Resolves {replies, closedByServer}.
 */
export function rawExchange(address: string, bytes: Buffer, o: { end?: boolean; timeoutMs?: number } = {}): Promise<{ replies: Array<Record<string, unknown>>; closed: boolean }> {
  const i = address.lastIndexOf(':');
  return new Promise((resolvePromise, reject) => {
    const sock = connect({ host: address.slice(0, i), port: Number(address.slice(i + 1)) });
    const reader = new FrameReader(1 << 20);
    const replies: Array<Record<string, unknown>> = [];
    const t = setTimeout(() => {
      sock.destroy();
      resolvePromise({ replies, closed: false });
    }, o.timeoutMs ?? 5_000);
    sock.on('data', (d: Buffer) => {
      for (const b of reader.push(d)) replies.push(decodeBody(b) as Record<string, unknown>);
    });
    sock.on('error', (e) => {
      if ((e as NodeJS.ErrnoException).code === 'ECONNRESET' || (e as NodeJS.ErrnoException).code === 'EPIPE') return;
      clearTimeout(t);
      reject(e);
    });
    sock.on('close', () => {
      clearTimeout(t);
      resolvePromise({ replies, closed: true });
    });
    sock.on('connect', () => {
      sock.write(bytes);
      if (o.end !== false) sock.end();
    });
  });
}

export interface Pg {
  url: string;
  dir: string;
  restart(): Promise<void>;
  kill(): Promise<void>;
  /** SIGSTOP the server and its backends: a database that hangs rather than refuses. */
  freeze(): Promise<void>;
  thaw(): Promise<void>;
  start(): Promise<void>;
  stop(): Promise<void>;
}

const SCRIPT = join(ROOT, 'scripts/postgres-test.sh');

/** A throw-away PostgreSQL cluster (installed by the script if missing). Call stop() at the end. */
export async function startPostgres(): Promise<Pg> {
  const dir = tmpDir('sectorid-pg-');
  const start = async () => {
    await run('bash', [SCRIPT, 'start', join(dir, 'pg')], { timeout: 300_000 });
  };
  const { stdout } = await run('bash', [SCRIPT, 'start', join(dir, 'pg')], { timeout: 300_000 });
  const url = stdout.trim().split('\n').pop()!;
  return {
    url,
    dir,
    start,
    restart: async () => {
      await run('bash', [SCRIPT, 'restart', join(dir, 'pg')], { timeout: 120_000 });
    },
    kill: async () => {
      await run('bash', [SCRIPT, 'kill', join(dir, 'pg')], { timeout: 120_000 });
    },
    freeze: async () => {
      await run('bash', [SCRIPT, 'freeze', join(dir, 'pg')], { timeout: 30_000 });
    },
    thaw: async () => {
      await run('bash', [SCRIPT, 'thaw', join(dir, 'pg')], { timeout: 30_000 });
    },
    stop: async () => {
      // A test that failed while the server was frozen must not leave it unstoppable.
      await run('bash', [SCRIPT, 'thaw', join(dir, 'pg')], { timeout: 30_000 }).catch(() => {});
      await run('bash', [SCRIPT, 'stop', join(dir, 'pg')], { timeout: 120_000 }).catch(() => {});
      cleanup(dir);
    },
  };
}

export function writeJson(path: string, v: unknown): void {
  // Renamed into place so a server reading it concurrently never sees half a file.
  writeFileSync(`${path}.tmp`, JSON.stringify(v));
  renameSync(`${path}.tmp`, path);
}
