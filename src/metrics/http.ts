// `/debug/metrics` (Lotus's path) as a route of src/net's HttpService. Like Lotus it is served
// without a token by default; with `needToken` a request needs a token carrying `read` (401
// without one, 403 with a token lacking it). Scrapes that arrive while one is being collected
// share its result, so a burst of scrapes costs one collection (one message per role actor).
import { sharedResult } from '../util/shared.js';
import type { Route } from '../net/http-server.js';
import { CONTENT_TYPE, type MetricsJson, exposition } from './index.js';

export const METRICS_PATH = '/debug/metrics';

export interface MetricsRouteOptions {
  /** Require a token with `read`. */
  needToken: boolean;
  /** The other threads' metrics (the supervisor's role actors), already labelled. */
  others?: () => Promise<MetricsJson[]>;
}

/** A text exposition of this thread's registry and `others`, shared by concurrent callers. */
export function sharedExposition(others?: () => Promise<MetricsJson[]>): () => Promise<string> {
  return sharedResult(async () => exposition(others ? await others() : []), 0);
}

export function metricsRoute(o: MetricsRouteOptions): Route {
  const text = sharedExposition(o.others);
  return {
    path: METRICS_PATH,
    method: ['GET', 'HEAD'],
    handler: async (req, res, ctx) => {
      if (o.needToken && !ctx.perms.includes('read')) {
        const status = ctx.authenticated ? 403 : 401;
        res.writeHead(status, { 'content-type': 'text/plain', connection: 'close' });
        res.end(ctx.authenticated ? 'metrics need a token with the read permission\n' : 'metrics need an API token (Authorization: Bearer <token>); see [API] MetricsNeedToken\n');
        return;
      }
      const body = await text();
      if (res.destroyed) return;
      res.writeHead(200, { 'content-type': CONTENT_TYPE, 'content-length': Buffer.byteLength(body) });
      res.end(req.method === 'HEAD' ? undefined : body);
    },
  };
}
