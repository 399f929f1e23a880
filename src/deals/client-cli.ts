// `distminer client key new|show` and `distminer client deal FILE`: what a storage client does,
// so that a person can try the deal miner by hand.
//
//   distminer client key new --out KEYFILE [--type secp256k1|bls] [--network testnet|mainnet]
//   distminer client deal FILE --miner f01000 --api http://127.0.0.1:PORT --key KEYFILE
//        [--start-epoch N] [--duration EPOCHS] [--price ATTOFIL] [--provider-collateral ATTOFIL]
//        [--verified] [--label TEXT]
//        [--chain-api INFO]   (a real chain's node: the start defaults to head + 960, the
//        provider collateral is the chain's minimum, the client's escrow is checked first)
//   distminer client market add AMOUNT --key KEYFILE [--chain-api INFO] [--max-fee AMOUNT] [--json]
//   distminer client market balance (--key KEYFILE | --address ADDR) [--chain-api INFO] [--json]
// (`market add` is Lotus's `lotus wallet market add`, signed by the client's own key file.)
import { existsSync, statSync } from 'node:fs';
import { writeFileAtomic } from '../util/durable.js';
import { ChainClient } from '../chain/client.js';
import { formatFil } from '../chain/fees.js';
import { UsageError, chainApiOf, filArg } from '../cli/usage.js';
import { DEAL_MIN_DURATION } from '../chain/market.js';
import { clientAddBalance, clientDealCost, dealTermsProblem, marketBalance, providerCollateralBounds } from './escrow.js';
import { RegisteredSealProof } from '../proofs/types.js';
import { buildProposal, propose, uploadFile } from './client.js';
import { fileCommP, pieceSizeFor } from './commp.js';
import { type KeyType, keyInfoOf, newClientKey, readKeyFile } from './keys.js';

/** The options of `client key new|show` and `client deal`, parsed by commander (src/cli/program.ts). */
export interface ClientOptions {
  out?: string;
  type?: string;
  network?: string;
  key?: string;
  miner?: string;
  api?: string;
  startEpoch?: string;
  duration?: string;
  price?: string;
  providerCollateral?: string;
  verified?: boolean;
  label?: string;
  chainApi?: string;
  maxFee?: string;
  address?: string;
  json?: boolean;
}

/**
 * A deal's default start with a chain node: this many epochs after the head, the time a provider
 * gets to seal the data (Boost's StartEpochSealingBuffer is 480; a 2 KiB devnet sector takes a
 * few minutes, a 32 GiB one hours).
 */
export const DEAL_START_BUFFER = 960;

const chainOf = (f: ClientOptions) => new ChainClient(chainApiOf(f.chainApi));

const balanceJson = (address: string, b: { escrow: bigint; locked: bigint }) => ({ address, escrow: b.escrow.toString(), locked: b.locked.toString(), available: (b.escrow - b.locked).toString() });
const balanceText = (address: string, b: { escrow: bigint; locked: bigint }) =>
  `market escrow of ${address}: ${formatFil(b.escrow)} (locked ${formatFil(b.locked)}, available ${formatFil(b.escrow - b.locked)})\n`;

/** `distminer client market add AMOUNT --key KEYFILE`: AddBalance into the client's own escrow, signed by its key; waits for the receipt. */
export async function marketAdd(f: ClientOptions, amountText: string): Promise<number> {
  const amount = filArg(amountText, 'AMOUNT');
  if (amount <= 0n) throw new UsageError('AMOUNT must be more than 0');
  const chain = chainOf(f);
  const net = network(f);
  const key = readKeyFile(f.key!, net);
  const spec = f.maxFee !== undefined ? { MaxFee: filArg(f.maxFee, '--max-fee').toString() } : null;
  const cid = await clientAddBalance(chain, key, amount, net, spec);
  process.stderr.write(`AddBalance ${formatFil(amount)} from ${key.address}: message ${cid['/']}, waiting for it on chain\n`);
  const r = await chain.stateWaitMsg(cid, 1);
  if (r.Receipt.ExitCode !== 0) throw new Error(`AddBalance ${cid['/']} failed on chain with exit code ${r.Receipt.ExitCode}`);
  const b = await marketBalance(chain, key.address);
  process.stdout.write(f.json ? JSON.stringify({ message: cid['/'], height: r.Height, ...balanceJson(key.address, b) }) + '\n' : balanceText(key.address, b));
  return 0;
}

/** `distminer client market balance (--key KEYFILE | --address ADDR)` */
export async function marketBalanceCmd(f: ClientOptions): Promise<number> {
  if ((f.key === undefined) === (f.address === undefined)) throw new UsageError('give --key KEYFILE or --address ADDR (one of them)');
  const address = f.address ?? readKeyFile(f.key!, network(f)).address;
  const b = await marketBalance(chainOf(f), address);
  process.stdout.write(f.json ? JSON.stringify(balanceJson(address, b)) + '\n' : balanceText(address, b));
  return 0;
}

