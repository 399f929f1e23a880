// A seal worker: connects to one miner, runs the tasks it is given with the real proofs on
// its own disk, reports results. Reconnects with backoff; keeps results it could not deliver
// and sends them after reconnecting; keeps its id across restarts so the miner can route the
// sectors on its disk back to it.
import { createHash, randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { writeFileAtomic } from '../util/durable.js';
import { logger } from '../log.js';
import {
  type MinerMsg,
  type Resources,
  type SectorId,
  TASK_TYPES,
  type TaskInput,
  type TaskOutput,
  encodeInput,
  type TaskType,
  WORKER_PROTOCOL_VERSION,
  type WorkerMsg,
  decodeMinerMsg,
  encode,
} from './protocol.js';
import { localSectors, runTask } from './tasks.js';

type Outcome = { ok: true; output: TaskOutput; ms: number } | { ok: false; error: string; ms: number };

/** Identifies one step of one sector with one input. */
function taskKey(s: SectorId, input: TaskInput): string {
  const h = createHash('sha256').update(JSON.stringify(s)).update(encodeInput(input)).digest('hex');
  return `${s.minerId}/${s.number}/${input.type}/${h.slice(0, 16)}`;
}

export interface WorkerOptions {
  /** ws://host:port/rpc/v0/worker */
  url: string;
  token: string;
  dir: string;
  taskTypes?: TaskType[];
  resources: Resources;
  /** Root that relative Finalize destinations are under (the shared long-term storage). */
  storageRoot?: string;
  reconnectMaxMs?: number;
}

export class SealWorker {
  readonly id: string;
  private ws: WebSocket | undefined;
  private stopped = false;
  /** Runs in progress by step key, with every task id waiting on each. */
  private runs = new Map<string, { ids: Set<string>; done: Promise<void> }>();
  private taskKeys = new Map<string, string>();
  /** Recent successful results by step key (a restarted miner asks again under a new id). */
  private finished = new Map<string, Outcome>();
  /** Results not yet sent on a live connection (sent again after a reconnect). */
  private outbox = new Map<string, WorkerMsg>();
  private heartbeat: NodeJS.Timeout | undefined;
  private backoff = 200;
  private readonly log = logger('worker');
  private sectorProofs = new Map<string, number>();

  constructor(private readonly opts: WorkerOptions) {
    mkdirSync(opts.dir, { recursive: true });
    const idFile = join(opts.dir, 'worker.json');
    if (existsSync(idFile)) {
      this.id = (JSON.parse(readFileSync(idFile, 'utf8')) as { id: string }).id;
    } else {
      this.id = `w-${randomUUID().slice(0, 8)}`;
      writeFileAtomic(idFile, JSON.stringify({ id: this.id }) + '\n');
    }
    const sp = join(opts.dir, 'sectors.json');
    if (existsSync(sp)) for (const [k, v] of Object.entries(JSON.parse(readFileSync(sp, 'utf8')) as Record<string, number>)) this.sectorProofs.set(k, v);
  }

  start(): void {
    this.connect();
  }

  private connect(): void {
    if (this.stopped) return;
    // The token goes in the upgrade's Authorization header: the miner checks it (it must
    // carry write) before the handshake completes.
    const ws = new WebSocket(this.opts.url, { maxPayload: 64 * 1024 * 1024, headers: { authorization: `Bearer ${this.opts.token}` } });
    this.ws = ws;
    ws.binaryType = 'nodebuffer';
    ws.on('open', async () => {
      const sectors = await localSectors(this.opts.dir, (n) => this.sectorProofs.get(n));
      this.send({
        t: 'hello',
        v: WORKER_PROTOCOL_VERSION,
        token: this.opts.token,
        workerId: this.id,
        hostname: hostname(),
        taskTypes: this.opts.taskTypes ?? TASK_TYPES,
        resources: this.opts.resources,
        sectors,
        running: [...this.taskKeys.keys()],
      });
    });
    ws.on('message', (data: Buffer) => {
      let m: MinerMsg;
      try {
        m = decodeMinerMsg(data);
      } catch (e) {
        this.log.error({ err: e }, 'malformed message from miner; reconnecting');
        ws.close(1002, 'malformed message');
        return;
      }
      this.onMessage(m);
    });
    ws.on('close', (code, reason) => {
      if (this.heartbeat) clearInterval(this.heartbeat);
      if (this.stopped) return;
      this.log.warn({ code, reason: reason.toString(), retryMs: this.backoff }, 'connection to miner lost; reconnecting');
      setTimeout(() => this.connect(), this.backoff);
      this.backoff = Math.min(this.backoff * 2, this.opts.reconnectMaxMs ?? 10_000);
    });
    ws.on('error', (err) => {
      // 401/403 at the upgrade: a wrong token or one without write. Retrying cannot help.
      const refused = /Unexpected server response: (401|403)\b/.exec(err.message);
      if (refused) {
        this.log.error(
          { status: Number(refused[1]), url: this.opts.url },
          refused[1] === '403'
            ? 'the miner refused this worker: its token lacks the write permission (make one with `distminer auth create-token --perm write`)'
            : "the miner refused this worker's token (not a token of this miner's repository)",
        );
        this.stopped = true;
        process.exitCode = 1;
        return;
      }
      this.log.debug({ err }, 'websocket error');
    });
  }

  private onMessage(m: MinerMsg): void {
    switch (m.t) {
      case 'welcome':
        this.backoff = 200;
        this.log.info({ worker: this.id, url: this.opts.url }, 'connected to miner');
        this.heartbeat = setInterval(() => this.send({ t: 'heartbeat', running: [...this.taskKeys.keys()] }), m.heartbeatMs);
        for (const r of this.outbox.values()) this.send(r);
        return;
      case 'refused':
        this.log.error({ reason: m.reason }, 'miner refused this worker');
        this.stopped = true;
        this.ws?.close();
        process.exitCode = 1;
        return;
      case 'ack':
        this.outbox.delete(m.taskId);
        return;
      case 'cancel':
        // Proofs cannot be interrupted mid-call; the result of a cancelled task is dropped.
        this.outbox.delete(m.taskId);
        return;
      case 'task': {
        if (this.taskKeys.has(m.taskId)) return; // re-sent after a reconnect: already on it
        const done = this.outbox.get(m.taskId);
        if (done) {
          this.send(done);
          return;
        }
        // The same step of the same sector with the same input (a restarted miner re-sends
        // its tasks under new ids): join the run in progress, or answer from the finished
        // one, instead of computing it twice over the same files.
        const key = taskKey(m.sector, m.input);
        this.taskKeys.set(m.taskId, key);
        const cached = this.finished.get(key);
        if (cached) {
          this.reply(m.taskId, cached);
          return;
        }
        const run = this.runs.get(key);
        if (run) {
          run.ids.add(m.taskId);
          return;
        }
        this.sectorProofs.set(`s-t0${m.sector.minerId}-${m.sector.number}`, m.sector.proof);
        writeFileAtomic(join(this.opts.dir, 'sectors.json'), JSON.stringify(Object.fromEntries(this.sectorProofs)));
        const ids = new Set([m.taskId]);
        this.runs.set(key, { ids, done: this.execute(key, ids, m.sector, m.input) });
        return;
      }
    }
  }

  private reply(taskId: string, r: Outcome): void {
    const msg: WorkerMsg = r.ok ? { t: 'result', taskId, ok: true, output: r.output, ms: r.ms } : { t: 'result', taskId, ok: false, error: r.error, ms: r.ms };
    this.taskKeys.delete(taskId);
    this.outbox.set(taskId, msg);
    // Bounded: very old undelivered results are dropped (the miner re-sends those tasks).
    if (this.outbox.size > 256) this.outbox.delete(this.outbox.keys().next().value!);
    this.send(msg);
  }

  private async execute(key: string, ids: Set<string>, sector: SectorId, input: Parameters<typeof runTask>[2]): Promise<void> {
    const started = Date.now();
    this.log.info({ task: input.type, sector: sector.number }, 'task started');
    let r: Outcome;
    try {
      const output = await runTask(this.opts.dir, sector, input, this.opts.storageRoot);
      r = { ok: true, output, ms: Date.now() - started };
      this.log.info({ task: input.type, sector: sector.number, ms: r.ms }, 'task done');
      this.finished.set(key, r);
      if (this.finished.size > 64) this.finished.delete(this.finished.keys().next().value!);
    } catch (e) {
      r = { ok: false, error: (e as Error).message, ms: Date.now() - started };
      this.log.warn({ task: input.type, sector: sector.number, err: r.error }, 'task failed');
    }
    this.runs.delete(key);
    for (const id of ids) this.reply(id, r);
  }

  private send(m: WorkerMsg): void {
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) return;
    ws.send(encode(m));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.ws?.close();
    await Promise.allSettled([...this.runs.values()].map((r) => r.done));
  }
}
