// The web status page, served by the miner's API server (src/api/server.ts) on its port:
//
//   GET  /  and  /ui        the page (web/status.html: plain HTML + vanilla JS, no build step)
//   POST /ui/login          {"token": "..."}: a token carrying `read` is checked with the
//                           repository's Auth and, if good, kept in an HttpOnly, SameSite=Strict
//                           cookie; a wrong one is answered 401 with the reason, and no cookie
//                           (wrong tokens are limited per client address: 429 with Retry-After)
//   POST /ui/logout         clears the cookie
//   GET  /ui/status.json    the snapshot the page polls (every 2 s); 401 without a good cookie
//                           (or an Authorization: Bearer token with read). With peers
//                           ([Distminer] ClusterPeers) it holds each peer's own snapshot
//                           (fetched with ?local=1: its host only) and their alerts too
//
// The cookie holds the token itself (it is verified on every request, an HMAC: a restart or a
// rotated secret logs the page out, nothing to keep on the server). The API's RPC endpoint
// reads only the Authorization header, never the cookie, so the cookie cannot be used to call
// methods from another site (and SameSite=Strict keeps it off cross-site requests anyway).
//
// Cost: a request without the cookie is refused before anything is collected. The snapshot
// only reads what the miner already has: `Distminer.Status` (the supervisor's in-memory
// status) and the metrics registry (the same collection /debug/metrics does: one message per
// role actor, no chain call). Concurrent polls share one collection, and a snapshot is reused
// for SNAPSHOT_TTL_MS, so a burst of page loads during a Winning PoSt costs one collection.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Auth } from '../auth/index.js';
import type { PeerApi } from '../config/multiaddr.js';
import type { MetricsJson } from '../metrics/index.js';
import { FailureLimiter, peerAddress } from '../net/failure-limiter.js';
import { HttpError, type Route, sendJson } from '../net/http-server.js';
import { type Alert, CounterMemory, type PeerView, type Snapshot, buildSnapshot, peerAlerts } from './snapshot.js';
import { sharedResult } from '../util/shared.js';

export type { Alert, Snapshot };

export const UI_PATH = '/ui';
export const LOGIN_PATH = '/ui/login';
export const LOGOUT_PATH = '/ui/logout';
export const STATUS_JSON_PATH = '/ui/status.json';
export const COOKIE = 'distminer_ui';
const SNAPSHOT_TTL_MS = 1000;
/** The cookie lives a week (the token inside is checked on every request regardless). */
const COOKIE_MAX_AGE_S = 7 * 24 * 3600;

export const PAGE_FILE = new URL('../../../web/status.html', import.meta.url);

export interface WebOptions {
  auth: Auth;
  /** Distminer.Status's result (undefined: not registered yet). */
  status(): Promise<unknown> | unknown;
  /** Every thread's metrics (this one's registry and the role actors'). */
  metrics(): Promise<MetricsJson>;
  /** Failed logins per client address (default: 10 at once, then one per 6 s). */
  loginLimiter?: FailureLimiter;
  /** The other hosts of this miner ([Distminer] ClusterPeers): shown beside this one. */
  peers?: PeerApi[];
}

/** A peer's answer is bounded in time and size: one slow or broken host must not stall the page. */
const PEER_TIMEOUT_MS = 2500;
const PEER_MAX_BYTES = 4 * 1024 * 1024;

/** One peer's local view (its `?local=1` snapshot: its own host only, so peers never recurse). */
export async function fetchPeer(p: PeerApi, timeoutMs = PEER_TIMEOUT_MS): Promise<PeerView> {
  try {
    const r = await fetch(`${p.url}${STATUS_JSON_PATH}?local=1`, { headers: { authorization: `Bearer ${p.token}` }, signal: AbortSignal.timeout(timeoutMs), redirect: 'error' });
    // Read up to the limit, never the whole of a larger answer.
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const c of r.body ?? []) {
      size += (c as Uint8Array).length;
      if (size > PEER_MAX_BYTES) {
        await r.body?.cancel().catch(() => undefined);
        return { endpoint: p.endpoint, ok: false, error: `answer over ${PEER_MAX_BYTES} bytes` };
      }
      chunks.push(Buffer.from(c as Uint8Array));
    }
    const text = Buffer.concat(chunks).toString('utf8');
    if (!r.ok) return { endpoint: p.endpoint, ok: false, error: `HTTP ${r.status}: ${text.slice(0, 200)}` };
    const s = JSON.parse(text) as Partial<Snapshot>;
    if (!s || typeof s !== 'object' || !Array.isArray(s.actors) || !Array.isArray(s.alerts)) return { endpoint: p.endpoint, ok: false, error: 'the answer is not a distminer status page snapshot' };
    return { endpoint: p.endpoint, ok: true, host: s.host, miner: s.miner, roles: s.roles, uptimeMs: s.uptimeMs, actors: s.actors, alerts: s.alerts };
  } catch (e) {
    const err = e as Error & { cause?: { code?: string; message?: string } };
    const why = err.name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : (err.cause?.code ?? err.cause?.message ?? err.message);
    return { endpoint: p.endpoint, ok: false, error: why };
  }
}

/** The cookie's token from a Cookie header (undefined when absent). */
export function cookieToken(header: string | undefined): string | undefined {
  if (!header || header.length > 16 * 1024) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === COOKIE) return part.slice(eq + 1).trim() || undefined;
  }
  return undefined;
}

const SECURITY_HEADERS = {
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
};

const shared = <T>(f: () => Promise<T>) => sharedResult(f, SNAPSHOT_TTL_MS);

