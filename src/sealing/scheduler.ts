// The miner side of the seal workers: accepts worker connections (WebSocket; the worker's token
// must carry `write`, checked from the upgrade's Authorization header before the handshake
// completes, so no frame of a stranger is ever read — src/net/http-server.ts),
// tracks their task types, resources and heartbeats, and hands tasks to them.
//
// Matching: a task goes to a connected worker that accepts its type and has the free
// resources it needs; steps that need the sector's files go to the worker holding them
// (affinity); Commit2 goes to a GPU worker when this miner has one. Later steps are served
// first (Finalize, Commit2, Commit1, PreCommit2, PreCommit1, AddPiece), so sectors finish
// before new ones start. No task is ever on two workers at once.
//
// Losing a worker: its tasks stay assigned for a grace period; if it reconnects (same id) it
// gets them again (it ignores ones it is still running). After the grace period, tasks that
// need its files fail with WorkerLostError (the pipeline restarts that sector elsewhere) and
// the others go back to the queue.
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { WebSocket, WebSocketServer } from 'ws';
import type { Auth } from '../auth/index.js';
import { logger } from '../log.js';
import { LiveSet, gauge } from '../metrics/index.js';
import { HttpService, type NetLimits, type UpgradeRoute, type Verify } from '../net/http-server.js';
import * as proofs from '../proofs/index.js';
import {
  FILE_BOUND,
  MAX_FRAME_BYTES,
  type MinerMsg,
  ProtocolError,
  type Resources,
  type SectorId,
  type TaskInput,
  type TaskOutput,
  type TaskType,
  WORKER_PROTOCOL_VERSION,
  decodeWorkerMsg,
  encode,
} from './protocol.js';

export const WORKER_PATH = '/rpc/v0/worker';

export class WorkerLostError extends Error {
  constructor(
    readonly workerId: string,
    taskType: TaskType,
  ) {
    super(`worker ${workerId} holding the sector's files is gone; ${taskType} cannot run elsewhere`);
    this.name = 'WorkerLostError';
  }
}

export class TaskFailedError extends Error {
  constructor(
    message: string,
    readonly workerId: string,
  ) {
    super(message);
    this.name = 'TaskFailedError';
  }
}

const ORDER: TaskType[] = ['Finalize', 'Commit2', 'Commit1', 'PreCommit2', 'PreCommit1', 'AddPiece'];

/** What a task needs from a worker. Sizes follow the measured 2KiB costs and Lotus's 32GiB table. */
export function taskNeeds(type: TaskType, sectorSize: number, w: Resources): Resources {
  const big = sectorSize >= 32 * 2 ** 30;
  const GiB = 2 ** 30;
  switch (type) {
    case 'AddPiece':
      return { cores: 1, memoryBytes: big ? 4 * GiB : 64 * 2 ** 20, gpus: 0 };
    case 'PreCommit1':
      return { cores: 1, memoryBytes: big ? 64 * GiB : 128 * 2 ** 20, gpus: 0 };
    case 'PreCommit2':
      return { cores: Math.min(w.cores, big ? 8 : 1), memoryBytes: big ? 16 * GiB : 128 * 2 ** 20, gpus: Math.min(w.gpus, 1) };
    case 'Commit1':
      return { cores: 1, memoryBytes: big ? 2 * GiB : 64 * 2 ** 20, gpus: 0 };
    case 'Commit2':
      // On a CPU a Commit2 uses every core (measured: 2.6 GiB peak at 2KiB).
      return { cores: w.gpus > 0 ? 1 : w.cores, memoryBytes: big ? (w.gpus > 0 ? 128 : 192) * GiB : 3 * GiB, gpus: Math.min(w.gpus, 1) };
    case 'Finalize':
      // Moving files, no computing: it must not wait behind a Commit2 holding every core, or
      // a sector already active on chain misses its first Window PoSt while its sealed file is
      // not yet on the shared storage the PoSt miners read (found by test/post/cluster.test.ts).
      return { cores: 0, memoryBytes: 64 * 2 ** 20, gpus: 0 };
  }
}

