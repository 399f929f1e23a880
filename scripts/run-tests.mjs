// The test command (`npm test`, after `pretest` built everything and made the parameters):
// runs ava over the compiled tests and prints the suite's wall time, so drift is visible.
// Extra arguments go to ava (e.g. `npm test -- dist/test/proofs/*.test.js`).
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const started = Date.now();
// One scratch directory per run: fixtures sealed once here are shared by every test file.
const runDir = process.env.DISTMINER_TEST_RUN_DIR ?? mkdtempSync(join(tmpdir(), 'distminer-test-'));
const env = { ...process.env, DISTMINER_TEST_RUN_DIR: runDir, DISTMINER_LOG_LEVEL: process.env.DISTMINER_LOG_LEVEL ?? 'warn' };
const args = process.argv.slice(2);
// ava's output is passed through as it comes, and read for its totals so that the run ends
// with the plain "N passed, N failed" line that CI systems look for.
const child = spawn(process.execPath, ['node_modules/ava/entrypoints/cli.mjs', ...args], { stdio: ['inherit', 'pipe', 'inherit'], env });
let tail = '';
let partial = '';
let ticks = 0; // ✔ lines: ava prints no passed total when something failed
child.stdout.on('data', (d) => {
  process.stdout.write(d);
  tail = (tail + d.toString()).slice(-4096);
  const lines = (partial + d.toString()).split('\n');
  partial = lines.pop() ?? '';
  for (const l of lines) if (/^\s*✔/.test(l)) ticks++;
});
const status = await new Promise((resolve) => child.on('close', (code, signal) => resolve(code ?? (signal ? 1 : 0))));
const count = (re) => Number(re.exec(tail)?.[1] ?? 0);
const passed = Math.max(count(/(\d+) tests? passed/), ticks);
const failed = count(/(\d+) tests? failed/) + count(/(\d+) uncaught exceptions?/) + count(/(\d+) unhandled rejections?/);
const skipped = count(/(\d+) tests? skipped/) + count(/(\d+) known failures?/);
const secs = ((Date.now() - started) / 1000).toFixed(1);
process.stdout.write(`\nsuite wall time: ${secs}s (scratch ${runDir})\n`);
process.stdout.write(`ava: ${passed} passed, ${status !== 0 && failed === 0 ? 1 : failed} failed${skipped ? `, ${skipped} skipped` : ''}\n`);
if (!process.env.DISTMINER_TEST_RUN_DIR && status === 0) rmSync(runDir, { recursive: true, force: true });
process.exit(status);
