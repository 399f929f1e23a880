// The deal role's chain (DealChain) over the Lotus full-node API (a Lotus daemon or the
// devnet): PublishStorageDeals to the market actor from the miner's worker address,
// StateWaitMsg for its return (the deal IDs), StateListMessages + ChainGetMessage to find a
// deal after a crash among this miner's publications since the first attempt; the market's
// escrow (StateMarketBalance, StateDealProviderCollateralBounds) and this miner's own top-up
// (AddBalance from the worker through the node's wallet, MpoolPushMessage). Its other
// party, this miner's seal service, is reached through src/sealing/client.ts.
// Lotus/Boost mapping: Boost publishes with PublishStorageDeals the same way (batched, from a
// control address), then hands each piece to lotus-miner with SectorAddPieceToAny; here the
// deal role packs a whole sector and pledges it in one call (SectorsPledgeDeals).
import type { ChainClient } from '../chain/client.js';
import { type DealProposal, MARKET_ACTOR_ID, dealProposalCbor, type MarketDeal, MarketMethod, decodePublishReturn, decodePublishStorageDeals, encodePublishStorageDeals } from '../chain/market.js';
import { logger } from '../log.js';
import { type Network, idAddress } from '../chain/address.js';
import type { Cid } from '../chain/cid.js';
import { b64, fromB64 } from '../chain/encoding.js';
import type { DealChain } from './coordinator.js';
import { addBalanceParams, marketBalance, providerCollateralBounds } from './escrow.js';

/** A proposal's identity: its CBOR, so its proposal CID (addresses' f/t prefix aside). */
const proposalKey = (p: DealProposal) => dealProposalCbor(p).toString('hex');

const log = logger('deal-chain');

export function lotusDealChain(client: ChainClient, minerId: number, network: Network = 'testnet'): DealChain {
  const miner = idAddress(minerId, network);
  const market = idAddress(MARKET_ACTOR_ID, network);
  let worker: string | undefined;
  return {
    provider: miner,
    head: async () => (await client.chainHead()).Height,
    balance: (address) => marketBalance(client, address),
    collateralBounds: (pieceSize, verified) => providerCollateralBounds(client, pieceSize, verified),
    fundProvider: async (amount, uuid) => {
      worker ??= (await client.stateMinerInfo(miner)).Worker;
      // MsgUuid: the node answers a second push of this top-up with the message it already sent.
      const sm = await client.mpoolPushMessage({ To: market, From: worker, Method: MarketMethod.AddBalance, Value: amount.toString(), Params: b64(addBalanceParams(miner)) }, { MsgUuid: uuid });
      return (sm.CID ?? sm.Message.CID!)['/'];
    },
    messageOutcome: async (cid) => {
      const l = await client.stateSearchMsg({ '/': cid });
      return l ? { exitCode: l.Receipt.ExitCode } : null;
    },
    publish: async (deals) => {
      worker ??= (await client.stateMinerInfo(miner)).Worker;
      const sm = await client.mpoolPushMessage({ To: market, From: worker, Method: MarketMethod.PublishStorageDeals, Params: b64(encodePublishStorageDeals(deals)) });
      return (sm.CID ?? sm.Message.CID!)['/'];
    },
    waitPublish: async (cid) => {
      const r = await client.stateWaitMsg({ '/': cid }, 0, { timeoutMs: 30 * 60_000 });
      const ids = new Map<number, number>();
      if (r.Receipt.ExitCode !== 0) return { exitCode: r.Receipt.ExitCode, error: (r.ReturnDec as { Error?: string } | null)?.Error, ids };
      if (!r.Receipt.Return) throw new Error(`PublishStorageDeals ${cid} succeeded without a return value`);
      const ret = decodePublishReturn(fromB64(r.Receipt.Return, 'Receipt.Return'));
      ret.ValidDeals.forEach((idx, i) => ids.set(idx, ret.IDs[i]));
      return { exitCode: 0, ids };
    },
    // Called for deals whose publication was cut by a crash or that a publication dropped, once
    // per batch. This miner's PublishStorageDeals messages since the first attempt are few;
    // StateMarketDeals (every deal of the network: gigabytes on mainnet) is only the fallback
    // for records saved before the attempt's height was kept.
    findDeals: async (ps, since) => {
      const want = new Set(ps.map(proposalKey));
      const found = new Map<string, number>();
      if (since === undefined) {
        log.warn({ deals: ps.length }, 'no publication height recorded: searching every market deal (StateMarketDeals)');
        // The market keeps a proposal with its client and provider as ID addresses: compare so.
        const ids = new Map<string, string>();
        const idOf = async (a: string) => {
          if (!ids.has(a)) ids.set(a, await client.call<string>('Filecoin.StateLookupID', [a, null]).catch(() => a));
          return ids.get(a)!;
        };
        const keys = await Promise.all(ps.map(async (p) => proposalKey({ ...p, Client: await idOf(p.Client), Provider: await idOf(p.Provider) })));
        const wantIds = new Set(keys);
        const all = await client.call<Record<string, MarketDeal>>('Filecoin.StateMarketDeals', [null], { timeoutMs: 120_000 });
        for (const [id, d] of Object.entries(all)) {
          const k = proposalKey(d.Proposal);
          if (wantIds.has(k)) found.set(k, Number(id));
        }
        return keys.map((k) => found.get(k));
      }
      worker ??= (await client.stateMinerInfo(miner)).Worker;
      // The sender as the message has it: Lotus signs a message pushed from an ID address with
      // the key address and writes that into it; the devnet keeps the address as pushed.
      const senders = new Set([worker, await client.stateAccountKey(worker).catch(() => worker)]);
      const cids = new Map<string, Cid>();
      for (const from of senders) for (const c of (await client.stateListMessages({ To: market, From: from }, since, null, { timeoutMs: 120_000 })) ?? []) cids.set(c['/'], c);
      for (const c of cids.values()) {
        if (found.size === want.size) break;
        const m = await client.chainGetMessage(c);
        if (m.Method !== MarketMethod.PublishStorageDeals || !m.Params) continue;
        let keys: string[];
        try {
          keys = decodePublishStorageDeals(fromB64(m.Params, 'Params')).map((d) => proposalKey(d.Proposal));
        } catch {
          continue; // not a batch this code wrote
        }
        if (!keys.some((k) => want.has(k) && !found.has(k))) continue;
        const r = await client.stateSearchMsg(c);
        if (!r || r.Receipt.ExitCode !== 0 || !r.Receipt.Return) continue;
        // ValidDeals: the batch indices that got a deal ID, in the order of IDs.
        const ret = decodePublishReturn(fromB64(r.Receipt.Return, 'Receipt.Return'));
        ret.ValidDeals.forEach((i, n) => {
          if (want.has(keys[i])) found.set(keys[i], ret.IDs[n]);
        });
      }
      return ps.map((p) => found.get(proposalKey(p)));
    },
  };
}
