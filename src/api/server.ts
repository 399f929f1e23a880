// The miner's local API: JSON-RPC 2.0 over HTTP POST and WebSocket (path /rpc/v0, as Lotus), a Lotus JWT in
// `Authorization: Bearer …`, verified with the repository's secret (src/auth). Methods are
// registered by the components that own them (`register`), each with the permission it needs
// (read < write < sign < admin; admin unless said otherwise), e.g. the supervisor's
// `Distminer.Status` (read). Served by the hardened server of src/net: no request can take
// the miner down, bodies are bounded before auth, a trickle is cut at its deadline.
// GET /debug/metrics: Prometheus metrics (src/metrics), without a token unless configured.
// GET / (or /ui): the web status page (src/web/page.ts): a read token entered once, kept in
// an HttpOnly cookie; it polls /ui/status.json, built from `Distminer.Status` and the metrics.
import type { Server } from 'node:http';
import type { Auth, Permission } from '../auth/index.js';
import type { HostPort, PeerApi } from '../config/multiaddr.js';
import { logger } from '../log.js';
import { HttpService, type NetLimits } from '../net/http-server.js';
import { JsonRpcMethods, RpcError } from '../net/json-rpc.js';
import { type MetricsRouteOptions, metricsRoute } from '../metrics/http.js';
import { type MetricsJson, metricsJson } from '../metrics/index.js';
import { sharedResult } from '../util/shared.js';
import { webRoutes } from '../web/page.js';
import type { Alert } from '../web/snapshot.js';

const log = logger('api');

export const RPC_PATH = '/rpc/v0';
const MAX_BODY = 1024 * 1024;

export { RpcError };

export type Handler = (params: unknown[]) => unknown | Promise<unknown>;

export interface ApiServer {
  address: HostPort;
  /** The listening server (for tests: open connection counts). */
  server: Server;
  /** Serves `method`, to tokens carrying `perm` (default admin: safe unless said otherwise). */
  register(method: string, handler: Handler, perm?: Permission): void;
  /** Serves Prometheus metrics at /debug/metrics (src/metrics/http.ts). */
  serveMetrics(o: MetricsRouteOptions): void;
  /** This host's active alerts, as the web page shows them. */
  alerts(): Promise<Alert[]>;
  close(): Promise<void>;
}

export interface ApiServerOptions {
  limits?: Partial<NetLimits>;
  /** The other hosts of this miner, shown on the web page beside this one. */
  peers?: PeerApi[];
}

export async function startApiServer(listen: HostPort, auth: Auth, opts: ApiServerOptions = {}): Promise<ApiServer> {
  const limits = opts.limits ?? {};
  const methods = new JsonRpcMethods();
  const svc = new HttpService({ name: 'miner-api', verify: auth, limits: { maxBodyBytes: MAX_BODY, ...limits } });
  svc.route(methods.route(RPC_PATH));
  svc.upgrade(methods.upgradeRoute(RPC_PATH, log));
  // The web page reads the same sources as `Distminer.Status` and /debug/metrics, in process.
  const handlers = new Map<string, Handler>();
  let others: (() => Promise<MetricsJson[]>) | undefined;
  const web = webRoutes({
    auth,
    status: () => handlers.get('Distminer.Status')?.([]),
    // The actors first: a miss (an actor that did not answer) is counted on this thread, and
    // so shows in this snapshot rather than the next one.
    metrics: async () => {
      const theirs = others ? await others() : [];
      return [...(await metricsJson()), ...theirs.flat()];
    },
    peers: opts.peers,
  });
  for (const r of web.routes) svc.route(r);
  const a = await svc.listen(listen.host, listen.port);
  log.info({ host: a.address, port: a.port }, 'miner API listening');
  return {
    address: { host: a.address, port: a.port },
    server: svc.server,
    register(method, handler, perm = 'admin') {
      handlers.set(method, handler);
      methods.register(method, perm, (params) => handler(params));
    },
    serveMetrics(o) {
      // One ask of every actor thread, while it is in flight, serves the page's polls and the
      // scrapes that come meanwhile; a later scrape asks again (it must see the values of now).
      others = o.others && sharedResult(o.others, 0);
      svc.route(metricsRoute({ ...o, others }));
    },
    alerts: () => web.alerts(),
    close: () => {
      methods.close();
      return svc.close();
    },
  };
}
