// The seal service of a seal (or deal) miner: the sector store, the scheduler its workers
// connect to, and the pipeline, behind one HTTP listener (src/net's hardened server) that serves
//   WS   /rpc/v0/worker   the seal workers (protocol.ts); their token needs `write`
//   POST /rpc/v0          the operator's JSON-RPC (Lotus JWT, bearer): SectorsList,
//                          SectorsStatus, SealingJobs, SealingWorkers (read); SectorsPledge,
//                          SectorsPledgeDeals, SectorsRetry (write); SectorsRemove (admin)
// The seal role actor hosts it; `distminer sectors …` / `sealing …` talk to it.
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Auth, Permission } from '../auth/index.js';
import { HttpService, type NetLimits } from '../net/http-server.js';
import { JsonRpcMethods, RpcError } from '../net/json-rpc.js';
import { listenSticky, portFromAddressFile } from '../util/listen.js';
import { writeFileAtomic } from '../util/durable.js';
import { formatApiMultiaddr } from '../config/multiaddr.js';
import { logger } from '../log.js';
import * as proofs from '../proofs/index.js';
import { cidBytes } from '../chain/cid.js';
import { KvStore } from '../store/kv.js';
import { type PipelineOptions, SealPipeline, type SectorRecord } from './pipeline.js';
import type { PieceSource } from './protocol.js';
import { Scheduler } from './scheduler.js';
import { SEAL_API_FILE, SECTOR_NOT_FOUND } from './client.js';

/** The pipeline's options, minus what the service builds itself (store, scheduler). */
export interface SealServiceOptions extends Omit<PipelineOptions, 'store' | 'scheduler' | 'proof'> {
  repo: string;
  proof?: proofs.RegisteredSealProof;
  /** Verifies the tokens of the operator's calls and of the seal workers (the repository's). */
  auth: Auth;
  /** Limits of the listener (tests shrink the deadlines); see src/net/http-server.ts. */
  netLimits?: Partial<NetLimits>;
  listen: { host: string; port: number };
  heartbeatMs?: number;
  reconnectGraceMs?: number;
}

/** A sector as `sectors list` / `sectors status` show it (no large blobs). */
export interface SectorView {
  number: number;
  state: string;
  /** abi.RegisteredSealProof. */
  sealProof: number;
  worker: string | null;
  onChain: boolean;
  active: boolean;
  ticketEpoch: number | null;
  /** The ticket and the seed (hex), once drawn. */
  ticket: string | null;
  seed: string | null;
  expiration: number | null;
  preCommitEpoch: number | null;
  seedEpoch: number | null;
  sealedCid: string | null;
  unsealedCid: string | null;
  deals: number[];
  /** The PublishStorageDeals message of each deal (same order as `deals`; null: not known). */
  dealPublishCids: (string | null)[];
  /** Its pieces (padded size, piece CID) once added; none for committed capacity. */
  pieces: { size: number; pieceCid: string }[];
  retries: number;
  failure: string | null;
  /** The chain rejected (or the node refused) a message of this sector: it stays failed until retried or removed. */
  chainRejected: boolean;
  preCommitMsg: string | null;
  /** attoFIL sent with the pre-commit (its deposit) and the prove-commit (its pledge). */
  preCommitValue: string | null;
  commitMsg: string | null;
  commitValue: string | null;
  /** Epochs whose tipset the values were asked at. */
  valueAskedAt: { preCommit?: number; commit?: number } | null;
  sealedPath: string | null;
  log: { at: string; state: string; note?: string }[];
}

export function sectorView(r: SectorRecord): SectorView {
  const onChain = r.preCommitEpoch !== undefined || ['WaitSeed', 'Committing', 'SubmitCommit', 'CommitWait', 'FinalizeSector', 'Proving'].includes(r.state);
  return {
    number: r.number,
    state: r.state,
    sealProof: r.proof,
    worker: r.worker ?? null,
    onChain,
    active: r.state === 'Proving',
    ticketEpoch: r.ticketEpoch ?? null,
    ticket: r.ticket ? Buffer.from(r.ticket).toString('hex') : null,
    seed: r.seed ? Buffer.from(r.seed).toString('hex') : null,
    expiration: r.expiration ?? null,
    preCommitEpoch: r.preCommitEpoch ?? null,
    seedEpoch: r.seedEpoch ?? null,
    sealedCid: r.commR ? proofs.commRToCid(Buffer.from(r.commR)) : null,
    unsealedCid: r.commD ? proofs.commDToCid(Buffer.from(r.commD)) : null,
    deals: r.dealIds ?? [],
    dealPublishCids: (r.dealIds ?? []).map((_, i) => r.dealPublishCids?.[i] ?? null),
    pieces: (r.pieces ?? []).map((p) => ({ size: p.size, pieceCid: proofs.commPToCid(Buffer.from(p.commP)) })),
    retries: r.retries,
    failure: r.failure ?? null,
    chainRejected: r.chainRejected === true,
    preCommitMsg: r.preCommitMsg ?? null,
    preCommitValue: r.preCommitValue ?? null,
    commitMsg: r.commitMsg ?? null,
    commitValue: r.commitValue ?? null,
    valueAskedAt: r.valueAskedAt ?? null,
    sealedPath: r.sealedPath ?? null,
    log: r.log.map((l) => ({ at: new Date(l.at).toISOString(), state: l.state, note: l.note })),
  };
}

