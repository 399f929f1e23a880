// Merges one tier's figures into bench/results/lotus-interop.json: `node scripts/lotus-figures.mjs
// TIER FIGURES.json OUT.json`. A run replaces only its own tier's entry.
import { existsSync, readFileSync, writeFileSync, renameSync } from 'node:fs';

const [tier, figuresFile, out] = process.argv.slice(2);
const all = existsSync(out) ? JSON.parse(readFileSync(out, 'utf8')) : {};
all[tier] = { ...JSON.parse(readFileSync(figuresFile, 'utf8')), finished_at: new Date().toISOString() };
writeFileSync(`${out}.tmp`, JSON.stringify(all, null, 2) + '\n');
renameSync(`${out}.tmp`, out);
process.stdout.write(`lotus-interop: ${tier} ${JSON.stringify(all[tier])}\n`);
