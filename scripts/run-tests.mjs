// The test command (`npm test`, after `pretest` built everything and made the parameters):
// runs ava over the compiled tests and prints the suite's wall time, so drift is visible.
// Extra arguments go to ava (e.g. `npm test -- dist/test/proofs/*.test.js`).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const started = Date.now();
// One scratch directory per run: fixtures sealed once here are shared by every test file.
const runDir = process.env.DISTMINER_TEST_RUN_DIR ?? mkdtempSync(join(tmpdir(), 'distminer-test-'));
const env = { ...process.env, DISTMINER_TEST_RUN_DIR: runDir, DISTMINER_LOG_LEVEL: process.env.DISTMINER_LOG_LEVEL ?? 'warn' };
const args = process.argv.slice(2);
const r = spawnSync(process.execPath, ['node_modules/ava/entrypoints/cli.mjs', ...args], { stdio: 'inherit', env });
const secs = ((Date.now() - started) / 1000).toFixed(1);
process.stdout.write(`\nsuite wall time: ${secs}s (scratch ${runDir})\n`);
if (!process.env.DISTMINER_TEST_RUN_DIR && r.status === 0) rmSync(runDir, { recursive: true, force: true });
process.exit(r.status ?? 1);
