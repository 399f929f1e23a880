// Whether `/debug/metrics` needs a token: config.toml `[API] MetricsNeedToken = true`, or the
// environment `DISTMINER_METRICS_TOKEN=1` (either turns it on). Read here, where the API server
// starts, rather than in src/config/settings.ts (which [API] keys it validates is that file's
// business; [API] is Lotus's section and takes keys it does not know).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { ConfigError } from '../config/multiaddr.js';

export function metricsNeedToken(repoPath: string, env: NodeJS.ProcessEnv = process.env): boolean {
  const e = env.DISTMINER_METRICS_TOKEN;
  if (e !== undefined && e !== '') {
    if (e === '1' || e === 'true') return true;
    if (e !== '0' && e !== 'false') throw new ConfigError(`DISTMINER_METRICS_TOKEN must be 1 or 0, got "${e}"`);
  }
  // openRepo already parsed this file: it is valid TOML.
  const doc = parseToml(readFileSync(join(repoPath, 'config.toml'), 'utf8')) as { API?: { MetricsNeedToken?: unknown } };
  const v = doc.API?.MetricsNeedToken;
  if (v === undefined) return false;
  if (typeof v !== 'boolean') throw new ConfigError(`config.toml: MetricsNeedToken in [API] must be true or false, got ${JSON.stringify(v)}`);
  return v;
}