function network(f: ClientOptions): 'testnet' | 'mainnet' {
  const n = f.network ?? 'testnet';
  if (n !== 'testnet' && n !== 'mainnet') throw new Error(`--network must be testnet or mainnet, got "${n}"`);
  return n;
}

/** A whole number of attoFIL (0 when not given). */
function attoArg(v: string | undefined, flag: string): bigint {
  if (v === undefined) return 0n;
  if (!/^\d+$/.test(v)) throw new UsageError(`${flag} must be a whole number of attoFIL, got "${v}"`);
  return BigInt(v);
}

function int(v: string | undefined, k: string, dflt: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`--${k} must be a non-negative integer, got "${v}"`);
  return n;
}

/** `distminer client deal FILE --miner f0… --api URL --key KEYFILE` (commander requires them). */
export async function deal(f: ClientOptions, file: string): Promise<number> {
  const miner = f.miner!;
  const api = f.api!;
  const keyPath = f.key!;
  if (!existsSync(file)) throw new Error(`${file} does not exist`);
  const size = statSync(file).size;
  if (size === 0) throw new Error(`${file} is empty: a deal needs data`);
  const key = readKeyFile(keyPath, miner.startsWith('f') ? 'mainnet' : 'testnet');
  const pieceSize = pieceSizeFor(size);
  // The proof type only bounds the piece size here: the largest one.
  const { commP, how } = await fileCommP(file, RegisteredSealProof.StackedDrg64GiBV1_1, pieceSize);
  const pricePerEpoch = attoArg(f.price, '--price');
  const duration = int(f.duration, 'duration', DEAL_MIN_DURATION);
  const verified = f.verified === true;
  // With --chain-api (a real chain's node): terms its market actor accepts — a start after the
  // head with time to seal, the provider collateral it asks at least, the client's escrow
  // checked — before anything is proposed (a refused publish costs the provider gas). Without
  // it nothing is asked of a chain here; the deal miner still checks the proposal.
  const chainInfo = f.chainApi;
  let start = int(f.startEpoch, 'start-epoch', 10_000);
  let providerCollateral = attoArg(f.providerCollateral, '--provider-collateral');
  if (chainInfo) {
    const chain = new ChainClient(chainInfo);
    const head = (await chain.chainHead()).Height;
    if (f.startEpoch === undefined) start = head + DEAL_START_BUFFER;
    if (f.providerCollateral === undefined) providerCollateral = (await providerCollateralBounds(chain, pieceSize, verified)).min;
    const b = await marketBalance(chain, key.address);
    const problem = dealTermsProblem({ head, startEpoch: start, endEpoch: start + duration, cost: clientDealCost(pricePerEpoch, start, start + duration), available: b.escrow - b.locked });
    if (problem) throw new Error(`not proposed: ${problem}`);
  }
  const proposal = buildProposal({
    key,
    commP,
    pieceSize,
    provider: miner,
    startEpoch: start,
    endEpoch: start + duration,
    pricePerEpoch,
    verified,
    label: f.label ?? '',
    providerCollateral,
  });
  process.stdout.write(`client ${key.address}\npiece ${proposal.Proposal.PieceCID['/']} (${pieceSize} bytes padded, CommP computed ${how})\n`);
  const p = await propose(api, proposal, size);
  if (p.status !== 201 || !p.body.uploadUrl) {
    process.stderr.write(`proposal rejected (${p.status}): ${p.body.error ?? JSON.stringify(p.body)}\n`);
    return 1;
  }
  process.stdout.write(`deal ${p.body.uuid} accepted; uploading ${size} bytes\n`);
  const u = await uploadFile(p.body.uploadUrl, file);
  if (u.status !== 200) {
    process.stderr.write(`upload rejected (${u.status}): ${u.body.error ?? JSON.stringify(u.body)}\n`);
    return 1;
  }
  process.stdout.write(`deal ${p.body.uuid} ${u.body.state}: the data is verified and waits for a sector\n`);
  return 0;
}

/** `distminer client key new --out KEYFILE` */
export async function keyNew(flags: ClientOptions): Promise<number> {
  const out = flags.out!;
  if (existsSync(out)) throw new Error(`${out} exists: not overwriting a key`);
  const type = (flags.type ?? 'secp256k1') as KeyType;
  if (type !== 'secp256k1' && type !== 'bls') throw new Error(`--type must be secp256k1 or bls, got "${type}"`);
  const k = newClientKey(type, network(flags));
  writeFileAtomic(out, JSON.stringify(keyInfoOf(k)) + '\n', 0o600);
  process.stdout.write(`${k.address}\n`);
  return 0;
}

/** `distminer client key show --key KEYFILE` */
export async function keyShow(flags: ClientOptions): Promise<number> {
  process.stdout.write(`${readKeyFile(flags.key!, network(flags)).address}\n`);
  return 0;
}
