// The methods of Lotus's StorageMiner API (api/api_storage.go, api_common.go) that lotus-miner's
// own CLI calls for `lotus-miner info`, `proving info | deadlines | deadline N | faults`,
// `sectors list | status N`, `version` and `log alerts`, answered by a distminer miner with the
// same JSON shapes, so that a provider's MINER_API_INFO and habits keep working after moving
// from lotus-miner (the CLI dials ws://…/rpc/v0: src/net/json-rpc.ts serves it). Only what
// distminer can answer truthfully is here: the rest stays "method not found".
//
// - Version: MinerAPIVersion0 (1.5.0), the network's block delay (from the chain node).
// - ActorAddress, ActorSectorSize: the miner id; its sector size from the chain.
// - RuntimeSubsystems: Mining (winning-post), Sealing (seal), SectorStorage (seal, window-post:
//   lotus-miner's name for the part that holds and proves sector files).
// - StartTime: when this process started.
// - LogAlerts: the miner's own alerts (the web page's and `status`'s), as Lotus alert entries.
// - Sectors (SectorsList, SectorsListInStates, SectorsSummary, SectorsStatus): every sector
//   this host knows of, from three sources: the chain (live sectors by partition: Proving, or
//   Faulty), this host's seal pipeline (its state, unless the chain says Faulty), and the
//   records lotus-miner kept when the repository was adopted from it (lotus-miner-sectors.ndjson:
//   what lotus-miner's own SectorsStatus answered; their state is the chain's while they live).
//   A PoSt host keeps no sector records: it answers from the chain alone. A pipeline sector's
//   deal pieces carry lotus-miner's DealInfo (the proposal from StateMarketStorageDeal, once per
//   deal), so `sectors list`'s deal weight estimate counts them.
// - WorkerStats: this host's PoSt roles as PoSt workers (Lotus's task types
//   post/v0/winningproof, post/v0/windowproof) and the seal workers of its seal service.
import { createHash } from 'node:crypto';
import { availableParallelism, freemem, hostname, totalmem } from 'node:os';
import type { Permission } from '../auth/index.js';
import type { ChainClient } from '../chain/client.js';
import type { DealProposal, MarketDeal } from '../chain/market.js';
import type { SectorOnChainInfo } from '../chain/api-types.js';
import type { AdoptedSectors } from '../config/lotus-miner-repo.js';
import type { Role } from '../config/settings.js';
import { bitfieldFromJson } from '../chain/bitfield.js';
import type { Cid } from '../chain/cid.js';
import { RpcError } from '../net/json-rpc.js';
import type { SealServiceClient } from '../sealing/client.js';
import type { TaskType } from '../sealing/protocol.js';
import type { WorkerRow } from '../sealing/scheduler.js';
import type { SectorView } from '../sealing/service.js';
import { logger } from '../log.js';
import { sharedResult } from '../util/shared.js';
import type { Alert } from '../web/snapshot.js';

const log = logger('lotus-api');

/** Lotus's MinerAPIVersion0 = 1.5.0, as its APIVersion encodes it (major<<16 | minor<<8 | patch). */
export const MINER_API_VERSION = (1 << 16) | (5 << 8);

export interface LotusMinerApiOptions {
  minerId: string;
  roles: Role[];
  version: string;
  startedAt: Date;
  /** The chain node; undefined when this host has none (methods that need it say so). */
  chain?: ChainClient;
  /** This host's active alerts. */
  alerts(): Promise<Alert[]>;
  /** This host's seal service (undefined when the seal role does not run here). */
  seal?: Pick<SealServiceClient, 'sectors' | 'sector' | 'workers'>;
  /** The sector records of the lotus-miner this repository was adopted from. */
  adopted?: Pick<AdoptedSectors, 'sectors' | 'read'>;
  /** Whether this host's actor of `role` is running now (WorkerStats' Enabled). */
  roleRunning?(role: Role): boolean;
}

