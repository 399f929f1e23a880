// The seal service of a seal (or deal) miner: the sector store, the scheduler its workers
// connect to, and the pipeline, behind one HTTP listener that serves
//   WS   /rpc/v0/worker   the seal workers (protocol.ts)
//   POST /rpc/v0          the operator's JSON-RPC (bearer token): SectorsPledge, SectorsList,
//                          SectorsStatus, SectorsRemove, SealingJobs, SealingWorkers
// The seal role actor hosts it; `distminer sectors …` / `sealing …` talk to it.
import { timingSafeEqual } from 'node:crypto';
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { writeFileAtomic } from '../config/atomic.js';
import { formatApiMultiaddr } from '../config/multiaddr.js';
import { logger } from '../log.js';
import * as proofs from '../proofs/index.js';
import { KvStore } from '../store/kv.js';
import { type PipelineOptions, SealPipeline, type SectorRecord } from './pipeline.js';
import { Scheduler } from './scheduler.js';

/** File in the repo naming the seal service's listener (a multiaddr, like Lotus's `api`). */
export const SEAL_API_FILE = 'sealing-api';

/** The pipeline's options, minus what the service builds itself (store, scheduler). */
export interface SealServiceOptions extends Omit<PipelineOptions, 'store' | 'scheduler' | 'proof'> {
  repo: string;
  proof?: proofs.RegisteredSealProof;
  token: string;
  listen: { host: string; port: number };
  heartbeatMs?: number;
  reconnectGraceMs?: number;
}

/** A sector as `sectors list` / `sectors status` show it (no large blobs). */
export interface SectorView {
  number: number;
  state: string;
  worker: string | null;
  onChain: boolean;
  active: boolean;
  ticketEpoch: number | null;
  expiration: number | null;
  preCommitEpoch: number | null;
  seedEpoch: number | null;
  sealedCid: string | null;
  unsealedCid: string | null;
  deals: number[];
  retries: number;
  failure: string | null;
  sealedPath: string | null;
  log: { at: string; state: string; note?: string }[];
}

export function sectorView(r: SectorRecord): SectorView {
  const onChain = r.preCommitEpoch !== undefined || ['WaitSeed', 'Committing', 'SubmitCommit', 'CommitWait', 'FinalizeSector', 'Proving'].includes(r.state);
  return {
    number: r.number,
    state: r.state,
    worker: r.worker ?? null,
    onChain,
    active: r.state === 'Proving',
    ticketEpoch: r.ticketEpoch ?? null,
    expiration: r.expiration ?? null,
    preCommitEpoch: r.preCommitEpoch ?? null,
    seedEpoch: r.seedEpoch ?? null,
    sealedCid: r.commR ? proofs.commRToCid(Buffer.from(r.commR)) : null,
    unsealedCid: r.commD ? proofs.commDToCid(Buffer.from(r.commD)) : null,
    deals: r.dealIds ?? [],
    retries: r.retries,
    failure: r.failure ?? null,
    sealedPath: r.sealedPath ?? null,
    log: r.log.map((l) => ({ at: new Date(l.at).toISOString(), state: l.state, note: l.note })),
  };
}

export class SealService {
  readonly store: KvStore;
  readonly scheduler: Scheduler;
  readonly pipeline: SealPipeline;
  private server: Server | undefined;
  private readonly log = logger('seal-service');
  url = '';

  constructor(private readonly o: SealServiceOptions) {
    this.store = KvStore.open(join(o.repo, 'sealing'));
    this.scheduler = new Scheduler({ token: o.token, minerId: o.minerId, heartbeatMs: o.heartbeatMs, reconnectGraceMs: o.reconnectGraceMs });
    const { repo: _repo, token: _token, listen: _listen, heartbeatMs: _hb, reconnectGraceMs: _grace, ...pipeline } = o;
    this.pipeline = new SealPipeline({ ...pipeline, proof: o.proof ?? proofs.RegisteredSealProof.StackedDrg2KiBV1_1, store: this.store, scheduler: this.scheduler });
  }