/** The level each method of the seal service's JSON-RPC needs. */
export const SEAL_METHODS: Record<string, Permission> = {
  SectorsList: 'read',
  SectorsStatus: 'read',
  SealingJobs: 'read',
  SealingWorkers: 'read',
  SectorsPledge: 'write',
  SectorsPledgeDeals: 'write',
  SectorsRetry: 'write',
  SectorsRemove: 'admin',
};

export class SealService {
  readonly store: KvStore;
  readonly scheduler: Scheduler;
  readonly pipeline: SealPipeline;
  private http: HttpService | undefined;
  private readonly log = logger('seal-service');
  url = '';

  constructor(private readonly o: SealServiceOptions) {
    this.store = KvStore.open(join(o.repo, 'sealing'));
    this.scheduler = new Scheduler({ auth: o.auth, minerId: o.minerId, heartbeatMs: o.heartbeatMs, reconnectGraceMs: o.reconnectGraceMs });
    const { repo: _repo, auth: _auth, netLimits: _limits, listen: _listen, heartbeatMs: _hb, reconnectGraceMs: _grace, ...pipeline } = o;
    this.pipeline = new SealPipeline({ ...pipeline, proof: o.proof ?? proofs.RegisteredSealProof.StackedDrg2KiBV1_1, store: this.store, scheduler: this.scheduler });
  }

  /** Listens, then resumes every unfinished sector. Returns the listener's host:port. */
  async start(): Promise<{ host: string; port: number }> {
    const rpc = new JsonRpcMethods();
    for (const [method, perm] of Object.entries(SEAL_METHODS)) rpc.register(method, perm, (params) => this.dispatch(method, params));
    const http = new HttpService({ name: 'seal', verify: this.o.auth, limits: this.o.netLimits });
    http.route(rpc.route('/rpc/v0'));
    http.upgrade(this.scheduler.upgradeRoute());
    const server = http.server;
    const apiFile = join(this.o.repo, SEAL_API_FILE);
    const previous = existsSync(apiFile) ? portFromAddressFile(readFileSync(apiFile, 'utf8')) : undefined;
    await listenSticky(server, this.o.listen.host, this.o.listen.port, previous);
    this.http = http;
    const a = server.address() as AddressInfo;
    this.url = `http://${this.o.listen.host}:${a.port}`;
    // Where `distminer sectors …` and the seal workers find this service.
    writeFileAtomic(join(this.o.repo, SEAL_API_FILE), `${formatApiMultiaddr({ host: this.o.listen.host, port: a.port })}\n`);
    this.pipeline.resume();
    this.log.info({ listen: `${this.o.listen.host}:${a.port}`, sectors: this.pipeline.list().length }, 'seal service started');
    return { host: this.o.listen.host, port: a.port };
  }

  /** The listening server (tests count its open connections). */
  get server(): Server | undefined {
    return this.http?.server;
  }

  async dispatch(method: string, params: unknown[]): Promise<unknown> {
    const num = (x: unknown, what: string) => {
      if (typeof x !== 'number' || !Number.isSafeInteger(x) || x < 0) throw new Error(`${what} must be a non-negative integer`);
      return x;
    };
    switch (method) {
      case 'SectorsPledge':
        return this.pipeline.pledge(params.length ? num(params[0], 'count') : 1);
      case 'SectorsPledgeDeals':
        return this.pledgeDeals(params[0], params[1], params[2]);
      case 'SectorsList':
        return this.pipeline.list().map((r) => {
          const v = sectorView(r);
          return { ...v, log: undefined };
        });
      case 'SectorsStatus': {
        const r = this.pipeline.get(num(params[0], 'sector number'));
        if (!r) throw new RpcError(SECTOR_NOT_FOUND, `no sector ${String(params[0])} on this miner`);
        return sectorView(r);
      }
      case 'SectorsRemove':
        await this.pipeline.remove(num(params[0], 'sector number'));
        return true;
      case 'SectorsRetry':
        return sectorView(await this.pipeline.retry(num(params[0], 'sector number')));
      case 'SealingJobs':
        return this.scheduler.jobs();
      case 'SealingWorkers':
        return this.scheduler.workerRows();
      default:
        throw new Error(`unknown method ${method}`);
    }
  }

