import { readFileSync } from 'node:fs';

/** The miner API token from --token, --token-file or DISTMINER_SECTORID_TOKEN. */
export function tokenFrom(o: { token?: string; tokenFile?: string }): string | undefined {
  if (o.token) return o.token;
  if (o.tokenFile) {
    const s = readFileSync(o.tokenFile, 'utf8').trim();
    if (!s) throw new Error(`the token file ${o.tokenFile} is empty`);
    return s;
  }
  return process.env.DISTMINER_SECTORID_TOKEN || undefined;
}
