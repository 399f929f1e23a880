// Figures of the real-Lotus tier: each test file adds its keys to the one JSON file named by
// DISTMINER_LOTUS_FIGURES (scripts/test-lotus.sh merges it into bench/results/lotus-interop.json).
// Read, merge, write atomically: several files add figures without losing each other's;
// `seconds` adds up (each file's own wall time, run one after another).
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { writeFileAtomic } from '../../src/util/durable.js';

export function mergeFigures(figures: Record<string, unknown>, file = process.env.DISTMINER_LOTUS_FIGURES): void {
  if (!file) return;
  mkdirSync(dirname(file), { recursive: true });
  const have = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>) : {};
  const out = { ...have, ...figures };
  if (typeof have.seconds === 'number' && typeof figures.seconds === 'number') out.seconds = have.seconds + figures.seconds;
  writeFileAtomic(file, JSON.stringify(out));
}
