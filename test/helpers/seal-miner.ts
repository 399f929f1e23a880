// A seal miner process for the sealing integration tests: the real SealService (store,
// scheduler, pipeline) with the in-memory chain of mem-chain.ts and the real sector-number
// service as its number source. Prints "READY <port>" when listening.
//   node dist/test/helpers/seal-miner.js --repo D (--chain F | --chain-api INFO) --sectorid H:P --token T --secret HEX --port N --storage S
// --secret: the API secret its tokens are checked with (as a repository's keystore holds it);
// --token: what it sends to the sector-number service.
import { SectorIdClient } from '../../src/sectorid/index.js';
import { Auth } from '../../src/auth/index.js';
import { SealService } from '../../src/sealing/service.js';
import { ChainClient } from '../../src/chain/client.js';
import { lotusSealChain } from '../../src/sealing/lotus-chain.js';
import { MemChain } from './mem-chain.js';

const arg = (n: string) => {
  const i = process.argv.indexOf(`--${n}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
};

if (!arg('secret')) throw new Error('seal-miner: --secret HEX (the API secret its tokens are checked with) is required');

// --chain FILE: the in-memory chain double; --chain-api INFO: a Lotus API (the devnet).
const chain = arg('chain-api') ? lotusSealChain(new ChainClient(arg('chain-api')!), 1000) : new MemChain(arg('chain')!, 1000).sealChain();
const numbers = new SectorIdClient({ address: arg('sectorid')!, token: arg('token')! });
const svc = new SealService({
  repo: arg('repo')!,
  minerId: 1000,
  auth: new Auth(Buffer.from(arg('secret')!, 'hex')),
  listen: { host: '127.0.0.1', port: Number(arg('port') ?? 0) },
  chain,
  numbers,
  storagePath: arg('storage')!,
  heartbeatMs: 500,
  reconnectGraceMs: Number(arg('grace') ?? 5000),
  retryDelayMs: 500,
  pollMs: 100,
});
const { port } = await svc.start();
process.stdout.write(`READY ${port}\n`);
const stop = async () => {
  await svc.stop();
  numbers.close();
  process.exit(0);
};
process.on('SIGTERM', () => void stop());
process.on('SIGINT', () => void stop());
