// Child processes for integration tests: spawn, read their output line by line, wait for a
// line, kill -9, and make sure none outlives the test.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const MAIN = fileURLToPath(new URL('../../main.js', import.meta.url));

export class Proc {
  readonly child: ChildProcess;
  readonly lines: string[] = [];
  private waiters: (() => void)[] = [];
  /** Exited and its output all read ('close'; at 'exit' some may still be unread). */
  private closed = false;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(
    readonly name: string,
    args: string[],
    env: NodeJS.ProcessEnv = {},
    /** Also append every line here, as it comes (for a long run's post-mortem: the lines otherwise live only in this process). */
    logFile?: string,
  ) {
    const log = logFile ? createWriteStream(logFile, { flags: 'a' }) : undefined;
    this.child = spawn(process.execPath, args, { env: { ...process.env, DISTMINER_LOG_PRETTY: '0', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    all.add(this);
    // One line buffer per stream: a read can end inside a line, and stdout (command output)
    // and stderr (logs) must not be spliced into one line.
    const reader = () => {
      let buf = '';
      return (d: Buffer) => {
        buf += d.toString();
        let i;
        while ((i = buf.indexOf('\n')) >= 0) {
          this.lines.push(buf.slice(0, i));
          log?.write(`${buf.slice(0, i)}\n`);
          buf = buf.slice(i + 1);
        }
        this.waiters.splice(0).forEach((w) => w());
      };
    };
    this.child.stdout!.on('data', reader());
    this.child.stderr!.on('data', reader());
    this.child.on('close', () => {
      log?.end();
      this.closed = true;
      this.waiters.splice(0).forEach((w) => w());
    });
    this.exited = new Promise((resolve) =>
      this.child.on('exit', (code, signal) => {
        all.delete(this);
        this.waiters.splice(0).forEach((w) => w());
        resolve({ code, signal });
      }),
    );
  }

  /** Resolves with the first line (from now or already seen) matching `re`. */
  async waitFor(re: RegExp, timeoutMs = 60_000, from = 0): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (let seen = from; ;) {
      for (; seen < this.lines.length; seen++) if (re.test(this.lines[seen])) return this.lines[seen];
      if (this.closed) throw new Error(`${this.name} exited before printing ${re}; last lines:\n${this.lines.slice(-15).join('\n')}`);
      if (Date.now() > deadline) throw new Error(`${this.name}: no line matching ${re} within ${timeoutMs} ms; last lines:\n${this.lines.slice(-15).join('\n')}`);
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 200);
      });
    }
  }

  /** For a failed test's log: whether it still runs, and its last lines. */
  describe(n = 25): string {
    const state = this.child.exitCode !== null || this.child.signalCode !== null ? `exited (${this.child.exitCode ?? this.child.signalCode})` : 'running';
    return `${this.name}: ${state}; last lines:\n${this.lines.slice(-n).join('\n')}`;
  }

  /** JSON log lines (pino) matching a predicate. */
  logs(pred: (o: Record<string, unknown>) => boolean): Record<string, unknown>[] {
    const out: Record<string, unknown>[] = [];
    for (const l of this.lines) {
      if (!l.startsWith('{')) continue;
      try {
        const o = JSON.parse(l) as Record<string, unknown>;
        if (pred(o)) out.push(o);
      } catch {
        // not a log line
      }
    }
    return out;
  }

  async kill9(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    await this.exited;
  }

  /** Pauses the process (SIGSTOP: a host that hangs, as in a long GC pause or a frozen VM); its children run on. */
  freeze(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGSTOP');
  }

  thaw(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGCONT');
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGTERM');
    const t = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
    await this.exited;
    clearTimeout(t);
  }
}

const all = new Set<Proc>();

/** Kills every child still running (call from test.after.always / teardown). */
export async function killAll(): Promise<void> {
  await Promise.all([...all].map((p) => p.kill9()));
}

process.on('exit', () => {
  for (const p of all) p.child.kill('SIGKILL');
});

/**
 * Runs a command to its end without blocking this process's event loop (unlike spawnSync):
 * servers in this process keep answering, children's pipes keep draining, and a keep-alive
 * socket the peer closed meanwhile is seen closed before the next request would reuse it.
 */
export function exec(file: string, args: string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { encoding: 'utf8', env: opts.env ?? process.env, timeout: opts.timeoutMs ?? 0, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = (err as { code?: unknown } | null)?.code;
      resolve({ status: err ? (typeof code === 'number' ? code : null) : 0, stdout, stderr });
    });
  });
}

/** JSON-RPC call with a bearer token. */
export async function rpc<T>(url: string, token: string, method: string, params: unknown[] = []): Promise<T> {
  const res = await fetch(`${url}/rpc/v0`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
  }).catch((e: Error) => {
    // "fetch failed" alone says nothing: name the call and the cause (refused, reset, closed).
    throw new Error(`${method} at ${url}: ${(e.cause as Error | undefined)?.message ?? e.message}`, { cause: e });
  });
  const body = (await res.json()) as { result?: T; error?: { message: string } };
  if (body.error) throw new Error(body.error.message);
  return body.result as T;
}

export async function until<T>(f: () => Promise<T | undefined | false>, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await f().catch(() => undefined);
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}