/** The page's routes, and this host's alerts (what the page shows for it) for other readers. */
export function webRoutes(o: WebOptions): { routes: Route[]; alerts(): Promise<Alert[]> } {
  // Read once: the page is a static file of the repository.
  const page = readFileSync(PAGE_FILE);
  // Only the page's own inline script runs (allowed by its hash: an injected script would
  // not), fetches go to this origin only, nothing is loaded from elsewhere.
  const scripts = [...page.toString('utf8').matchAll(/<script>([\s\S]*?)<\/script>/g)].map((m) => `'sha256-${createHash('sha256').update(m[1]).digest('base64')}'`);
  const pageHeaders = {
    ...SECURITY_HEADERS,
    'content-type': 'text/html; charset=utf-8',
    'content-length': String(page.length),
    'content-security-policy': `default-src 'none'; script-src ${scripts.join(' ')}; style-src 'unsafe-inline'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'`,
  };
  const servePage = (req: IncomingMessage, res: ServerResponse) => {
    res.writeHead(200, pageHeaders);
    res.end(req.method === 'HEAD' ? undefined : page);
  };

  const limiter = o.loginLimiter ?? new FailureLimiter();
  const memory = new CounterMemory();
  const snapshot = shared(async (): Promise<Snapshot> => {
    let status: unknown;
    let metrics: MetricsJson = [];
    const errors: string[] = [];
    try {
      status = await o.status();
    } catch (e) {
      errors.push(`status: ${(e as Error).message}`);
    }
    try {
      metrics = await o.metrics();
    } catch (e) {
      errors.push(`metrics: ${(e as Error).message}`);
    }
    return buildSnapshot(status, metrics, errors, memory);
  });
  // The whole cluster: this host's snapshot and each peer's own, fetched at once, shared by
  // concurrent polls like the local one.
  const peers = o.peers ?? [];
  const peerViews = shared(() => Promise.all(peers.map((p) => fetchPeer(p))));
  const clusterSnapshot = async (local: boolean): Promise<Snapshot> => {
    if (local || peers.length === 0) return snapshot();
    const [snap, views] = await Promise.all([snapshot(), peerViews()]);
    return { ...snap, peers: views, alerts: [...snap.alerts, ...peerAlerts(snap.miner, views)] };
  };

  const unauthorized = (res: ServerResponse, message: string) => sendJson(res, 401, { error: message }, { ...SECURITY_HEADERS, connection: 'close' });

  const routes: Route[] = [
    { path: '/', method: ['GET', 'HEAD'], handler: servePage },
    { path: UI_PATH, method: ['GET', 'HEAD'], handler: servePage },
    {
      path: LOGIN_PATH,
      method: 'POST',
      handler: async (_req, res, ctx) => {
        // Checked first: a client that guessed too often is told when to come back, good token or not.
        const address = peerAddress(ctx.peer);
        const wait = limiter.retryAfterMs(address);
        if (wait > 0) {
          const s = Math.ceil(wait / 1000);
          return sendJson(res, 429, { error: `too many failed logins from ${address}: try again in ${s} s` }, { ...SECURITY_HEADERS, 'retry-after': String(s), connection: 'close' });
        }
        // Without an Authorization header the body is bounded by the server's pre-auth limit
        // (16 KiB by default), well over a token's 4 KiB.
        let token: unknown;
        try {
          token = (JSON.parse((await ctx.readBody()).toString('utf8')) as { token?: unknown })?.token;
        } catch (e) {
          if (e instanceof HttpError) throw e;
          return sendJson(res, 400, { error: 'send {"token": "<API token>"} as JSON' }, SECURITY_HEADERS);
        }
        if (typeof token !== 'string' || token.trim() === '') return unauthorized(res, 'enter an API token (distminer auth create-token --perm read)');
        token = token.trim();
        const perms = o.auth.verify(token);
        if (!perms) {
          limiter.fail(address);
          ctx.log.warn({ peer: ctx.peer }, 'web page login with a wrong token');
          return unauthorized(res, 'wrong token: it is not a token of this miner (distminer auth create-token --perm read)');
        }
        if (!perms.includes('read')) return unauthorized(res, 'this token does not carry the read permission');
        sendJson(res, 200, { ok: true, perms }, { ...SECURITY_HEADERS, 'set-cookie': `${COOKIE}=${token as string}; HttpOnly; SameSite=Strict; Path=/; Max-Age=${COOKIE_MAX_AGE_S}` });
      },
    },
    {
      path: LOGOUT_PATH,
      method: 'POST',
      handler: (_req, res) => sendJson(res, 200, { ok: true }, { ...SECURITY_HEADERS, 'set-cookie': `${COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0` }),
    },
    {
      path: STATUS_JSON_PATH,
      method: 'GET',
      handler: async (req, res, ctx) => {
        // Checked before anything is collected: a stranger costs one header parse and an HMAC.
        // (A script may send its token as `Authorization: Bearer` instead of the cookie.)
        if (!ctx.perms.includes('read')) {
          const token = cookieToken(req.headers.cookie);
          if (!token) return unauthorized(res, 'log in first (no session cookie)');
          if (!o.auth.verify(token)?.includes('read')) return unauthorized(res, 'the session cookie holds no valid read token (the API secret changed?): log in again');
        }
        const snap = await clusterSnapshot(ctx.url.searchParams.get('local') === '1');
        if (res.destroyed) return;
        sendJson(res, 200, snap, SECURITY_HEADERS);
      },
    },
  ];
  return { routes, alerts: async () => (await snapshot()).alerts };
}
