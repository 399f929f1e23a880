// ava settings of the real-Lotus tier (`npm run test:lotus`): only test/lotus, which needs the
// devnet that scripts/test-lotus.sh starts. package.json's "ava" runs everything else.
export default {
  files: ['dist/test/lotus/**/*.test.js'],
  require: ['./dist/test/helpers/exit-when-done.js'],
  timeout: '10m',
  workerThreads: false,
  concurrency: 1,
  verbose: true,
};
