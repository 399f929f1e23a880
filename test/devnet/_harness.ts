// Shared setup for devnet tests: an in-process devnet with a shrunk proving period (same
// formulas), its JSON-RPC server on an ephemeral loopback port, and a client.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ChainClient } from '../../src/chain/client.js';
import { addressBytes } from '../../src/chain/address.js';
import { cborEncode } from '../../src/chain/cbor.js';
import { b64 } from '../../src/chain/encoding.js';
import { Devnet } from '../../src/devnet/node.js';
import type { DevnetOptions } from '../../src/devnet/state.js';
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

/**
 * Funds from a devnet wallet key (a genesis miner's worker): `send` moves attoFIL to an
 * address (a key seen for the first time gets an account), `addBalance` puts them into an
 * address's market escrow (AddBalance through MpoolPushMessage, as the deal role funds its
 * provider collateral). Each waits for its receipt, advancing the chain by hand.
 */
export async function send(h: Harness, from: string, to: string, amount: bigint): Promise<void> {
  const sm = await h.client.mpoolPushMessage({ To: to, From: from, Method: 0, Value: amount.toString() });
  await h.devnet.advance();
  const r = await h.client.stateWaitMsg(sm.CID!, 0);
  if (r.Receipt.ExitCode !== 0) throw new Error(`send to ${to} failed with exit code ${r.Receipt.ExitCode}`);
}

export async function addBalance(h: Harness, from: string, target: string, amount: bigint): Promise<void> {
  const params = b64(cborEncode(addressBytes(target)));
  const sm = await h.client.mpoolPushMessage({ To: 't05', From: from, Method: 2, Value: amount.toString(), Params: params });
  await h.devnet.advance();
  const r = await h.client.stateWaitMsg(sm.CID!, 0);
  if (r.Receipt.ExitCode !== 0) throw new Error(`AddBalance for ${target} failed with exit code ${r.Receipt.ExitCode}: ${JSON.stringify(r.ReturnDec)}`);
}
