// Client of the sector-number server (`--sctype=get`): one persistent connection, requests
// pipelined on it, reconnect with exponential backoff, a deadline per request. An `alloc` is
// retried with the same request id after a lost connection or a retryable error, so the
// server answers the numbers it already committed instead of burning new ones. When the
// deadline passes the call throws (UNREACHABLE / DEADLINE_EXCEEDED): it never invents a number.
import { randomUUID } from 'node:crypto';
import { type Socket, connect } from 'node:net';
import { logger } from '../log.js';
import { DEFAULT_MAX_FRAME_BYTES, ErrorCode, FrameReader, type InfoReply, PROTOCOL_VERSION, SectorIdError, decodeBody, encodeFrame } from './protocol.js';
import type { Ranges } from './ranges.js';
import { parseHostPort } from './server.js';

const log = logger('sectorid-client');

export interface SectorIdClientOptions {
  /** HOST:PORT of the sector-number server. */
  address: string;
  token: string;
  /** Default deadline of one call, retries included (default 30 s). */
  deadlineMs?: number;
  connectTimeoutMs?: number;
  backoffMinMs?: number;
  backoffMaxMs?: number;
  maxFrameBytes?: number;
}

interface Waiter {
  resolve(reply: Record<string, unknown>): void;
  reject(e: Error): void;
}

class Conn {
  /** Waiters by request id (a list: the same id may be in flight twice). */
  readonly pending = new Map<string, Waiter[]>();
  closed = false;
  constructor(
    readonly sock: Socket,
    maxFrame: number,
    private readonly onClose: (c: Conn) => void,
  ) {
    const reader = new FrameReader(maxFrame);
    sock.on('data', (chunk: Buffer) => {
      try {
        for (const body of reader.push(chunk)) this.onReply(decodeBody(body) as Record<string, unknown>);
      } catch (e) {
        this.close(new SectorIdError(ErrorCode.BadFrame, `bad reply from the server: ${(e as Error).message}`));
      }
    });
    sock.on('error', (e) => this.close(e));
    sock.on('close', () => this.close(new Error('connection closed by the server')));
  }

  private onReply(r: Record<string, unknown>): void {
    if (typeof r !== 'object' || r === null) throw new Error('reply is not a map');
    const id = typeof r.id === 'string' ? r.id : '';
    const ws = this.pending.get(id);
    if (ws) {
      const w = ws.shift()!;
      if (ws.length === 0) this.pending.delete(id);
      w.resolve(r);
    } else if (r.ok === false) {
      // Connection-level error (idle timeout, connection limit, ...): fail everything here.
      this.close(new SectorIdError(String(r.code), String(r.message)));
    }
  }

