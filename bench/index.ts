// `npm run bench`: runs every benchmark in dist/bench (one process each, one after another so
// they do not compete for the cores) and lists the JSON results they wrote.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const only = process.argv.slice(2);
const benches = readdirSync(here)
  .filter((f) => f.endsWith('.js') && !['index.js', 'common.js'].includes(f))
  .filter((f) => only.length === 0 || only.includes(f.replace(/\.js$/, '')))
  .sort();
let failed = 0;
for (const b of benches) {
  process.stdout.write(`\n=== bench/${b.replace(/\.js$/, '')}\n`);
  const r = spawnSync(process.execPath, [join(here, b)], { stdio: 'inherit' });
  if (r.status !== 0) failed++;
}
process.stdout.write(`\n${benches.length - failed} benchmarks ran, ${failed} failed; results in bench/results/\n`);
process.exit(failed ? 1 : 0);
