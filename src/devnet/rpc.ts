// The devnet's Lotus v1 JSON-RPC API: HTTP POST and WebSocket on /rpc/v1 (and /rpc/v0),
// bearer-token (HS256 JWT) permissions like Lotus, go-jsonrpc channel notifications
// (`xrpc.ch.val`) for ChainNotify. Served by the same JSON-RPC server as the miner API and the
// seal service (src/net/json-rpc.ts on src/net/http-server.ts: bodies bounded before auth,
// deadlines, upgrades authenticated before the handshake, connection budgets): every bad
// request gets a JSON-RPC error, never a crash.
import type { AddressInfo } from 'node:net';
import { HttpService, type NetLimits, type RequestContext, sendJson } from '../net/http-server.js';
import { JsonRpcMethods, RPC_INVALID_PARAMS, RPC_INVALID_REQUEST, RpcError, type RpcHandler, rpcError } from '../net/json-rpc.js';
import { blsSign } from '../chain/crypto.js';
import { Auth, type Permission } from '../auth/index.js';
import { parseAddress } from '../chain/address.js';
import type { BlockMsg, BlockTemplate, Message, MessageSendSpec, PartitionJson, SignedMessage, TipSet } from '../chain/api-types.js';
import { bitfieldFromJson, bitfieldToJson } from '../chain/bitfield.js';
import { type Cid, isCid } from '../chain/cid.js';
import { b64, fromB64 } from '../chain/encoding.js';
import { logger } from '../log.js';
import type { Devnet } from './node.js';
import { ApiError, devnetFunds } from './state.js';

/** The network version the devnet runs from genesis. */
const NETWORK_VERSION = 28;

/**
 * StateGetNetworkParams' ForkUpgradeParams, as Lotus's 2k devnet answers them: every upgrade up
 * to network version 28 before genesis (negative heights, one per upgrade), the next one never.
 */
const FORK_UPGRADES: Record<string, number> = (() => {
  const past = [
    'Smoke',
    'Breeze',
    'Ignition',
    'Liftoff',
    'Assembly',
    'Refuel',
    'Tape',
    'Kumquat',
    'Calico',
    'Persian',
    'Orange',
    'Claus',
    'Trust',
    'Norwegian',
    'Turbo',
    'Hyperdrive',
    'Chocolate',
    'OhSnap',
    'Skyr',
    'Shark',
    'Hygge',
    'Lightning',
    'Thunder',
    'Watermelon',
    'Dragon',
    'Phoenix',
    'Waffle',
    'Tuktuk',
    'Teep',
    'Tock',
    'GoldenWeek',
    'FireHorse',
  ];
  const out: Record<string, number> = { BreezeGasTampingDuration: 0 };
  past.forEach((name, i) => (out[`Upgrade${name}Height`] = -1 - i));
  out.UpgradeXxHeight = 999_999_999;
  return out;
})();

const log = logger('devnet-rpc');

const MAX_BODY = 32 * 1024 * 1024;
const RPC_PATHS = ['/rpc/v1', '/rpc/v0'];
/** Largest WebSocket message from a connection without a token (calls are small). */
const ANON_MAX_PAYLOAD = 64 * 1024;

class ParamError extends Error {}

type Handler = (p: unknown[], ctx: Pick<RequestContext, 'perms' | 'signal'>) => unknown | Promise<unknown>;

// ------------------------------------------------------------------ param checks

function args(p: unknown[], min: number, max: number): void {
  if (p.length < min || p.length > max) throw new ParamError(`expected ${min === max ? min : `${min}..${max}`} params, got ${p.length}`);
}

function addr(x: unknown, i: number): string {
  if (typeof x !== 'string') throw new ParamError(`param ${i}: expected an address string`);
  try {
    parseAddress(x);
  } catch (e) {
    throw new ParamError(`param ${i}: ${(e as Error).message}`);
  }
  return x;
}

function int(x: unknown, i: number, min = -(2 ** 53)): number {
  if (typeof x !== 'number' || !Number.isSafeInteger(x) || x < min) throw new ParamError(`param ${i}: expected an integer${min === 0 ? ' ≥ 0' : ''}`);
  return x;
}

function tsk(x: unknown, i: number): Cid[] | null {
  if (x === null || x === undefined) return null;
  if (!Array.isArray(x) || !x.every(isCid)) throw new ParamError(`param ${i}: expected a tipset key (array of CIDs) or null`);
  return x as Cid[];
}

