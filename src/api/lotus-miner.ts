// The methods of Lotus's StorageMiner API (api/api_storage.go, api_common.go) that lotus-miner's
// own CLI calls for `lotus-miner info`, `proving info | deadlines | deadline N | faults`,
// `version` and `log alerts`, answered by a distminer miner with the same JSON shapes, so that
// a provider's MINER_API_INFO and habits keep working after moving from lotus-miner (the CLI
// dials ws://…/rpc/v0: src/net/json-rpc.ts serves it). Only what distminer can answer
// truthfully is here: a method it cannot (WorkerStats, SectorsList, …) stays "method not
// found", which lotus-miner's `info` prints as an error line and goes on.
//
// - Version: MinerAPIVersion0 (1.5.0), the network's block delay (from the chain node).
// - ActorAddress, ActorSectorSize: the miner id; its sector size from the chain.
// - RuntimeSubsystems: Mining (winning-post), Sealing (seal), SectorStorage (seal, window-post:
//   lotus-miner's name for the part that holds and proves sector files).
// - StartTime: when this process started.
// - LogAlerts: the miner's own alerts (the web page's and `status`'s), as Lotus alert entries.
// - SectorsSummary: per state; Proving and Faulty from the chain (StateMinerSectorCount: a
//   PoSt host keeps no sector records), the other states from this host's seal pipeline.
import type { Permission } from '../auth/index.js';
import type { ChainClient } from '../chain/client.js';
import type { Role } from '../config/settings.js';
import type { Alert } from '../web/snapshot.js';
import { RpcError } from '../net/json-rpc.js';

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
  /** This host's seal pipeline's sectors (undefined when the seal role does not run here). */
  sealSectors?(): Promise<{ state: string }[]>;
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
  register(
    'Filecoin.SectorsSummary',
    async () => {
      const out: Record<string, number> = {};
      const c = await chain().call<{ Live: number; Active: number; Faulty: number }>('Filecoin.StateMinerSectorCount', [o.minerId, null]);
      if (c.Active > 0) out.Proving = c.Active;
      if (c.Faulty > 0) out.Faulty = c.Faulty;
      for (const s of o.sealSectors ? await o.sealSectors() : []) if (s.state !== 'Proving') out[s.state] = (out[s.state] ?? 0) + 1;
      return out;
    },
    'read',
  );
}
