// `distminer client key new|show` and `distminer client deal FILE`: what a storage client does,
// so that a person can try the deal miner by hand.
//
//   distminer client key new --out KEYFILE [--type secp256k1|bls] [--network testnet|mainnet]
//   distminer client deal FILE --miner f01000 --api http://127.0.0.1:PORT --key KEYFILE
//        [--start-epoch N] [--duration EPOCHS] [--price ATTOFIL] [--verified] [--label TEXT]
import { existsSync, statSync } from 'node:fs';
import { writeFileAtomic } from '../util/durable.js';
import { type Parsed, parseFlags } from '../config/flags.js';
import { RegisteredSealProof } from '../proofs/types.js';
import { buildProposal, propose, uploadFile } from './client.js';
import { fileCommP, pieceSizeFor } from './commp.js';
import { type KeyType, keyInfoOf, newClientKey, readKeyFile } from './keys.js';

const USAGE = `usage:
  distminer client key new --out KEYFILE [--type secp256k1|bls] [--network testnet|mainnet]
  distminer client key show --key KEYFILE
  distminer client deal FILE --miner f01000 --api http://HOST:PORT --key KEYFILE
                        [--start-epoch N] [--duration EPOCHS] [--price ATTOFIL_PER_EPOCH] [--verified] [--label TEXT]
`;

const SPEC = {
  out: { type: 'string', help: 'where to write the new key (Lotus KeyInfo JSON)' },
  type: { type: 'string', help: 'secp256k1 (default) or bls' },
  network: { type: 'string', help: 'testnet (t… addresses, default) or mainnet (f…)' },
  key: { type: 'string', help: 'the client key file' },
  miner: { type: 'string', help: 'the storage provider (f0…)' },
  api: { type: 'string', help: 'its deal server URL' },
  'start-epoch': { type: 'string', help: 'deal start epoch (default 10000)' },
  duration: { type: 'string', help: 'deal duration in epochs (default 518400, 180 days)' },
  price: { type: 'string', help: 'price per epoch in attoFIL (default 0)' },
  verified: { type: 'boolean', help: 'a verified (DataCap) deal' },
  label: { type: 'string', help: 'deal label' },
} as const;

const str = (f: Parsed, k: string) => (typeof f[k] === 'string' ? (f[k] as string) : undefined);

function network(f: Parsed): 'testnet' | 'mainnet' {
  const n = str(f, 'network') ?? 'testnet';
  if (n !== 'testnet' && n !== 'mainnet') throw new Error(`--network must be testnet or mainnet, got "${n}"`);
  return n;
}

function int(f: Parsed, k: string, dflt: number): number {
  const v = str(f, k);
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`--${k} must be a non-negative integer, got "${v}"`);
  return n;
}

async function deal(file: string | undefined, f: Parsed): Promise<number> {
  const miner = str(f, 'miner');
  const api = str(f, 'api');
  const keyPath = str(f, 'key');
  if (!file || !miner || !api || !keyPath) throw new Error(`client deal: FILE, --miner, --api and --key are required\n${USAGE}`);
  if (!existsSync(file)) throw new Error(`${file} does not exist`);
  const size = statSync(file).size;
  if (size === 0) throw new Error(`${file} is empty: a deal needs data`);
  const key = readKeyFile(keyPath, miner.startsWith('f') ? 'mainnet' : 'testnet');
  const pieceSize = pieceSizeFor(size);
  // The proof type only bounds the piece size here: the largest one.
  const { commP, how } = await fileCommP(file, RegisteredSealProof.StackedDrg64GiBV1_1, pieceSize);
  const start = int(f, 'start-epoch', 10_000);
  const price = str(f, 'price') ?? '0';
  if (!/^\d+$/.test(price)) throw new Error(`--price must be a whole number of attoFIL, got "${price}"`);
  const proposal = buildProposal({
    key,
    commP,
    pieceSize,
    provider: miner,
    startEpoch: start,
    endEpoch: start + int(f, 'duration', 518_400),
    pricePerEpoch: BigInt(price),
    verified: f.verified === true,
    label: str(f, 'label') ?? '',
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

export async function main(args: string[]): Promise<number> {
  const { flags, positional } = parseFlags(args, SPEC, 'client');
  if (positional[0] === 'key' && positional[1] === 'new') {
    const out = str(flags, 'out');
    if (!out) throw new Error('client key new: --out KEYFILE is required');
    if (existsSync(out)) throw new Error(`${out} exists: not overwriting a key`);
    const type = (str(flags, 'type') ?? 'secp256k1') as KeyType;
    if (type !== 'secp256k1' && type !== 'bls') throw new Error(`--type must be secp256k1 or bls, got "${type}"`);
    const k = newClientKey(type, network(flags));
    writeFileAtomic(out, JSON.stringify(keyInfoOf(k)) + '\n', 0o600);
    process.stdout.write(`${k.address}\n`);
    return 0;
  }
  if (positional[0] === 'key' && positional[1] === 'show') {
    const kp = str(flags, 'key');
    if (!kp) throw new Error('client key show: --key KEYFILE is required');
    process.stdout.write(`${readKeyFile(kp, network(flags)).address}\n`);
    return 0;
  }
  if (positional[0] === 'deal') return deal(positional[1], flags);
  process.stderr.write(USAGE);
  return 2;
}