  /**
   * One deal sector (the deal role calls this): `pieces` in the order to add them — deal pieces
   * as {url, unpaddedSize, pieceCid} (the deal miner's piece URL, fetched by the worker), zero
   * fillers as {unpaddedSize} — the market deal IDs of the deal pieces, in the same order, and
   * optionally the PublishStorageDeals message CID of each deal (same order; null where unknown).
   * Idempotent: if a live sector already holds exactly these deals (a retried call), its number
   * is returned; a sector that would share only some of them is refused.
   */
  private async pledgeDeals(piecesArg: unknown, dealIdsArg: unknown, publishArg?: unknown): Promise<number> {
    if (!Array.isArray(piecesArg) || piecesArg.length === 0) throw new Error('pieces must be a non-empty array');
    if (!Array.isArray(dealIdsArg) || dealIdsArg.length === 0 || !dealIdsArg.every((d) => Number.isSafeInteger(d) && d >= 0)) throw new Error('dealIds must be a non-empty array of deal IDs');
    const dealIds = dealIdsArg as number[];
    let publishCids: (string | null)[] | undefined;
    if (publishArg !== undefined && publishArg !== null) {
      if (!Array.isArray(publishArg) || publishArg.length !== dealIds.length) throw new Error('publishCids must be an array as long as dealIds');
      publishCids = publishArg.map((c: unknown, i) => {
        if (c === null) return null;
        try {
          cidBytes(c as string);
        } catch (e) {
          throw new Error(`publishCids[${i}]: ${(e as Error).message}`, { cause: e });
        }
        return c as string;
      });
    }
    const sources: PieceSource[] = piecesArg.map((p: unknown, i) => {
      const x = p as { url?: unknown; unpaddedSize?: unknown; pieceCid?: unknown };
      if (!x || typeof x !== 'object' || !Number.isSafeInteger(x.unpaddedSize) || (x.unpaddedSize as number) <= 0) throw new Error(`pieces[${i}].unpaddedSize must be a positive integer`);
      const unpaddedSize = x.unpaddedSize as number;
      if (x.url === undefined) return { kind: 'zero', unpaddedSize };
      if (typeof x.url !== 'string' || !/^https?:\/\//.test(x.url)) throw new Error(`pieces[${i}].url must be an http(s) URL`);
      if (typeof x.pieceCid !== 'string') throw new Error(`pieces[${i}].pieceCid must be a piece CID`);
      let commP: Buffer;
      try {
        commP = proofs.cidToCommP(x.pieceCid);
      } catch (e) {
        throw new Error(`pieces[${i}].pieceCid: ${(e as Error).message}`, { cause: e });
      }
      return { kind: 'url', url: x.url, unpaddedSize, commP };
    });
    const dataPieces = sources.filter((s) => s.kind !== 'zero').length;
    if (dataPieces !== dealIds.length) throw new Error(`${dealIds.length} deal IDs for ${dataPieces} data pieces`);
    const total = sources.reduce((a, s) => a + s.unpaddedSize, 0);
    const capacity = proofs.unpaddedSize(proofs.sealProofSectorSize(this.pipeline.sealProof));
    if (total !== capacity) throw new Error(`the pieces hold ${total} unpadded bytes; a sector holds exactly ${capacity}`);
    const want = [...dealIds].sort((a, b) => a - b).join(',');
    for (const r of this.pipeline.list()) {
      // A sector that failed for good gave its deals back (the deal role requeues them).
      if (r.state === 'Removed' || r.state === 'FailedUnrecoverable' || r.chainRejected || !r.dealIds?.length) continue;
      if ([...r.dealIds].sort((a, b) => a - b).join(',') === want) return r.number;
      const shared = r.dealIds.filter((d) => dealIds.includes(d));
      if (shared.length) throw new Error(`deal(s) ${shared.join(', ')} are already in sector ${r.number}`);
    }
    const [n] = await this.pipeline.pledge(1, sources, dealIds, publishCids);
    return n;
  }

  async stop(): Promise<void> {
    await this.pipeline.stopping();
    await this.scheduler.close();
    await this.pipeline.stop();
    if (this.http) await this.http.close();
    await this.store.close();
  }
}
