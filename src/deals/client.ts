// The client side of the deal API: build and sign a proposal, propose it, stream the file up,
// and the admin calls (`deals list`, `deals status`).
import { createReadStream, statSync } from 'node:fs';
import { request } from 'node:http';
import { pipeline } from 'node:stream/promises';
import { commPToCid } from '../proofs/cid.js';
import { type ClientKey, sign } from './keys.js';
import { type ClientDealProposal, type DealProposal, proposalCbor } from './proposal.js';

export interface ProposalParams {
  key: ClientKey;
  commP: Buffer;
  pieceSize: number;
  provider: string;
  startEpoch: number;
  endEpoch: number;
  pricePerEpoch?: bigint;
  verified?: boolean;
  label?: string;
  /** attoFIL the provider locks (on a real chain at least StateDealProviderCollateralBounds' Min). */
  providerCollateral?: bigint;
}

export function buildProposal(p: ProposalParams): ClientDealProposal {
  const Proposal: DealProposal = {
    PieceCID: { '/': commPToCid(p.commP) },
    PieceSize: p.pieceSize,
    VerifiedDeal: p.verified ?? false,
    Client: p.key.address,
    Provider: p.provider,
    Label: p.label ?? '',
    StartEpoch: p.startEpoch,
    EndEpoch: p.endEpoch,
    StoragePricePerEpoch: String(p.pricePerEpoch ?? 0n),
    ProviderCollateral: String(p.providerCollateral ?? 0n),
    ClientCollateral: '0',
  };
  return { Proposal, ClientSignature: sign(p.key, proposalCbor(Proposal)) };
}

export interface HttpAnswer<T = Record<string, unknown>> {
  status: number;
  body: T;
}

async function json<T>(r: Response): Promise<HttpAnswer<T>> {
  const text = await r.text();
  let body: T;
  try {
    body = JSON.parse(text) as T;
  } catch {
    body = { error: text } as T;
  }
  return { status: r.status, body };
}

export interface ProposeAnswer {
  uuid?: string;
  uploadUrl?: string;
  state?: string;
  proposalCid?: string;
  error?: string;
}

export async function propose(api: string, deal: ClientDealProposal, transferSize: number): Promise<HttpAnswer<ProposeAnswer>> {
  const r = await fetch(`${api.replace(/\/$/, '')}/deals/proposal`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ deal, transferSize }) });
  return json<ProposeAnswer>(r);
}

/** PUTs a file (streamed, with its Content-Length) to an upload URL. */
export function uploadFile(uploadUrl: string, path: string): Promise<HttpAnswer<ProposeAnswer & { pieceCid?: string }>> {
  const size = statSync(path).size;
  return new Promise((resolve, reject) => {
    const req = request(uploadUrl, { method: 'PUT', headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': String(size) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        try {
          resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) });
        } catch {
          resolve({ status: res.statusCode ?? 0, body: { error: text } });
        }
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    pipeline(createReadStream(path, { highWaterMark: 1 << 20 }), req).catch(reject);
  });
}

export async function adminGet<T = Record<string, unknown>>(api: string, token: string, path: string): Promise<HttpAnswer<T>> {
  const r = await fetch(`${api.replace(/\/$/, '')}${path}`, { headers: { Authorization: `Bearer ${token}` } });
  return json<T>(r);
}