  close(e: Error): void {
    if (this.closed) return;
    this.closed = true;
    this.sock.destroy();
    for (const ws of this.pending.values()) for (const w of ws) w.reject(e);
    this.pending.clear();
    this.onClose(this);
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class SectorIdClient {
  private conn: Conn | undefined;
  private connecting: Promise<Conn> | undefined;
  private failures = 0;
  private closed = false;
  private readonly host: string;
  private readonly port: number;
  private readonly deadlineMs: number;
  private readonly connectTimeoutMs: number;
  private readonly backoffMinMs: number;
  private readonly backoffMaxMs: number;
  private readonly maxFrame: number;
  /** Errors seen and retried (for tests and metrics). */
  retries = 0;

  constructor(private readonly opts: SectorIdClientOptions) {
    ({ host: this.host, port: this.port } = parseHostPort(opts.address));
    this.deadlineMs = opts.deadlineMs ?? 30_000;
    this.connectTimeoutMs = opts.connectTimeoutMs ?? 5_000;
    this.backoffMinMs = opts.backoffMinMs ?? 50;
    this.backoffMaxMs = opts.backoffMaxMs ?? 2_000;
    this.maxFrame = opts.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
  }

  get address(): string {
    return this.opts.address;
  }

  /** Allocate n fresh sector numbers (one round trip for the batch). */
  async allocate(n = 1, o: { requestId?: string; deadlineMs?: number } = {}): Promise<number[]> {
    const r = await this.call({ op: 'alloc', n }, { id: o.requestId, deadlineMs: o.deadlineMs, idempotent: true });
    const nums = r.numbers;
    if (!Array.isArray(nums) || nums.length !== n || !nums.every((x) => Number.isSafeInteger(x) && x >= 0)) {
      throw new SectorIdError(ErrorCode.BadFrame, `the server answered ${JSON.stringify(nums)?.slice(0, 80)} for ${n} number(s)`);
    }
    return nums as number[];
  }

  async ping(deadlineMs?: number): Promise<void> {
    await this.call({ op: 'ping' }, { deadlineMs, idempotent: true });
  }

  async info(deadlineMs?: number): Promise<InfoReply> {
    return (await this.call({ op: 'info' }, { deadlineMs, idempotent: true })).info as InfoReply;
  }

  async reserve(name: string, ranges: Ranges): Promise<void> {
    await this.call({ op: 'reserve', name, ranges }, { idempotent: false });
  }

  async free(name: string): Promise<void> {
    await this.call({ op: 'free', name }, { idempotent: false });
  }

  async setFloor(floor: number): Promise<InfoReply> {
    return (await this.call({ op: 'setFloor', floor }, { idempotent: false })).info as InfoReply;
  }

  private backoff(): number {
    const base = Math.min(this.backoffMaxMs, this.backoffMinMs * 2 ** Math.min(this.failures, 20));
    return base / 2 + Math.random() * (base / 2);
  }

  private getConn(deadline: number): Promise<Conn> {
    if (this.conn && !this.conn.closed) return Promise.resolve(this.conn);
    if (this.connecting) return this.connecting;
    this.connecting = new Promise<Conn>((resolve, reject) => {
      const sock = connect({ host: this.host, port: this.port, noDelay: true });
      const t = setTimeout(() => sock.destroy(new Error(`connect timed out after ${this.connectTimeoutMs} ms`)), Math.max(1, Math.min(this.connectTimeoutMs, deadline - Date.now())));
      sock.once('error', (e) => {
        clearTimeout(t);
        reject(e);
      });
      sock.once('connect', () => {
        clearTimeout(t);
        sock.removeAllListeners('error');
        const c = new Conn(sock, this.maxFrame, (dead) => {
          if (this.conn === dead) this.conn = undefined;
        });
        this.conn = c;
        resolve(c);
      });
    }).finally(() => {
      this.connecting = undefined;
    });
    return this.connecting;
  }

  private async call(fields: Record<string, unknown>, o: { id?: string; deadlineMs?: number; idempotent: boolean }): Promise<Record<string, unknown>> {
    if (this.closed) throw new SectorIdError(ErrorCode.ShuttingDown, 'the sector-number client is closed');
    const id = o.id ?? randomUUID();
    const deadline = Date.now() + (o.deadlineMs ?? this.deadlineMs);
    let lastErr: Error | undefined;
    let everConnected = false;
    for (;;) {
      const left = deadline - Date.now();
      if (left <= 0 || this.closed) break;
      let conn: Conn;
      try {
        conn = await this.getConn(deadline);
        everConnected = true;
        this.failures = 0;
      } catch (e) {
        lastErr = e as Error;
        this.failures++;
        this.retries++;
        await sleep(Math.min(this.backoff(), Math.max(0, deadline - Date.now())));
        continue;
      }
      let sent = false;
      try {
        const reply = await new Promise<Record<string, unknown>>((resolve, reject) => {
          const w: Waiter = {
            resolve: (r) => {
              clearTimeout(t);
              resolve(r);
            },
            reject: (e) => {
              clearTimeout(t);
              reject(e);
            },
          };
          const t = setTimeout(
            () => {
              const ws = conn.pending.get(id);
              const i = ws ? ws.indexOf(w) : -1;
              if (i >= 0) ws!.splice(i, 1);
              if (ws && ws.length === 0) conn.pending.delete(id);
              reject(new SectorIdError(ErrorCode.DeadlineExceeded, 'no reply before the deadline'));
            },
            Math.max(1, deadline - Date.now()),
          );
          const list = conn.pending.get(id);
          if (list) list.push(w);
          else conn.pending.set(id, [w]);
          sent = true;
          conn.sock.write(encodeFrame({ v: PROTOCOL_VERSION, id, token: this.opts.token, ...fields }));
        });
        if (reply.ok === true) return reply;
        const err = new SectorIdError(String(reply.code), String(reply.message));
        if (!err.retryable || (!o.idempotent && err.code !== ErrorCode.TooManyConnections)) throw err;
        lastErr = err;
      } catch (e) {
        if (e instanceof SectorIdError && !e.retryable && e.code !== ErrorCode.DeadlineExceeded) throw e;
        lastErr = e as Error;
        if (!o.idempotent && sent) {
          throw new SectorIdError(
            ErrorCode.Unreachable,
            `lost the connection to ${this.address} after sending ${String(fields.op)}; check with \`sectors numbers info\` whether it took effect (${lastErr.message})`,
          );
        }
      }
      this.retries++;
      this.failures++;
      log.debug({ id, err: lastErr?.message }, 'sector-number request failed; retrying');
      await sleep(Math.min(this.backoff(), Math.max(0, deadline - Date.now())));
    }
    const what = fields.op === 'alloc' ? 'no sector number was received' : 'the request did not complete';
    if (!everConnected) {
      throw new SectorIdError(ErrorCode.Unreachable, `the sector-number server ${this.address} is unreachable (${lastErr?.message ?? 'client closed'}); ${what}. Retry later.`);
    }
    throw new SectorIdError(
      ErrorCode.DeadlineExceeded,
      `no answer from the sector-number server ${this.address} before the deadline (last error: ${lastErr?.message ?? 'none'}); ${what}. Retry later (with the same request id to get the same numbers).`,
    );
  }

  async close(): Promise<void> {
    this.closed = true;
    this.conn?.close(new SectorIdError(ErrorCode.ShuttingDown, 'the sector-number client is closed'));
    await this.connecting?.catch(() => {});
    this.conn?.close(new SectorIdError(ErrorCode.ShuttingDown, 'the sector-number client is closed'));
  }
}
