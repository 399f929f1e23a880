import { readFileSync } from 'node:fs';
import { type Parsed, flag } from './args.js';

/** The miner API token from --token, --token-file or DISTMINER_SECTORID_TOKEN. */
export function tokenFrom(p: Parsed): string | undefined {
  const t = flag(p, 'token');
  if (t) return t;
  const f = flag(p, 'token-file');
  if (f) {
    const s = readFileSync(f, 'utf8').trim();
    if (!s) throw new Error(`the token file ${f} is empty`);
    return s;
  }
  return process.env.DISTMINER_SECTORID_TOKEN || undefined;
}
