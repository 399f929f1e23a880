// The unit tier's file list (ava.unit.config.mjs) names only test files that exist, and none
// of them uses sealed fixtures or starts a devnet, a miner cluster or a browser: the tier needs
// the build but not the proof parameters (in CI it runs before they are generated).
import test from 'ava';
import { existsSync, readFileSync } from 'node:fs';

const ROOT = new URL('../../', import.meta.url);

test('every file of the unit tier exists and stays clear of sealed fixtures, devnets, miners and browsers', async (t) => {
  const { UNIT_FILES } = (await import(new URL('ava.unit.config.mjs', ROOT).href)) as { UNIT_FILES: string[] };
  t.true(UNIT_FILES.length > 20);
  for (const f of UNIT_FILES) {
    const src = new URL(`test/${f}.test.ts`, ROOT);
    t.true(existsSync(src), `test/${f}.test.ts exists`);
    if (f === 'unit-tier') continue; // this file names the patterns
    const text = readFileSync(src, 'utf8');
    t.notRegex(text, /helpers\/(cluster|sealed|seal-miner|drill-miner|seal-service|lotus-miner)\.js|puppeteer|startDevnet|startPostgres/, `test/${f}.test.ts is a unit test`);
  }
});
