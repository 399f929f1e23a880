// Deal actor (`--p2p=true`, role `deal`): the deal server (src/deals/server.ts: intake,
// streamed uploads, CommP checks, the market's word on each proposal, retrieval at
// /piece/{cid}) and the deal flow (src/deals/coordinator.ts: fund the provider collateral,
// publish on chain, pack published deals into sectors sealed by this miner's seal service on
// its own workers, follow them to Active). Exactly one deal miner per miner id:
// DealServer.start refuses to start while another holds the claim, and the actor then fails
// (the supervisor's intensity limit ends the process with that message).
// Without a chain API the role stays idle and says why.
import { chainOrIdle, countsBy, minerAddress, reportEvery, serviceRole } from './common.js';
import type { CreateRole } from './types.js';

export interface DealRoleOptions {
  minerId: string;
  repo: string;
  token: string;
  chainApi?: string;
  /** Shared storage: the first path holds the one-deal-miner lease every host sees. */
  storagePaths: string[];
  /** HOST:PORT of the deal server (clients, retrieval, this miner's workers fetching pieces). */
  dealListen: string;
  /** How long a deal sector that is not full waits for more deals before it is sealed. */
  waitDealsMs?: number;
}

export const createRole: CreateRole = (ctx) => {
  const o = ctx.options as unknown as DealRoleOptions;
  return serviceRole(ctx, { version: 2, runningDetail: 'starting the deal server' }, async (sendBack) => {
    const chainApi = chainOrIdle(ctx, o.chainApi, sendBack);
    if (!chainApi) return undefined;
    const [{ DealServer }, { DealCoordinator }, { lotusDealChain }, { sealServiceClient }, { ChainClient }, { parseHostPort }, { join }, { repoAuth }] = await Promise.all([
      import('../../src/deals/server.js'),
      import('../../src/deals/coordinator.js'),
      import('../../src/deals/deal-chain.js'),
      import('../../src/sealing/client.js'),
      import('../../src/chain/client.js'),
      import('../../src/config/multiaddr.js'),
      import('node:path'),
      import('../../src/auth/index.js'),
    ]);
    const listen = parseHostPort(o.dealListen, 'deal listen address');
    const { id: minerNum, network } = minerAddress(o.minerId);
    const chain = lotusDealChain(new ChainClient(chainApi), minerNum, network);
    const server = await DealServer.start({
      dir: join(o.repo, 'deals'),
      minerId: o.minerId,
      auth: repoAuth(o.repo),
      host: listen.host,
      port: listen.port,
      requirePublished: true,
      sharedDir: o.storagePaths[0],
      market: chain,
    });
    const flow = new DealCoordinator({
      store: server.store,
      pipeline: server.pipeline,
      chain,
      sealer: sealServiceClient(o.repo, o.token),
      sectorSize: server.sectorSize,
      pieceBase: server.url,
      waitDealsMs: o.waitDealsMs,
    });
    flow.start();
    sendBack({ type: 'SET', key: 'listen', value: server.url });
    const stopReport = reportEvery(sendBack, () => `deal server on ${server.url}; deals: ${countsBy(server.store.list(), (d) => d.state)}`);
    return async () => {
      stopReport();
      await flow.stop();
      await server.close();
    };
  });
};