  /** Listens, then resumes every unfinished sector. Returns the listener's host:port. */
  async start(): Promise<{ host: string; port: number }> {
    const server = createServer((req, res) => void this.http(req, res));
    this.scheduler.attach(server);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.o.listen.port, this.o.listen.host, () => resolve());
    });
    this.server = server;
    const a = server.address() as AddressInfo;
    this.url = `http://${this.o.listen.host}:${a.port}`;
    // Where `distminer sectors …` and the seal workers find this service.
    writeFileAtomic(join(this.o.repo, SEAL_API_FILE), `${formatApiMultiaddr({ host: this.o.listen.host, port: a.port })}\n`);
    this.pipeline.resume();
    this.log.info({ listen: `${this.o.listen.host}:${a.port}`, sectors: this.pipeline.list().length }, 'seal service started');
    return { host: this.o.listen.host, port: a.port };
  }

  private authorized(req: IncomingMessage): boolean {
    const h = req.headers.authorization ?? '';
    const m = /^Bearer (.+)$/.exec(h);
    if (!m) return false;
    const a = Buffer.from(m[1]);
    const b = Buffer.from(this.o.token);
    return a.length === b.length && timingSafeEqual(a, b);
  }

  private async http(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const reply = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    };
    if (req.method !== 'POST' || new URL(req.url ?? '/', 'http://x').pathname !== '/rpc/v0') return reply(404, { error: 'not found' });
    if (!this.authorized(req)) return reply(401, { jsonrpc: '2.0', id: null, error: { code: 401, message: 'missing or wrong bearer token' } });
    let body = '';
    for await (const c of req) {
      body += c;
      if (body.length > 1 << 20) return reply(413, { jsonrpc: '2.0', id: null, error: { code: -32600, message: 'request too large' } });
    }
    let call: { id?: unknown; method?: unknown; params?: unknown };
    try {
      call = JSON.parse(body) as typeof call;
    } catch {
      return reply(200, { jsonrpc: '2.0', id: null, error: { code: -32700, message: 'parse error' } });
    }
    const params = Array.isArray(call.params) ? call.params : [];
    try {
      const result = await this.dispatch(String(call.method), params);
      reply(200, { jsonrpc: '2.0', id: call.id ?? null, result });
    } catch (e) {
      reply(200, { jsonrpc: '2.0', id: call.id ?? null, error: { code: 1, message: (e as Error).message } });
    }
  }

  async dispatch(method: string, params: unknown[]): Promise<unknown> {
    const num = (x: unknown, what: string) => {
      if (typeof x !== 'number' || !Number.isSafeInteger(x) || x < 0) throw new Error(`${what} must be a non-negative integer`);
      return x;
    };
    switch (method) {
      case 'SectorsPledge':
        return this.pipeline.pledge(params.length ? num(params[0], 'count') : 1);
      case 'SectorsList':
        return this.pipeline.list().map((r) => {
          const v = sectorView(r);
          return { ...v, log: undefined };
        });
      case 'SectorsStatus': {
        const r = this.pipeline.get(num(params[0], 'sector number'));
        if (!r) throw new Error(`no sector ${String(params[0])} on this miner`);
        return sectorView(r);
      }
      case 'SectorsRemove':
        await this.pipeline.remove(num(params[0], 'sector number'));
        return true;
      case 'SealingJobs':
        return this.scheduler.jobs();
      case 'SealingWorkers':
        return this.scheduler.workerRows();
      default:
        throw new Error(`unknown method ${method}`);
    }
  }

  async stop(): Promise<void> {
    await this.pipeline.stopping();
    await this.scheduler.close();
    await this.pipeline.stop();
    if (this.server) await new Promise<void>((r) => this.server!.close(() => r()));
    await this.store.close();
  }
}
