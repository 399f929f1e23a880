// Shared setup for devnet tests: an in-process devnet with a shrunk proving period (same
// formulas), its JSON-RPC server on an ephemeral loopback port, and a client.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ChainClient } from '../../src/chain/client.js';
import { Devnet, type DevnetOptions } from '../../src/devnet/node.js';
import { DevnetRpcServer } from '../../src/devnet/rpc.js';

export const TEST_POLICY = { wpostChallengeWindow: 4, wpostPeriodDeadlines: 48, wpostChallengeLookback: 1, faultDeclarationCutoff: 2, preCommitChallengeDelay: 2 };

export interface Harness {
  dir: string;
  devnet: Devnet;
  server: DevnetRpcServer;
  client: ChainClient;
  apiInfo: string;
  close(keepDir?: boolean): Promise<void>;
}

export async function startDevnet(opts: Partial<DevnetOptions> = {}): Promise<Harness> {
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'distminer-devnet-'));
  const devnet = await Devnet.open({ blockDelayMs: 1000, autoAdvance: false, policy: TEST_POLICY, ...opts, dir });
  const server = new DevnetRpcServer(devnet);
  await server.listen('127.0.0.1', 0);
  const apiInfo = server.apiInfo(devnet.adminToken());
  const client = new ChainClient(apiInfo, { timeoutMs: 5000, retryAfterMs: 1000 });
  return {
    dir,
    devnet,
    server,
    client,
    apiInfo,
    async close(keepDir = false) {
      await server.close();
      await devnet.close();
      if (!keepDir) rmSync(dir, { recursive: true, force: true });
    },
  };
}