function obj<T>(x: unknown, i: number, what: string): T {
  if (typeof x !== 'object' || x === null || Array.isArray(x)) throw new ParamError(`param ${i}: expected ${what}`);
  return x as T;
}

/** A MessageSendSpec or null; MaxFee a decimal attoFIL string. */
function sendSpec(x: unknown, i: number): MessageSendSpec | null {
  if (x === null || x === undefined) return null;
  const s = obj<MessageSendSpec>(x, i, 'a MessageSendSpec or null');
  if (s.MaxFee !== undefined && s.MaxFee !== null && (typeof s.MaxFee !== 'string' || !/^\d+$/.test(s.MaxFee))) throw new ParamError(`param ${i}: MaxFee must be a decimal attoFIL string`);
  // go's uuid.UUID: text of 32 hex digits in 8-4-4-4-12 groups (the nil uuid included).
  if (s.MsgUuid !== undefined && (typeof s.MsgUuid !== 'string' || !/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(s.MsgUuid)))
    throw new ParamError(`param ${i}: MsgUuid must be a UUID (8-4-4-4-12 hex digits)`);
  return s;
}

function bytesParam(x: unknown, i: number): Buffer {
  try {
    return fromB64(x, `param ${i}`);
  } catch (e) {
    throw new ParamError((e as Error).message);
  }
}

// ------------------------------------------------------------------ the API

