// Shared pieces of the deal tests: temp repos, signed proposals for real data, raw HTTP calls
// that can misbehave (truncate, overrun, stall) the way broken clients do.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Auth } from '../../src/auth/index.js';
import { buildProposal } from '../../src/deals/client.js';
import { nativeCommP, pieceSizeFor } from '../../src/deals/commp.js';
import { type ClientKey, newClientKey } from '../../src/deals/keys.js';
import type { ClientDealProposal } from '../../src/deals/proposal.js';
import { RegisteredSealProof, unpaddedSize } from '../../src/proofs/types.js';

export const MINER = 't01000';
export const AUTH = Auth.random();
export const TOKEN = AUTH.issue('admin');

export const tmp = (p = 'dm-deals-') => mkdtempSync(join(tmpdir(), p));

/** CommP of `data` zero-filled to its piece size, computed by the native proofs. */
export async function commPOf(data: Buffer): Promise<{ commP: Buffer; pieceSize: number }> {
  const pieceSize = pieceSizeFor(data.length);
  const dir = tmp('dm-commp-');
  const p = join(dir, 'piece');
  try {
    writeFileSync(p, Buffer.concat([data, Buffer.alloc(unpaddedSize(pieceSize) - data.length)]));
    return { commP: await nativeCommP(RegisteredSealProof.StackedDrg64GiBV1_1, p, pieceSize), pieceSize };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function signedDeal(
  data: Buffer,
  opts: { key?: ClientKey; provider?: string; commP?: Buffer; pieceSize?: number; label?: string; start?: number; price?: bigint; collateral?: bigint } = {},
): Promise<ClientDealProposal> {
  const c = await commPOf(data);
  return buildProposal({
    key: opts.key ?? newClientKey(),
    commP: opts.commP ?? c.commP,
    pieceSize: opts.pieceSize ?? c.pieceSize,
    provider: opts.provider ?? MINER,
    startEpoch: opts.start ?? 100,
    endEpoch: (opts.start ?? 100) + 518400,
    label: opts.label ?? randomBytes(4).toString('hex'),
    pricePerEpoch: opts.price,
    providerCollateral: opts.collateral,
  });
}

export interface Raw {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  json: Record<string, unknown>;
}

/**
 * One HTTP request with full control of the body: `chunks` are written one by one (with
 * `gapMs` between), then the request is ended, or destroyed when `abort` is set. Resolves with
 * the answer, or with status 0 when the connection died before one came.
 */
export function raw(url: string, opts: { method?: string; headers?: Record<string, string>; chunks?: Buffer[]; gapMs?: number; abort?: boolean; localAddress?: string } = {}): Promise<Raw> {
  return new Promise((resolve) => {
    let settled = false;
    const done = (r: Raw) => {
      if (!settled) {
        settled = true;
        resolve(r);
      }
    };
    const req = request(url, { method: opts.method ?? 'GET', headers: opts.headers, ...(opts.localAddress ? { localAddress: opts.localAddress } : {}) }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const body = Buffer.concat(chunks);
        let json: Record<string, unknown> = {};
        try {
          json = JSON.parse(body.toString('utf8'));
        } catch {
          // not JSON
        }
        done({ status: res.statusCode ?? 0, headers: res.headers, body, json });
      });
      res.on('error', () => done({ status: 0, headers: {}, body: Buffer.alloc(0), json: {} }));
    });
    req.on('error', () => done({ status: 0, headers: {}, body: Buffer.alloc(0), json: {} }));
    (async () => {
      for (const c of opts.chunks ?? []) {
        if (req.destroyed) return;
        req.write(c);
        if (opts.gapMs) await new Promise((r) => setTimeout(r, opts.gapMs));
      }
      if (opts.abort) req.destroy();
      else req.end();
    })();
  });
}

export function postJson(url: string, body: unknown, localAddress?: string): Promise<Raw> {
  return raw(url, { method: 'POST', headers: { 'Content-Type': 'application/json' }, chunks: [Buffer.from(JSON.stringify(body))], localAddress });
}

export function adminGet(url: string, token = TOKEN): Promise<Raw> {
  return raw(url, { headers: { Authorization: `Bearer ${token}` } });
}

export const files = (dir: string): string[] => readdirSync(dir);

export async function until(f: () => boolean | Promise<boolean>, ms = 10_000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms;
  while (!(await f())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
