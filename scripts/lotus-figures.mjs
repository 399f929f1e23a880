// Merges one tier's figures into bench/results/lotus-interop.json: `node scripts/lotus-figures.mjs
// ENTRY FIGURES.json OUT.json [EXIT_CODE]` (ENTRY: the tier, or "<tier>:<files>" for a run of
// named test files). A run replaces only its own entry; `passed`
// says whether its tests all passed (a failed run's figures are kept, and say so).
import { existsSync, readFileSync, writeFileSync, renameSync } from 'node:fs';

const [tier, figuresFile, out, exitCode = '0'] = process.argv.slice(2);
const all = existsSync(out) ? JSON.parse(readFileSync(out, 'utf8')) : {};
all[tier] = { ...JSON.parse(readFileSync(figuresFile, 'utf8')), passed: exitCode === '0', finished_at: new Date().toISOString() };
writeFileSync(`${out}.tmp`, JSON.stringify(all, null, 2) + '\n');
renameSync(`${out}.tmp`, out);
process.stdout.write(`lotus-interop: ${tier} ${JSON.stringify(all[tier])}\n`);
