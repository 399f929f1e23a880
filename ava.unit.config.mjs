// ava settings of the unit tier (`npm run test:unit`): the tests of pure logic and of one
// process's own sockets and files — no proofs, no sealing, no devnet, no browser — which need
// the build (the native addon also gives the file locks) but not the proof parameters, and run
// in well under a minute. `npm test` runs them too, with everything else.
// A file belongs here when it runs in a few seconds alone; test/unit-tier.test.ts checks that
// every file listed exists and imports none of the heavy helpers, so the list cannot rot.
export const UNIT_FILES = [
  'actors/mailbox',
  'actors/priority',
  'actors/roles-common',
  'actors/task-kinds',
  'api/server',
  'auth/auth',
  'chain/client',
  'chain/deadlines',
  'chain/types',
  'config/lotus-miner-repo',
  'config/settings',
  'deals/coordinator',
  'deals/escrow',
  'deals/hostile',
  'deals/lifecycle',
  'deals/server',
  'metrics/net-deals',
  'net/failure-limiter',
  'net/http-server',
  'net/json-rpc',
  'net/rpc-client',
  'post/mining-loop',
  'post/window-plan',
  'post/winning-plan',
  'post/sender',
  'proofs/units',
  'sealing/events',
  'sealing/fsm',
  'sealing/lotus-chain',
  'sealing/refused',
  'sealing/scheduler',
  'sectorid/file-store',
  'sectorid/hostile',
  'sectorid/protocol',
  'sectorid/ranges',
  'store/kv',
  'util/limit',
  'util/listen',
  'web/routes',
  'unit-tier',
];

export default {
  files: UNIT_FILES.map((f) => `dist/test/${f}.test.js`),
  require: ['./dist/test/helpers/exit-when-done.js'],
  timeout: '2m',
  workerThreads: false,
  concurrency: 4,
  verbose: true,
};