interface WorkerState {
  id: string;
  hostname: string;
  ws: WebSocket | undefined;
  taskTypes: Set<TaskType>;
  resources: Resources;
  used: Resources;
  sectors: SectorId[];
  lastHeartbeat: number;
  connectedAt: number;
  lostAt?: number;
  lostTimer?: NodeJS.Timeout;
}

interface Task {
  id: string;
  sector: SectorId;
  input: TaskInput;
  affinity?: string;
  enqueuedAt: number;
  assignedTo?: string;
  startedAt?: number;
  needs?: Resources;
  resolve(o: { output: TaskOutput; workerId: string }): void;
  reject(e: Error): void;
}

export interface JobRow {
  taskId: string;
  task: TaskType;
  sector: number;
  worker: string | null;
  state: 'queued' | 'running' | 'assigned (worker away)';
  sinceMs: number;
}

export interface WorkerRow {
  id: string;
  hostname: string;
  connected: boolean;
  taskTypes: TaskType[];
  resources: Resources;
  used: Resources;
  tasks: number;
  lastHeartbeatMsAgo: number;
}

export interface SchedulerOptions {
  /** Checks the workers' tokens (the repository's Auth): a worker needs `write`. */
  auth: Auth | Verify;
  heartbeatMs?: number;
  /** How long a vanished worker keeps its tasks before they are reassigned (default 30 s). */
  reconnectGraceMs?: number;
  /** Only this miner's sectors may be scheduled (a worker belongs to one miner). */
  minerId: number;
}

// Read at scrape time from the live schedulers of this thread (the seal role's).
const liveSchedulers = new LiveSet<Scheduler>();
gauge({
  name: 'distminer_seal_workers_connected',
  help: 'Seal workers connected to this seal miner now',
  collect() {
    let n = 0;
    for (const s of liveSchedulers) n += s.connectedWorkers();
    this.set(n);
  },
});

export class Scheduler {
  private readonly workers = new Map<string, WorkerState>();
  private readonly unlist: () => void;
  private readonly tasks = new Map<string, Task>();
  private readonly wss: WebSocketServer;
  private http: HttpService | undefined;
  private readonly log = logger('scheduler');
  private readonly heartbeatMs: number;
  private readonly graceMs: number;
  private readonly sweeper: NodeJS.Timeout;
  private closed = false;

  constructor(private readonly opts: SchedulerOptions) {
    this.heartbeatMs = opts.heartbeatMs ?? 2000;
    this.graceMs = opts.reconnectGraceMs ?? 30_000;
    this.wss = new WebSocketServer({ noServer: true, maxPayload: MAX_FRAME_BYTES });
    this.wss.on('connection', (ws, req) => this.onConnection(ws, req));
    this.sweeper = setInterval(() => this.sweep(), this.heartbeatMs);
    this.unlist = liveSchedulers.add(this);
  }

  /** Workers with an open connection now. */
  connectedWorkers(): number {
    let n = 0;
    for (const w of this.workers.values()) if (w.ws) n++;
    return n;
  }

  /** The worker endpoint, for the service's HttpService (`svc.upgrade(scheduler.upgradeRoute())`). */
  upgradeRoute(): UpgradeRoute {
    return {
      path: WORKER_PATH,
      perm: 'write',
      handle: (req, socket, head) => this.wss.handleUpgrade(req, socket, head, (ws) => this.wss.emit('connection', ws, req)),
    };
  }

  /** Serves workers on a listener of its own; resolves to the ws:// URL. */
  async listen(host: string, port: number, limits?: Partial<NetLimits>): Promise<string> {
    const http = new HttpService({
      name: 'seal-workers',
      verify: this.opts.auth,
      limits,
      notFound: (_req, res) => {
        res.writeHead(426, { 'content-type': 'text/plain' }).end(`seal workers connect with a WebSocket to ${WORKER_PATH}\n`);
      },
    });
    http.upgrade(this.upgradeRoute());
    const a = await http.listen(host, port);
    this.http = http;
    return `ws://${host}:${a.port}${WORKER_PATH}`;
  }