/** api.SectorInfo in Lotus JSON (v1.36): what `SectorsStatus` answers. */
export interface LotusSectorInfo {
  SectorID: number;
  State: string;
  CommD: Cid | null;
  CommR: Cid | null;
  /** base64; null when not kept. */
  Proof: string | null;
  Deals: number[];
  Pieces: { Piece: { Size: number; PieceCID: Cid | null }; DealInfo: LotusPieceDealInfo | null }[];
  Ticket: { Value: string | null; Epoch: number };
  Seed: { Value: string | null; Epoch: number };
  PreCommitMsg: Cid | null;
  CommitMsg: Cid | null;
  Retries: number;
  ToUpgrade: boolean;
  ReplicaUpdateMessage: Cid | null;
  LastErr: string;
  Log: { Kind: string; Timestamp: number; Trace: string; Message: string }[];
  SealProof: number;
  Activation: number;
  Expiration: number;
  DealWeight: string;
  VerifiedDealWeight: string;
  InitialPledge: string;
  OnTime: number;
  Early: number;
}

/** piece.PieceDealInfo in Lotus JSON. */
export interface LotusPieceDealInfo {
  PublishCid: Cid | null;
  DealID: number;
  DealProposal: DealProposal | null;
  DealSchedule: { StartEpoch: number; EndEpoch: number };
  PieceActivationManifest: { CID: Cid | null; Size: number; VerifiedAllocationKey: { Client: number; ID: number } | null; Notify: { Address: string; Payload: string }[] } | null;
  KeepUnsealed: boolean;
}

/** The on-chain part of a SectorInfo when it is not asked for (or not on chain), as lotus-miner leaves it. */
export const NOT_ON_CHAIN = { Activation: 0, Expiration: 0, DealWeight: '0', VerifiedDealWeight: '0', InitialPledge: '0', OnTime: 0, Early: 0 } as const;

/** Lotus's task types (storage/sealer/sealtasks) of distminer's seal steps. */
const LOTUS_TASK: Record<TaskType, string> = {
  AddPiece: 'seal/v0/addpiece',
  PreCommit1: 'seal/v0/precommit/1',
  PreCommit2: 'seal/v0/precommit/2',
  Commit1: 'seal/v0/commit/1',
  Commit2: 'seal/v0/commit/2',
  Finalize: 'seal/v0/finalize',
};

/** How long one look at the chain and the pipeline serves the SectorsStatus calls of one `sectors list`. */
const SECTORS_TTL_MS = 2000;

interface KnownSector {
  state: string;
  live: boolean;
  faulty: boolean;
  view?: SectorView;
  /** Its state in lotus-miner's records at the adoption. */
  adopted?: string;
}