export function devnetMethods(d: Devnet): Record<string, { perm: Permission; fn: Handler }> {
  const read = (fn: Handler) => ({ perm: 'read' as Permission, fn });
  const at = (p: unknown[], i: number) => d.resolveTsk(tsk(p[i], i));
  const miner = (p: unknown[]) => d.miner(addr(p[0], 0));
  const partitionJson = (ps: { sectors: Set<number>; faults: Set<number>; recoveries: Set<number>; unproven: Set<number> }): PartitionJson => {
    const all = [...ps.sectors];
    return {
      AllSectors: bitfieldToJson(all),
      FaultySectors: bitfieldToJson(ps.faults),
      RecoveringSectors: bitfieldToJson(ps.recoveries),
      LiveSectors: bitfieldToJson(all),
      ActiveSectors: bitfieldToJson(all.filter((s) => !ps.faults.has(s) && !ps.unproven.has(s))),
    };
  };
  const sectorJson = (m: ReturnType<Devnet['miner']>, n: number) => {
    const s = m.sectors.get(n);
    if (!s) return null;
    return {
      SectorNumber: s.number,
      SealProof: s.sealProof,
      SealedCID: s.sealedCid,
      // Sectors onboarded with ProveCommitSectors3 list no deals (the market records the sector).
      DealIDs: s.dealIds,
      Activation: s.activation,
      Expiration: s.expiration,
      DealWeight: '0',
      VerifiedDealWeight: '0',
      InitialPledge: s.initialPledge ?? '0',
      ExpectedDayReward: '0',
      ExpectedStoragePledge: '0',
      PowerBaseEpoch: s.activation,
      ReplacedDayReward: '0',
      SectorKeyCID: null,
      Flags: 0,
    };
  };
  return {
    'Filecoin.Version': read((p) => {
      args(p, 0, 0);
      return { Version: 'distminer-devnet/0.1.0', APIVersion: 0x020300, BlockDelay: Math.max(1, Math.round(d.blockDelayMs / 1000)), Agent: 'distminer-devnet' };
    }),
    // Lotus's StateGetNetworkParams: what a miner needs to know about this network's timing.
    'Filecoin.StateGetNetworkParams': read((p) => {
      args(p, 0, 0);
      return {
        NetworkName: 'distminer-devnet',
        BlockDelaySecs: Math.max(1, Math.round(d.blockDelayMs / 1000)),
        ConsensusMinerMinPower: '0',
        PreCommitChallengeDelay: d.policy.preCommitChallengeDelay,
        ForkUpgradeParams: FORK_UPGRADES,
        Eip155ChainID: 31415926,
        GenesisTimestamp: d.timestampOf(0),
      };
    }),
    // The devnet runs network version 28 from genesis (as Lotus v1.36.2 and builtin-actors v18).
    'Filecoin.StateNetworkVersion': read((p) => {
      args(p, 0, 1);
      at(p, 0);
      return NETWORK_VERSION;
    }),
    'Filecoin.ChainHead': read((p) => {
      args(p, 0, 0);
      return d.head();
    }),
    'Filecoin.ChainGetTipSet': read((p) => {
      args(p, 1, 1);
      return at(p, 0);
    }),
    'Filecoin.ChainGetTipSetByHeight': read((p) => {
      args(p, 1, 2);
      const h = int(p[0], 0, 0);
      const base = at(p, 1);
      if (h > base.Height) throw new ApiError(`looking for tipset with height greater than start point (${h} > ${base.Height})`);
      return d.tipsetAt(h);
    }),
    'Filecoin.StateAccountKey': read((p) => {
      args(p, 1, 2);
      at(p, 1);
      return d.resolveKeyAddress(addr(p[0], 0));
    }),
    'Filecoin.StateMinerInfo': read((p) => {
      args(p, 1, 2);
      at(p, 1);
      const m = miner(p);
      return {
        Owner: d.accountIdAddress(m.info.owner),
        Worker: d.accountIdAddress(m.info.worker),
        NewWorker: '<empty>',
        // Lotus writes an empty list as null (a Go nil slice); the miner must read both.
        ControlAddresses: null,
        WorkerChangeEpoch: -1,
        PeerId: null,
        Multiaddrs: null,
        WindowPoStProofType: m.info.windowPoStProof,
        SectorSize: m.info.sectorSize,
        WindowPoStPartitionSectors: m.info.partitionSectors,
        ConsensusFaultElapsed: -1,
        PendingOwnerAddress: null,
        Beneficiary: d.accountIdAddress(m.info.owner),
        BeneficiaryTerm: { Quota: '0', UsedQuota: '0', Expiration: 0 },
        PendingBeneficiaryTerm: null,
      };
    }),
    'Filecoin.StateMinerPower': read((p) => {
      args(p, 1, 2);
      at(p, 1);
      const m = miner(p);
      const mp = m.power().toString();
      const tp = d.totalPower().toString();
      return { MinerPower: { RawBytePower: mp, QualityAdjPower: mp }, TotalPower: { RawBytePower: tp, QualityAdjPower: tp }, HasMinPower: m.power() > 0n };
    }),
    'Filecoin.StateMinerProvingDeadline': read((p) => {
      args(p, 1, 2);
      at(p, 1);
      return d.provingDeadline(addr(p[0], 0));
    }),
    'Filecoin.StateMinerDeadlines': read((p) => {
      args(p, 1, 2);
      at(p, 1);
      // DailyFee: the deadline's daily fee (FIP-0100, nv25+); the devnet charges none.
      return miner(p).deadlines.map((dl) => ({ PostSubmissions: bitfieldToJson(dl.postSubmissions), DisputableProofCount: 0, DailyFee: '0' }));
    }),
    'Filecoin.StateMinerPartitions': read((p) => {
      args(p, 2, 3);
      at(p, 2);
      const m = miner(p);
      const idx = int(p[1], 1, 0);
      if (idx >= m.deadlines.length) throw new ApiError(`deadline ${idx} out of range`);
      return m.deadlines[idx].partitions.map(partitionJson);
    }),
    'Filecoin.StateMinerSectors': read((p) => {
      args(p, 1, 3);
      at(p, 2);
      const m = miner(p);
      let filter: number[] | null = null;
      if (p[1] !== null && p[1] !== undefined) {
        try {
          filter = bitfieldFromJson(p[1], 'param 1');
        } catch (e) {
          throw new ParamError((e as Error).message);
        }
      }
      const nums = filter ?? [...m.sectors.keys()].sort((a, b) => a - b);
      return nums.map((n) => sectorJson(m, n)).filter((x) => x !== null);
    }),
    'Filecoin.StateMinerActiveSectors': read((p) => {
      args(p, 1, 2);
      at(p, 1);
      const m = miner(p);
      return m.activeSectors().map((n) => sectorJson(m, n));
    }),
    'Filecoin.StateSectorGetInfo': read((p) => {
      args(p, 2, 3);
      at(p, 2);
      return sectorJson(miner(p), int(p[1], 1, 0));
    }),
    'Filecoin.StateSectorPartition': read((p) => {
      args(p, 2, 3);
      at(p, 2);
      const s = miner(p).sectors.get(int(p[1], 1, 0));
      if (!s) throw new ApiError(`sector ${p[1]} not found`);
      return { Deadline: s.deadline, Partition: s.partition };
    }),
    'Filecoin.StateSectorPreCommitInfo': read((p) => {
      args(p, 2, 3);
      at(p, 2);
      const pc = miner(p).precommits.get(int(p[1], 1, 0));
      if (!pc) return null;
      const i = pc.info;
      return {
        Info: {
          SealProof: i.sealProof,
          SectorNumber: i.sectorNumber,
          SealedCID: i.sealedCid,
          SealRandEpoch: i.sealRandEpoch,
          DealIDs: i.dealIds,
          Expiration: i.expiration,
          UnsealedCid: i.unsealedCid,
        },
        PreCommitDeposit: pc.deposit ?? '0',
        PreCommitEpoch: pc.precommitEpoch,
      };
    }),
    // The market actor (src/devnet/market.ts), answering from the head like the other queries.
    'Filecoin.StateMarketStorageDeal': read((p) => {
      args(p, 1, 2);
      at(p, 1);
      const id = int(p[0], 0, 0);
      const deal = d.market.deal(id);
      if (!deal) throw new ApiError(`deal ${id} not found`);
      return deal;
    }),
    // Escrow (market.ts): by the address's actor ID; an address with no actor is Lotus's lookup error.
    'Filecoin.StateMarketBalance': read((p) => {
      args(p, 1, 2);
      at(p, 1);
      const id = d.lookupId(addr(p[0], 0));
      const b = d.market.balance(Number(parseAddress(id).id));
      return { Escrow: b.escrow.toString(), Locked: b.locked.toString() };
    }),
    // Lotus answers the actor's minimum raised by 10% (node/impl/full/state.go dealProviderCollateralNum/Den),
    // headroom for the circulating supply moving before the deal is published.
    'Filecoin.StateDealProviderCollateralBounds': read((p) => {
      args(p, 2, 3);
      at(p, 2);
      const size = int(p[0], 0, 0);
      if (typeof p[1] !== 'boolean') throw new ParamError('param 1: expected a boolean (verified)');
      const b = d.providerCollateralBounds(size);
      return { Min: ((b.min * 110n) / 100n).toString(), Max: b.max.toString() };
    }),
    'Filecoin.StateMarketDeals': read((p) => {
      args(p, 0, 1);
      at(p, 0);
      return d.market.all();
    }),
    'Filecoin.StateMinerSectorAllocated': read((p) => {
      args(p, 2, 3);
      at(p, 2);
      return miner(p).allocated.has(int(p[1], 1, 0));
    }),
    'Filecoin.StateMinerAllocated': read((p) => {
      args(p, 1, 2);
      at(p, 1);
      return bitfieldToJson(miner(p).allocated);
    }),
    'Filecoin.StateMinerFaults': read((p) => {
      args(p, 1, 2);
      at(p, 1);
      return bitfieldToJson(miner(p).faults());
    }),
    'Filecoin.StateMinerRecoveries': read((p) => {
      args(p, 1, 2);
      at(p, 1);
      return bitfieldToJson(miner(p).recoveries());
    }),
    'Filecoin.StateGetRandomnessFromTickets': read((p) => {
      args(p, 3, 4);
      at(p, 3);
      return b64(d.randomnessFromTickets(int(p[0], 0, 0), int(p[1], 1), bytesParam(p[2], 2)));
    }),
    'Filecoin.StateGetRandomnessFromBeacon': read((p) => {
      args(p, 3, 4);
      at(p, 3);
      return b64(d.randomnessFromBeacon(int(p[0], 0, 0), int(p[1], 1), bytesParam(p[2], 2)));
    }),
    'Filecoin.StateWaitMsg': read(async (p, ctx) => {
      args(p, 1, 4);
      if (!isCid(p[0])) throw new ParamError('param 0: expected a CID');
      const conf = p[1] === undefined ? 0 : int(p[1], 1, 0);
      return d.waitMessage(p[0], conf, ctx.signal);
    }),
    'Filecoin.ChainGetMessage': read((p) => {
      args(p, 1, 1);
      if (!isCid(p[0])) throw new ParamError('param 0: expected a CID');
      return d.getMessage(p[0]);
    }),
    'Filecoin.StateListMessages': read((p) => {
      args(p, 3, 3);
      const match = obj<{ To?: unknown; From?: unknown }>(p[0], 0, 'a MessageMatch');
      // An unset address: absent, null, "" or Lotus's "<empty>" (address.Undef).
      const pick = (v: unknown) => (v === undefined || v === null || v === '' || v === '<empty>' ? undefined : addr(v, 0));
      return d.listMessages({ To: pick(match.To), From: pick(match.From) }, at(p, 1), int(p[2], 2, 0));
    }),
    'Filecoin.StateSearchMsg': read((p) => {
      args(p, 1, 4);
      const c = p.find(isCid);
      if (!c) throw new ParamError('expected a message CID');
      return d.lookup(c) ?? null;
    }),
    'Filecoin.MinerGetBaseInfo': read((p) => {
      args(p, 3, 3);
      return d.baseInfo(addr(p[0], 0), int(p[1], 1, 0), tsk(p[2], 2));
    }),
    'Filecoin.MinerCreateBlock': {
      perm: 'write',
      fn: (p) => {
        args(p, 1, 1);
        return d.createBlock(obj<BlockTemplate>(p[0], 0, 'a BlockTemplate'));
      },
    },
    'Filecoin.SyncSubmitBlock': {
      perm: 'write',
      fn: async (p) => {
        args(p, 1, 1);
        await d.submitBlock(obj<BlockMsg>(p[0], 0, 'a BlockMsg'));
        return null;
      },
    },
    'Filecoin.MpoolPushMessage': {
      perm: 'sign',
      fn: (p) => {
        args(p, 1, 2);
        const m = obj<Message>(p[0], 0, 'a Message');
        if (typeof m.To !== 'string' || typeof m.From !== 'string' || typeof m.Method !== 'number') throw new ParamError('param 0: a Message needs To, From and Method');
        return d.pushMessage(m, sendSpec(p[1], 1));
      },
    },
    // Messages signed elsewhere (a client's own key, src/deals/escrow.ts pushSigned): nonce, gas, push.
    'Filecoin.MpoolGetNonce': read((p) => {
      args(p, 1, 1);
      return d.nextNonce(addr(p[0], 0));
    }),
    'Filecoin.GasEstimateMessageGas': read((p) => {
      args(p, 1, 3);
      at(p, 2);
      const m = obj<Message>(p[0], 0, 'a Message');
      if (typeof m.To !== 'string' || typeof m.From !== 'string' || typeof m.Method !== 'number') throw new ParamError('param 0: a Message needs To, From and Method');
      return d.estimateMessageGas(m, sendSpec(p[1], 1));
    }),
    'Filecoin.MpoolPush': {
      perm: 'write',
      fn: (p) => {
        args(p, 1, 1);
        const sm = obj<SignedMessage>(p[0], 0, 'a SignedMessage');
        if (!sm.Message || typeof sm.Message !== 'object' || typeof sm.Message.To !== 'string' || typeof sm.Message.From !== 'string' || typeof sm.Message.Method !== 'number') {
          throw new ParamError('param 0: a SignedMessage needs a Message with To, From and Method');
        }
        if (!sm.Signature || typeof sm.Signature !== 'object') throw new ParamError('param 0: a SignedMessage needs a Signature');
        return d.pushSignedMessage(sm);
      },
    },
    'Filecoin.WalletSign': {
      perm: 'sign',
      fn: (p) => {
        args(p, 2, 2);
        const k = d.keyFor(addr(p[0], 0));
        if (!k) throw new ApiError(`key not found for ${p[0]}`);
        return { Type: 2, Data: b64(blsSign(k, bytesParam(p[1], 1))) };
      },
    },
    'Filecoin.MpoolPending': read((p) => {
      args(p, 0, 1);
      return d.pendingMessages();
    }),
    // What a miner asks before it sends value (src/devnet/state.ts devnetFunds has the amounts).
    'Filecoin.StateMinerPreCommitDepositForPower': read((p) => {
      args(p, 2, 3);
      at(p, 2);
      const m = miner(p);
      obj<unknown>(p[1], 1, 'a SectorPreCommitInfo');
      return devnetFunds.preCommitDeposit(m.info.sectorSize).toString();
    }),
    'Filecoin.StateMinerInitialPledgeForSector': read((p) => {
      args(p, 3, 4);
      at(p, 3);
      int(p[0], 0, 0);
      const size = int(p[1], 1, 0);
      if (size <= 0 || (size & (size - 1)) !== 0) throw new ParamError(`param 1: sector size ${size} is not a power of two`);
      int(p[2], 2, 0);
      return devnetFunds.initialPledge(size).toString();
    }),
    'Filecoin.StateMinerCreationDeposit': read((p) => {
      args(p, 0, 1);
      at(p, 0);
      return devnetFunds.creationDeposit().toString();
    }),
    'Filecoin.StateLookupID': read((p) => {
      args(p, 1, 2);
      at(p, 1);
      return d.lookupId(addr(p[0], 0));
    }),
    'Filecoin.WalletBalance': read((p) => {
      args(p, 1, 1);
      return d.balance(addr(p[0], 0)).toString();
    }),
    'Filecoin.WalletNew': {
      perm: 'write',
      fn: (p) => {
        args(p, 1, 1);
        return d.walletNew(String(p[0]));
      },
    },
    'Filecoin.WalletDefaultAddress': {
      perm: 'write',
      fn: (p) => {
        args(p, 0, 0);
        return d.walletDefaultAddress();
      },
    },
    'Filecoin.WalletHas': read((p) => {
      args(p, 1, 1);
      return d.keyFor(addr(p[0], 0)) !== undefined;
    }),
  };
}