  private onConnection(ws: WebSocket, req: IncomingMessage): void {
    const peer = `${req.socket.remoteAddress}:${req.socket.remotePort}`;
    let worker: WorkerState | undefined;
    const helloTimer = setTimeout(() => this.refuse(ws, peer, 'no hello within 10 s'), 10_000);
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (!isBinary) return this.refuse(ws, peer, 'text frames are not part of the protocol');
      let m;
      try {
        m = decodeWorkerMsg(data);
      } catch (e) {
        return this.refuse(ws, peer, (e as ProtocolError).message);
      }
      if (!worker) {
        if (m.t !== 'hello') return this.refuse(ws, peer, 'the first message must be hello');
        clearTimeout(helloTimer);
        // The token was checked at the upgrade (it carries write); hello.token is not used.
        worker = this.register(ws, m);
        return;
      }
      switch (m.t) {
        case 'hello':
          return this.refuse(ws, peer, 'hello sent twice');
        case 'heartbeat':
          worker.lastHeartbeat = Date.now();
          return;
        case 'progress':
          this.log.debug({ worker: worker.id, taskId: m.taskId, note: m.note }, 'task progress');
          return;
        case 'result':
          return this.onResult(worker, m);
      }
    });
    ws.on('close', () => {
      clearTimeout(helloTimer);
      if (worker && worker.ws === ws) this.lost(worker, 'connection closed');
    });
    ws.on('error', (err) => this.log.debug({ peer, err }, 'worker socket error'));
  }

  private refuse(ws: WebSocket, peer: string, reason: string): void {
    this.log.warn({ peer, reason }, 'worker connection refused');
    if (ws.readyState === WebSocket.OPEN) ws.send(encode({ t: 'refused', reason } satisfies MinerMsg));
    ws.close(1008, reason.slice(0, 120));
  }

  private register(ws: WebSocket, m: Extract<ReturnType<typeof decodeWorkerMsg>, { t: 'hello' }>): WorkerState {
    let w = this.workers.get(m.workerId);
    if (w?.ws && w.ws !== ws) {
      this.log.warn({ worker: m.workerId }, 'worker reconnected while its old connection was open; replacing it');
      const old = w.ws;
      w.ws = undefined;
      old.close(1000, 'replaced by a new connection');
    }
    const now = Date.now();
    if (!w) {
      w = {
        id: m.workerId,
        hostname: m.hostname,
        ws,
        taskTypes: new Set(m.taskTypes),
        resources: m.resources,
        used: { cores: 0, memoryBytes: 0, gpus: 0 },
        sectors: m.sectors,
        lastHeartbeat: now,
        connectedAt: now,
      };
      this.workers.set(w.id, w);
    } else {
      Object.assign(w, { hostname: m.hostname, ws, taskTypes: new Set(m.taskTypes), resources: m.resources, sectors: m.sectors, lastHeartbeat: now, connectedAt: now, lostAt: undefined });
      if (w.lostTimer) clearTimeout(w.lostTimer);
    }
    ws.send(encode({ t: 'welcome', v: WORKER_PROTOCOL_VERSION, workerId: w.id, heartbeatMs: this.heartbeatMs }));
    this.log.info({ worker: w.id, hostname: m.hostname, taskTypes: m.taskTypes, resources: m.resources, sectorsOnDisk: m.sectors.length }, 'seal worker connected');
    // Tasks it held before going away: send again those it is not still running.
    const running = new Set(m.running);
    for (const t of this.tasks.values()) {
      if (t.assignedTo === w.id && !running.has(t.id)) this.send(w, t);
    }
    this.schedule();
    return w;
  }

  private onResult(w: WorkerState, m: Extract<ReturnType<typeof decodeWorkerMsg>, { t: 'result' }>): void {
    const t = this.tasks.get(m.taskId);
    if (!t || t.assignedTo !== w.id) {
      // A result for a task this worker does not hold (reassigned, cancelled, or forged).
      this.log.warn({ worker: w.id, taskId: m.taskId, holder: t?.assignedTo ?? null }, 'result for a task this worker does not hold; ignored');
      w.ws?.send(encode({ t: 'ack', taskId: m.taskId }));
      return;
    }
    if (m.ok && m.output.type !== t.input.type) {
      this.log.warn({ worker: w.id, taskId: m.taskId, expected: t.input.type, got: m.output.type }, 'result of the wrong task type; ignored');
      return;
    }
    this.release(w, t);
    this.tasks.delete(t.id);
    w.ws?.send(encode({ t: 'ack', taskId: t.id }));
    if (m.ok) t.resolve({ output: m.output, workerId: w.id });
    else t.reject(new TaskFailedError(`${t.input.type} of sector ${t.sector.number} failed on ${w.id}: ${m.error}`, w.id));
    this.schedule();
  }

  private release(w: WorkerState, t: Task): void {
    if (!t.needs) return;
    w.used.cores -= t.needs.cores;
    w.used.memoryBytes -= t.needs.memoryBytes;
    w.used.gpus -= t.needs.gpus;
    t.needs = undefined;
  }

  private lost(w: WorkerState, why: string): void {
    if (this.closed || (!w.ws && w.lostAt)) return;
    w.ws = undefined;
    w.lostAt = Date.now();
    const held = [...this.tasks.values()].filter((t) => t.assignedTo === w.id);
    this.log.warn({ worker: w.id, why, tasks: held.length, graceMs: this.graceMs }, 'seal worker lost');
    w.lostTimer = setTimeout(() => this.expire(w), this.graceMs);
  }

  /** The grace period ran out: give its tasks to others, or fail the file-bound ones. */
  private expire(w: WorkerState): void {
    if (w.ws) return;
    for (const t of [...this.tasks.values()]) {
      if (t.assignedTo !== w.id) continue;
      this.release(w, t);
      t.assignedTo = undefined;
      t.startedAt = undefined;
      if (FILE_BOUND.has(t.input.type)) {
        this.tasks.delete(t.id);
        t.reject(new WorkerLostError(w.id, t.input.type));
      } else {
        this.log.info({ taskId: t.id, task: t.input.type, sector: t.sector.number }, 'task requeued after its worker was lost');
      }
    }
    // Queued tasks pinned to it can no longer run either.
    for (const t of [...this.tasks.values()]) {
      if (t.affinity === w.id && !t.assignedTo) {
        this.tasks.delete(t.id);
        t.reject(new WorkerLostError(w.id, t.input.type));
      }
    }
    this.workers.delete(w.id);
    this.schedule();
  }

  private sweep(): void {
    const now = Date.now();
    for (const w of this.workers.values()) {
      if (w.ws && now - w.lastHeartbeat > 3 * this.heartbeatMs) {
        this.log.warn({ worker: w.id, silentMs: now - w.lastHeartbeat }, 'worker missed its heartbeats');
        const ws = w.ws;
        this.lost(w, 'heartbeat timeout');
        ws.terminate();
      }
    }
  }

  /** Runs `input` for `sector` on a suitable worker. Resolves with the output and where it ran. */
  run(sector: SectorId, input: TaskInput, affinity?: string): Promise<{ output: TaskOutput; workerId: string }> {
    if (this.closed) return Promise.reject(new Error('scheduler is closed'));
    if (sector.minerId !== this.opts.minerId) return Promise.reject(new Error(`sector of miner ${sector.minerId} on the scheduler of miner ${this.opts.minerId}`));
    for (const t of this.tasks.values()) {
      if (t.sector.number === sector.number && t.input.type === input.type) {
        return Promise.reject(new Error(`${input.type} of sector ${sector.number} is already scheduled (task ${t.id})`));
      }
    }
    return new Promise((resolve, reject) => {
      const t: Task = { id: randomUUID(), sector, input, affinity, enqueuedAt: Date.now(), resolve, reject };
      this.tasks.set(t.id, t);
      this.schedule();
    });
  }

  private fits(w: WorkerState, need: Resources): boolean {
    return w.used.cores + need.cores <= w.resources.cores && w.used.memoryBytes + need.memoryBytes <= w.resources.memoryBytes && w.used.gpus + need.gpus <= w.resources.gpus;
  }

  private schedule(): void {
    const queued = [...this.tasks.values()].filter((t) => !t.assignedTo).sort((a, b) => ORDER.indexOf(a.input.type) - ORDER.indexOf(b.input.type) || a.enqueuedAt - b.enqueuedAt);
    const gpuC2 = [...this.workers.values()].some((w) => w.taskTypes.has('Commit2') && w.resources.gpus > 0);
    for (const t of queued) {
      const size = proofs.sealProofSectorSize(t.sector.proof);
      const candidates = [...this.workers.values()].filter((w) => {
        if (!w.ws || !w.taskTypes.has(t.input.type)) return false;
        if (t.affinity && t.affinity !== w.id) return false;
        if (t.input.type === 'Commit2' && gpuC2 && w.resources.gpus === 0) return false;
        return this.fits(w, taskNeeds(t.input.type, size, w.resources));
      });
      if (candidates.length === 0) continue; // back-pressure: waits for a worker to free up
      // Least loaded first.
      candidates.sort((a, b) => a.used.cores / a.resources.cores - b.used.cores / b.resources.cores);
      const w = candidates[0];
      const need = taskNeeds(t.input.type, size, w.resources);
      w.used.cores += need.cores;
      w.used.memoryBytes += need.memoryBytes;
      w.used.gpus += need.gpus;
      t.needs = need;
      t.assignedTo = w.id;
      t.startedAt = Date.now();
      this.send(w, t);
    }
  }

  private send(w: WorkerState, t: Task): void {
    w.ws?.send(encode({ t: 'task', taskId: t.id, sector: t.sector, input: t.input }));
    this.log.info({ worker: w.id, taskId: t.id, task: t.input.type, sector: t.sector.number }, 'task assigned');
  }

  /** True when some connected worker accepts this task type. */
  acceptsAnywhere(type: TaskType): boolean {
    return [...this.workers.values()].some((w) => w.ws && w.taskTypes.has(type));
  }

  isConnected(workerId: string): boolean {
    return Boolean(this.workers.get(workerId)?.ws);
  }

  /** Known worker (connected, or away within its grace period). */
  isKnown(workerId: string): boolean {
    return this.workers.has(workerId);
  }

  jobs(): JobRow[] {
    const now = Date.now();
    return [...this.tasks.values()].map((t) => ({
      taskId: t.id,
      task: t.input.type,
      sector: t.sector.number,
      worker: t.assignedTo ?? null,
      state: !t.assignedTo ? 'queued' : this.workers.get(t.assignedTo)?.ws ? 'running' : 'assigned (worker away)',
      sinceMs: now - (t.startedAt ?? t.enqueuedAt),
    }));
  }

  workerRows(): WorkerRow[] {
    const now = Date.now();
    return [...this.workers.values()].map((w) => ({
      id: w.id,
      hostname: w.hostname,
      connected: Boolean(w.ws),
      taskTypes: [...w.taskTypes],
      resources: w.resources,
      used: { ...w.used },
      tasks: [...this.tasks.values()].filter((t) => t.assignedTo === w.id).length,
      lastHeartbeatMsAgo: now - w.lastHeartbeat,
    }));
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.sweeper);
    this.unlist();
    for (const w of this.workers.values()) {
      if (w.lostTimer) clearTimeout(w.lostTimer);
      w.ws?.close(1001, 'miner shutting down');
    }
    for (const t of this.tasks.values()) t.reject(new Error('scheduler closed'));
    this.tasks.clear();
    this.wss.close();
    if (this.http) await this.http.close();
  }
}