/** A stable UUID (version-5 layout) for a worker named `name`: WorkerStats is keyed by UUID. */
function workerUuid(name: string): string {
  const h = createHash('sha1').update(`distminer worker ${name}`).digest();
  h[6] = (h[6]! & 0x0f) | 0x50;
  h[8] = (h[8]! & 0x3f) | 0x80;
  const x = h.subarray(0, 16).toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

const cidOrNull = (c: string | null | undefined): Cid | null => (c ? { '/': c } : null);
const hexToB64 = (h: string | null): string | null => (h ? Buffer.from(h, 'hex').toString('base64') : null);

/** A SectorInfo with nothing known beyond its number, state and seal proof. */
export function bareSectorInfo(n: number, state: string, sealProof: number): LotusSectorInfo {
  const none = { Value: null, Epoch: 0 };
  return {
    SectorID: n,
    State: state,
    CommD: null,
    CommR: null,
    Proof: null,
    Deals: [],
    Pieces: [],
    Ticket: none,
    Seed: none,
    PreCommitMsg: null,
    CommitMsg: null,
    Retries: 0,
    ToUpgrade: false,
    ReplicaUpdateMessage: null,
    LastErr: '',
    Log: [],
    SealProof: sealProof,
    ...NOT_ON_CHAIN,
  };
}

/** A seal pipeline sector as Lotus's SectorInfo (the seal proof bytes are not kept in the view). */
function infoOfView(v: SectorView, state: string): LotusSectorInfo {
  return {
    ...bareSectorInfo(v.number, state, v.sealProof),
    CommD: cidOrNull(v.unsealedCid),
    CommR: cidOrNull(v.sealedCid),
    Deals: v.deals,
    Pieces: (v.pieces ?? []).map((p) => ({ Piece: { Size: p.size, PieceCID: { '/': p.pieceCid } }, DealInfo: null })),
    Ticket: { Value: hexToB64(v.ticket), Epoch: v.ticketEpoch ?? 0 },
    Seed: { Value: hexToB64(v.seed), Epoch: v.seedEpoch ?? 0 },
    PreCommitMsg: cidOrNull(v.preCommitMsg),
    CommitMsg: cidOrNull(v.commitMsg),
    Retries: v.retries,
    LastErr: v.failure ?? '',
    Log: (v.log ?? []).map((l) => ({ Kind: `state;${l.state}`, Timestamp: Math.floor(Date.parse(l.at) / 1000), Trace: '', Message: l.note ?? '' })),
  };
}

/**
 * Each deal piece's DealInfo, as lotus-miner keeps it for a market deal (no activation manifest:
 * that is for direct data onboarding): the deal IDs in the sector's order matched to the pieces
 * by piece CID, with the proposal from the market actor (`proposal(id)`; null when the chain
 * does not have it any more: that deal's piece is left without) and the PublishStorageDeals
 * message the deal miner recorded (`publishCid(id)`; null when not known). Fillers keep
 * DealInfo null.
 */
export async function withDealInfo(
  info: LotusSectorInfo,
  proposal: (dealId: number) => Promise<DealProposal | null>,
  publishCid: (dealId: number) => string | null = () => null,
): Promise<LotusSectorInfo> {
  const pieces = info.Pieces.map((p) => ({ ...p }));
  for (const id of info.Deals) {
    if (id === 0) continue;
    const prop = await proposal(id);
    // Without its proposal a deal cannot be told from a filler of the same size: left out.
    const piece = prop && pieces.find((p) => p.DealInfo === null && p.Piece.PieceCID?.['/'] === prop.PieceCID['/']);
    if (!piece) continue;
    piece.DealInfo = {
      PublishCid: cidOrNull(publishCid(id)),
      DealID: id,
      DealProposal: prop,
      DealSchedule: { StartEpoch: prop.StartEpoch, EndEpoch: prop.EndEpoch },
      PieceActivationManifest: null,
      KeepUnsealed: true,
    };
  }
  return { ...info, Pieces: pieces };
}

/** A sector known only from the chain (sealed elsewhere, before distminer). */
function infoOfChain(n: number, state: string, oc: SectorOnChainInfo | null): LotusSectorInfo {
  return { ...bareSectorInfo(n, state, oc?.SealProof ?? 0), CommR: oc?.SealedCID ?? null, Deals: oc?.DeprecatedDealIDs ?? oc?.DealIDs ?? [] };
}

type Register = (method: string, handler: (params: unknown[]) => unknown, perm: Permission) => void;

export function registerLotusMinerApi(register: Register, o: LotusMinerApiOptions): void {
  const chain = (): ChainClient => {
    if (!o.chain) throw new RpcError(1, 'this distminer host has no chain node (set FULLNODE_API_INFO or [Distminer] ChainApi)');
    return o.chain;
  };
  let blockDelay: number | undefined;
  register(
    'Filecoin.Version',
    async () => {
      blockDelay ??= Number((await chain().call<{ BlockDelay: number }>('Filecoin.Version')).BlockDelay);
      return { Version: `distminer ${o.version}`, APIVersion: MINER_API_VERSION, BlockDelay: blockDelay };
    },
    'read',
  );
  register('Filecoin.ActorAddress', () => o.minerId, 'read');
  register(
    'Filecoin.ActorSectorSize',
    async (p) => {
      const addr = p[0];
      if (typeof addr !== 'string') throw new RpcError(1, 'ActorSectorSize needs the miner address');
      return (await chain().stateMinerInfo(addr)).SectorSize;
    },
    'read',
  );
  const subsystems = [
    ...(o.roles.includes('winning-post') ? ['Mining'] : []),
    ...(o.roles.includes('seal') ? ['Sealing'] : []),
    ...(o.roles.includes('seal') || o.roles.includes('window-post') ? ['SectorStorage'] : []),
  ];
  register('Filecoin.RuntimeSubsystems', () => subsystems, 'read');
  register('Filecoin.StartTime', () => o.startedAt.toISOString(), 'read');
  register(
    'Filecoin.LogAlerts',
    async () => {
      const now = new Date().toISOString();
      return (await o.alerts()).map((a) => ({
        Type: { System: 'distminer', Subsystem: a.name },
        Active: true,
        LastActive: { Type: 'raised', Message: { severity: a.severity, summary: a.summary }, Time: now },
        LastResolved: null,
      }));
    },
    'admin',
  );
  // The seal service answers once the seal role runs; until then (a start, a restart) the
  // sectors are the chain's and lotus-miner's records, and the workers this host's PoSt roles.
  let sealDownLogged = false;
  const sealDown = (what: string, err: unknown) => {
    if (!sealDownLogged) log.warn({ err, asked: what }, "the seal service does not answer: the Lotus API shows the chain's sectors, lotus-miner's records and the PoSt workers until it does");
    sealDownLogged = true;
  };
  const sealSectors = async (): Promise<SectorView[]> => {
    if (!o.seal) return [];
    try {
      const v = await o.seal.sectors();
      sealDownLogged = false;
      return v;
    } catch (err) {
      sealDown('sectors', err);
      return [];
    }
  };
  // Every sector this host knows of, with its state (see the top of this file).
  const known = sharedResult(async (): Promise<Map<number, KnownSector>> => {
    const c = chain();
    const m = new Map<number, KnownSector>();
    const at = (n: number) => {
      let k = m.get(n);
      if (!k) m.set(n, (k = { state: '', live: false, faulty: false }));
      return k;
    };
    for (const a of o.adopted?.sectors ?? []) at(a.number).adopted = a.state;
    const tsk = (await c.chainHead()).Cids;
    const deadlines = await c.stateMinerDeadlines(o.minerId, tsk);
    const parts = await Promise.all(deadlines.map((_, i) => c.stateMinerPartitions(o.minerId, i, tsk)));
    for (const p of parts.flat()) {
      for (const n of bitfieldFromJson(p.LiveSectors)) at(n).live = true;
      for (const n of bitfieldFromJson(p.FaultySectors)) at(n).faulty = true;
    }
    for (const v of await sealSectors()) at(v.number).view = v;
    for (const k of m.values()) k.state = k.faulty ? 'Faulty' : k.view ? k.view.state : k.live ? 'Proving' : k.adopted!;
    return m;
  }, SECTORS_TTL_MS);
  register(
    'Filecoin.SectorsSummary',
    async () => {
      const out: Record<string, number> = {};
      for (const k of (await known()).values()) out[k.state] = (out[k.state] ?? 0) + 1;
      return out;
    },
    'read',
  );
  register('Filecoin.SectorsList', async () => [...(await known()).keys()].sort((a, b) => a - b), 'read');
  register(
    'Filecoin.SectorsListInStates',
    async (p) => {
      if (!Array.isArray(p[0]) || !p[0].every((x) => typeof x === 'string')) throw new RpcError(1, 'SectorsListInStates needs a list of state names');
      const want = new Set(p[0] as string[]);
      return [...(await known())]
        .filter(([, k]) => want.has(k.state))
        .map(([n]) => n)
        .sort((a, b) => a - b);
    },
    'read',
  );
  // A deal's proposal never changes: asked of the market actor once per deal.
  const proposals = new Map<number, Promise<DealProposal | null>>();
  const dealProposal = (id: number): Promise<DealProposal | null> => {
    let p = proposals.get(id);
    if (!p) {
      p = Promise.resolve()
        .then(() => chain().call<MarketDeal>('Filecoin.StateMarketStorageDeal', [id, null]))
        .then((d) => d.Proposal)
        .catch((err: unknown) => {
          log.debug({ err, deal: id }, "a sector's deal is not in the market actor (any more): its DealInfo has no proposal");
          proposals.delete(id); // asked again next time: the node may have been down
          return null;
        });
      proposals.set(id, p);
    }
    return p;
  };
  register(
    'Filecoin.SectorsStatus',
    async (p) => {
      const [n, showOnChain] = p;
      if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) throw new RpcError(1, 'SectorsStatus needs a sector number');
      const k = (await known()).get(n);
      let info: LotusSectorInfo;
      let oc: SectorOnChainInfo | null | undefined;
      const onChain = async () => (oc === undefined ? (oc = await chain().stateSectorGetInfo(o.minerId, n)) : oc);
      if (k?.view) {
        const v = (await o.seal!.sector(n).catch(() => undefined)) ?? k.view;
        info = await withDealInfo(infoOfView(v, k.state), dealProposal, (id) => v.dealPublishCids?.[v.deals.indexOf(id)] ?? null);
      } else if (k?.adopted !== undefined) info = { ...o.adopted!.read(n)!, ...(k.live ? { State: k.state } : {}) };
      else if (k?.live) info = infoOfChain(n, k.state, await onChain());
      else throw new RpcError(1, `sector ${n} not found: not live on chain, not in this host's seal pipeline${o.adopted ? ", not in lotus-miner's records" : ''}`);
      if (showOnChain !== true) return info;
      // As lotus-miner: the on-chain fields at the head, the expiration's when the node has them.
      if (!(await onChain())) return info;
      oc = oc!;
      Object.assign(info, {
        SealProof: oc.SealProof,
        Activation: oc.Activation,
        Expiration: oc.Expiration,
        DealWeight: oc.DealWeight,
        VerifiedDealWeight: oc.VerifiedDealWeight,
        InitialPledge: oc.InitialPledge,
      });
      try {
        const ex = await chain().call<{ OnTime: number; Early: number }>('Filecoin.StateSectorExpiration', [o.minerId, n, null]);
        Object.assign(info, { OnTime: ex.OnTime, Early: ex.Early });
      } catch {
        // lotus-miner answers without them too
      }
      return info;
    },
    'read',
  );
  register(
    'Filecoin.WorkerStats',
    async () => {
      const host = hostname();
      const here = {
        Hostname: host,
        IgnoreResources: false,
        Resources: { MemPhysical: totalmem(), MemUsed: totalmem() - freemem(), MemSwap: 0, MemSwapUsed: 0, CPUs: availableParallelism(), GPUs: [], Resources: null },
      };
      const idle = { MemUsedMin: 0, MemUsedMax: 0, GpuUsed: 0, CpuUse: 0, TaskCounts: {} };
      const out: Record<string, unknown> = {};
      for (const [role, task] of [
        ['winning-post', 'post/v0/winningproof'],
        ['window-post', 'post/v0/windowproof'],
      ] as const) {
        if (o.roles.includes(role)) out[workerUuid(`${o.minerId}/${host}/${role}`)] = { Info: here, Tasks: [task], Enabled: o.roleRunning?.(role) ?? true, ...idle };
      }
      let sealWorkers: WorkerRow[] = [];
      try {
        sealWorkers = o.seal ? await o.seal.workers() : [];
      } catch (err) {
        sealDown('workers', err);
      }
      for (const w of sealWorkers) {
        out[workerUuid(`${o.minerId}/seal/${w.id}`)] = {
          Info: {
            Hostname: w.hostname,
            IgnoreResources: false,
            Resources: {
              MemPhysical: w.resources.memoryBytes,
              MemUsed: w.used.memoryBytes,
              MemSwap: 0,
              MemSwapUsed: 0,
              CPUs: w.resources.cores,
              GPUs: Array.from({ length: w.resources.gpus }, (_, i) => `GPU ${i}`),
              Resources: null,
            },
          },
          Tasks: w.taskTypes.map((t) => LOTUS_TASK[t]),
          Enabled: w.connected,
          MemUsedMin: w.used.memoryBytes,
          MemUsedMax: w.used.memoryBytes,
          GpuUsed: w.used.gpus,
          CpuUse: w.used.cores,
          TaskCounts: {},
        };
      }
      return out;
    },
    'admin',
  );
}