// ------------------------------------------------------------------ server

/**
 * A devnet method as the shared JSON-RPC server calls it: a parameter the method cannot use
 * (ParamError, or a TypeError/RangeError on odd input) is the caller's error — invalid params,
 * as go-jsonrpc answers a param it cannot decode; a chain refusal (ApiError) keeps its code;
 * anything else is logged and answered with code 1.
 */
function served(method: string, fn: Handler): RpcHandler {
  return async (params, ctx) => {
    try {
      return await fn(params, ctx);
    } catch (e) {
      if (e instanceof ParamError || e instanceof TypeError || e instanceof RangeError) throw new RpcError(RPC_INVALID_PARAMS, `invalid params for ${method}: ${e.message}`);
      if (e instanceof RpcError) throw e;
      log.warn({ err: e, method }, 'handler failed');
      throw e;
    }
  };
}

export class DevnetRpcServer {
  private http: HttpService;
  private rpc = new JsonRpcMethods();

  constructor(
    private readonly devnet: Devnet,
    limits: Partial<NetLimits> = {},
  ) {
    for (const [name, m] of Object.entries(devnetMethods(devnet))) this.rpc.register(name, m.perm, served(name, m.fn));
    this.rpc.registerChannel('Filecoin.ChainNotify', 'read', (params, _ctx, ch) => {
      if (params.length > 0) throw new RpcError(RPC_INVALID_PARAMS, 'ChainNotify takes no params');
      ch.send([{ Type: 'current', Val: this.devnet.head() }]);
      const onHead = (ts: TipSet) => ch.send([{ Type: 'apply', Val: ts }]);
      const onClose = () => ch.close();
      this.devnet.on('head', onHead);
      this.devnet.once('close', onClose);
      return () => {
        this.devnet.off('head', onHead);
        this.devnet.off('close', onClose);
      };
    });
    this.http = new HttpService({
      name: 'devnet-rpc',
      verify: new Auth(devnet.jwtSecret),
      limits: { maxBodyBytes: MAX_BODY, ...limits },
      notFound: (_req, res, ctx) => sendJson(res, 404, rpcError(null, RPC_INVALID_REQUEST, `no such endpoint ${ctx.url.pathname}`)),
    });
    for (const path of RPC_PATHS) {
      this.http.route(this.rpc.route(path, { queryToken: true }));
      // Lotus lets a socket without a token in, with no permissions (it may call nothing that needs one).
      this.http.upgrade(this.rpc.upgradeRoute(path, log, { perm: null, maxPayload: MAX_BODY, anonMaxPayload: ANON_MAX_PAYLOAD, queryToken: true }));
    }
  }

  /** Listens on host:port (port 0 = any free port); returns the bound address. */
  listen(host = '127.0.0.1', port = 0): Promise<AddressInfo> {
    return this.http.listen(host, port);
  }

  /** The Lotus-style API info line for a token: `TOKEN:/ip4/127.0.0.1/tcp/PORT/http`. */
  apiInfo(token: string): string {
    const a = this.http.address();
    return `${token}:/ip4/${a.address}/tcp/${a.port}/http`;
  }

  /** Open connections (see HttpService.connections). */
  connections(): ReturnType<HttpService['connections']> {
    return this.http.connections();
  }

  async close(): Promise<void> {
    this.rpc.close();
    await this.http.close();
  }
}
