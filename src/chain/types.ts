// Lotus JSON shapes and the encodings under them: CIDs as {"/": "b…"}, big integers and token
// amounts as decimal strings, bytes as base64, addresses as f…/t… strings, bitfields as RLE+
// (bytes inside CBOR, run-length arrays in JSON as go-bitfield writes them), and the CBOR
// helpers (cborg) for message params, messages and block headers.
import { blake2b } from '@noble/hashes/blake2.js';
import * as cborg from 'cborg';

// ------------------------------------------------------------------ networks and addresses

/** The address prefix: `f` on mainnet, `t` on test networks (and the devnet by default). */
export type Network = 'mainnet' | 'testnet';
export const networkPrefix = (n: Network): 'f' | 't' => (n === 'mainnet' ? 'f' : 't');

export enum AddressProtocol {
  ID = 0,
  Secp256k1 = 1,
  Actor = 2,
  BLS = 3,
}

export interface ParsedAddress {
  protocol: AddressProtocol;
  /** ID: the uvarint of the id; others: the key hash / public key. */
  payload: Buffer;
  network: Network;
  /** Actor id for ID addresses. */
  id?: bigint;
}

const B32 = 'abcdefghijklmnopqrstuvwxyz234567';

export function base32Encode(bytes: Uint8Array): string {
  let out = '';
  let bits = 0;
  let value = 0;
  for (const b of bytes) {
    value = ((value << 8) | b) & 0xffff;
    bits += 8;
    while (bits >= 5) {
      out += B32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += B32[(value << (5 - bits)) & 31];
  return out;
}

export function base32Decode(s: string): Buffer {
  const out: number[] = [];
  let bits = 0;
  let value = 0;
  for (const ch of s) {
    const i = B32.indexOf(ch);
    if (i < 0) throw new TypeError(`invalid base32 character "${ch}"`);
    value = ((value << 5) | i) & 0xffff;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

export function uvarint(n: bigint | number): Buffer {
  let v = BigInt(n);
  if (v < 0n) throw new RangeError('uvarint of a negative number');
  const out: number[] = [];
  while (v >= 0x80n) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
  return Buffer.from(out);
}

export function readUvarint(b: Uint8Array, off = 0): [bigint, number] {
  let v = 0n;
  let shift = 0n;
  for (let i = off; i < b.length && i < off + 10; i++) {
    v |= BigInt(b[i] & 0x7f) << shift;
    if ((b[i] & 0x80) === 0) {
      if (b[i] === 0 && i > off) throw new TypeError('non-minimal varint');
      return [v, i + 1];
    }
    shift += 7n;
  }
  throw new TypeError('truncated varint');
}

const checksum = (protocol: number, payload: Uint8Array) => blake2b(Buffer.concat([Buffer.from([protocol]), payload]), { dkLen: 4 });

/** An ID address string (`t01000`). */
export function idAddress(id: number | bigint, network: Network = 'testnet'): string {
  if (BigInt(id) < 0n) throw new RangeError(`actor id ${id} is negative`);
  return `${networkPrefix(network)}0${BigInt(id)}`;
}

/** A BLS address (`t3…`) from a 48-byte public key. */
export function blsAddress(publicKey: Uint8Array, network: Network = 'testnet'): string {
  if (publicKey.length !== 48) throw new TypeError(`a BLS public key is 48 bytes, got ${publicKey.length}`);
  return `${networkPrefix(network)}3${base32Encode(Buffer.concat([publicKey, checksum(3, publicKey)]))}`;
}

export function parseAddress(s: string): ParsedAddress {
  if (typeof s !== 'string' || s.length < 3) throw new TypeError(`invalid address ${JSON.stringify(s)}`);
  const network: Network =
    s[0] === 'f'
      ? 'mainnet'
      : s[0] === 't'
        ? 'testnet'
        : (() => {
            throw new TypeError(`invalid address network in "${s}"`);
          })();
  const protocol = Number(s[1]);
  if (protocol === 0) {
    if (!/^\d{1,20}$/.test(s.slice(2)) || (s.length > 3 && s[2] === '0')) throw new TypeError(`invalid ID address "${s}"`);
    const id = BigInt(s.slice(2));
    if (id >= 2n ** 63n) throw new TypeError(`ID address out of range "${s}"`);
    return { protocol, payload: uvarint(id), network, id };
  }
  if (protocol < 1 || protocol > 3) throw new TypeError(`unsupported address protocol in "${s}"`);
  const raw = base32Decode(s.slice(2));
  const plen = protocol === 3 ? 48 : 20;
  if (raw.length !== plen + 4) throw new TypeError(`invalid address length "${s}"`);
  const payload = raw.subarray(0, plen);
  if (!Buffer.from(checksum(protocol, payload)).equals(raw.subarray(plen))) throw new TypeError(`invalid address checksum "${s}"`);
  return { protocol, payload: Buffer.from(payload), network };
}

/** Address bytes (protocol byte + payload), as in CBOR and in signatures. */
export function addressBytes(s: string): Buffer {
  const a = parseAddress(s);
  return Buffer.concat([Buffer.from([a.protocol]), a.payload]);
}

export function addressFromBytes(b: Uint8Array, network: Network = 'testnet'): string {
  if (b.length < 2) throw new TypeError('address bytes too short');
  const protocol = b[0];
  const payload = b.subarray(1);
  if (protocol === 0) {
    const [id, end] = readUvarint(payload);
    if (end !== payload.length) throw new TypeError('trailing bytes after ID address');
    return idAddress(id, network);
  }
  if (protocol === 3) return blsAddress(payload, network);
  if (protocol === 1 || protocol === 2) {
    if (payload.length !== 20) throw new TypeError('invalid address payload');
    return `${networkPrefix(network)}${protocol}${base32Encode(Buffer.concat([payload, checksum(protocol, payload)]))}`;
  }
  throw new TypeError(`unsupported address protocol ${protocol}`);
}

/** The actor id of an ID address. */
export function actorId(s: string): number {
  const a = parseAddress(s);
  if (a.protocol !== AddressProtocol.ID) throw new TypeError(`"${s}" is not an ID address`);
  // Ids are numbers here; one past 2^53 would silently become another actor's id.
  if (a.id! > BigInt(Number.MAX_SAFE_INTEGER)) throw new RangeError(`actor id of "${s}" is above 2^53, which this miner does not handle`);
  return Number(a.id);
}

/** The address re-written with another network's prefix. */
export function withNetwork(s: string, network: Network): string {
  return networkPrefix(network) + s.slice(1);
}

/** CBOR encoding of an address (a byte string), used as randomness entropy like Lotus's `MarshalCBOR`. */
export function addressCbor(s: string): Buffer {
  return Buffer.from(cborg.encode(addressBytes(s)));
}

// ------------------------------------------------------------------ CIDs

/** A CID in Lotus JSON. */
export interface Cid {
  '/': string;
}

export const DAG_CBOR = 0x71;
export const BLAKE2B_256 = 0xb220;

export function cidFromBytes(bytes: Uint8Array): Cid {
  return { '/': 'b' + base32Encode(bytes) };
}

export function cidBytes(c: Cid | string): Buffer {
  const s = typeof c === 'string' ? c : c?.['/'];
  if (typeof s !== 'string' || !s.startsWith('b')) throw new TypeError(`invalid CID ${JSON.stringify(c)} (expected base32 CIDv1 {"/": "b…"})`);
  const b = base32Decode(s.slice(1));
  const [version] = readUvarint(b);
  if (version !== 1n) throw new TypeError(`CID is not v1: ${s}`);
  return b;
}

/** A dag-cbor / blake2b-256 CID of some CBOR bytes (how Lotus names messages and blocks). */
export function cborCid(cbor: Uint8Array): Cid {
  const digest = blake2b(cbor, { dkLen: 32 });
  return cidFromBytes(Buffer.concat([uvarint(1), uvarint(DAG_CBOR), uvarint(BLAKE2B_256), uvarint(32), digest]));
}

export function isCid(x: unknown): x is Cid {
  return typeof x === 'object' && x !== null && typeof (x as Cid)['/'] === 'string';
}

export function cidEquals(a: Cid, b: Cid): boolean {
  return a['/'] === b['/'];
}

/** A CID in CBOR: tag 42 over 0x00 + the CID bytes. */
export class CborCid {
  constructor(readonly cid: Cid) {}
}

// ------------------------------------------------------------------ big integers

/** Token amounts and big integers: decimal strings in JSON, bigint in code. */
export type BigIntString = string;

export function bigToJson(v: bigint): BigIntString {
  return v.toString(10);
}

export function bigFromJson(s: unknown, what = 'big integer'): bigint {
  if (typeof s !== 'string' || !/^-?\d+$/.test(s)) throw new TypeError(`${what} must be a decimal string, got ${JSON.stringify(s)}`);
  return BigInt(s);
}

/** Filecoin's CBOR big integer: a sign byte (0 = +, 1 = −) then big-endian magnitude; zero is empty. */
export function bigToCborBytes(v: bigint): Buffer {
  if (v === 0n) return Buffer.alloc(0);
  const neg = v < 0n;
  let m = neg ? -v : v;
  const bytes: number[] = [];
  while (m > 0n) {
    bytes.unshift(Number(m & 0xffn));
    m >>= 8n;
  }
  return Buffer.from([neg ? 1 : 0, ...bytes]);
}

export function bigFromCborBytes(b: Uint8Array): bigint {
  if (b.length === 0) return 0n;
  if (b[0] > 1) throw new TypeError('invalid big integer sign byte');
  let m = 0n;
  for (const x of b.subarray(1)) m = (m << 8n) | BigInt(x);
  return b[0] === 1 ? -m : m;
}

// ------------------------------------------------------------------ bytes

export function b64(b: Uint8Array): string {
  return Buffer.from(b).toString('base64');
}

export function fromB64(s: unknown, what = 'bytes'): Buffer {
  if (s === null || s === undefined) return Buffer.alloc(0);
  if (typeof s !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(s)) throw new TypeError(`${what} must be base64, got ${JSON.stringify(s)?.slice(0, 60)}`);
  return Buffer.from(s, 'base64');
}

// ------------------------------------------------------------------ RLE+ bitfields

/** Sorted, de-duplicated set bits. */
export type BitSet = number[];

/** Runs (alternating, first run of zeros) of a sorted set. */
export function runsOf(bits: Iterable<number>): number[] {
  const sorted = [...new Set(bits)].sort((a, b) => a - b);
  const runs: number[] = [];
  let pos = 0;
  let i = 0;
  while (i < sorted.length) {
    const start = sorted[i];
    if (!Number.isSafeInteger(start) || start < 0) throw new RangeError(`bitfield index ${start} is not a non-negative integer`);
    let end = start + 1;
    while (i + 1 < sorted.length && sorted[i + 1] === end) {
      end++;
      i++;
    }
    i++;
    runs.push(start - pos, end - start);
    pos = end;
  }
  return runs;
}

function setOfRuns(runs: number[], firstIsOne: boolean): BitSet {
  const out: number[] = [];
  let pos = 0;
  let one = firstIsOne;
  for (const r of runs) {
    if (one) for (let k = 0; k < r; k++) out.push(pos + k);
    pos += r;
    one = !one;
  }
  return out;
}

class BitWriter {
  private bytes: number[] = [];
  private n = 0;
  put(bit: number): void {
    if (this.n % 8 === 0) this.bytes.push(0);
    if (bit) this.bytes[this.bytes.length - 1] |= 1 << (this.n % 8);
    this.n++;
  }
  putN(v: number, count: number): void {
    for (let i = 0; i < count; i++) this.put((v >> i) & 1);
  }
  /** The bytes, trailing zero bytes cut: the reader reads zeros past the end (minimal form). */
  done(): Buffer {
    let end = this.bytes.length;
    while (end > 0 && this.bytes[end - 1] === 0) end--;
    return Buffer.from(this.bytes.slice(0, end));
  }
}

/** LSB-first bit reader that reads zeros past the end of its bytes, as the reference readers do. */
class BitReader {
  private i = 0;
  constructor(private readonly b: Uint8Array) {}
  get(): number {
    const j = this.i++;
    return j >= this.b.length * 8 ? 0 : (this.b[j >> 3] >> (j & 7)) & 1;
  }
  getN(count: number): number {
    let v = 0;
    for (let k = 0; k < count; k++) v |= this.get() << k;
    return v;
  }
  /** Whether any set bit remains (the rest is the implicit zero padding). */
  hasMore(): boolean {
    for (let j = this.i; j < this.b.length * 8; j++) if ((this.b[j >> 3] >> (j & 7)) & 1) return true;
    return false;
  }
}

/**
 * RLE+ bytes of a set of bit indices (version 00, LSB-first, runs as single/short/long blocks),
 * in the one minimal form that go-bitfield and the actors' fvm_ipld_bitfield produce: no
 * trailing zero byte (`{0,1}` is `54`).
 */
export function rleEncode(bits: Iterable<number>): Buffer {
  const runs = runsOf(bits);
  if (runs.length === 0) return Buffer.alloc(0);
  const w = new BitWriter();
  w.putN(0, 2); // version 00
  const startsWithOne = runs[0] === 0;
  w.put(startsWithOne ? 1 : 0);
  for (const r of startsWithOne ? runs.slice(1) : runs) {
    if (r === 1) w.put(1);
    else if (r < 16) {
      w.put(0);
      w.put(1);
      w.putN(r, 4);
    } else {
      w.put(0);
      w.put(0);
      for (const byte of uvarint(r)) w.putN(byte, 8);
    }
  }
  return w.done();
}

export class RleError extends TypeError {
  constructor(message: string) {
    super(`RLE+: ${message}`);
    this.name = 'RleError';
  }
}

/**
 * Decodes RLE+ bytes with the rules of the actors' decoder (fvm_ipld_bitfield), which the chain
 * applies to every bitfield a message carries: a wrong version, a trailing zero byte, a short
 * block for a run under 2, a long block for a run under 16, a varint that is not minimal or
 * longer than 10 bytes, and a trailing run of zeros are all refused. Bits past the last byte
 * read as zeros, so a block may end in the implicit padding (`54` is `{0,1}`).
 */
export function rleDecode(b: Uint8Array): BitSet {
  if (b.length > 0 && b[b.length - 1] === 0) throw new RleError('not minimally encoded (trailing zero byte)');
  const r = new BitReader(b);
  if (r.getN(2) !== 0) throw new RleError('unsupported version');
  let one = r.get() === 1;
  const out: number[] = [];
  let pos = 0;
  while (r.hasMore()) {
    let len: number;
    if (r.get() === 1) len = 1;
    // eslint-disable-next-line no-dupe-else-if -- each get() reads the next bit
    else if (r.get() === 1) {
      len = r.getN(4);
      if (len < 2) throw new RleError('non-minimal short block');
    } else {
      let v = 0n;
      let i = 0;
      for (; ; i++) {
        if (i === 10) throw new RleError('invalid varint (more than 10 bytes)');
        const byte = r.getN(8);
        v |= BigInt(byte & 0x7f) << BigInt(7 * i);
        if ((byte & 0x80) === 0) {
          if ((i === 9 && byte > 1) || (byte === 0 && i !== 0)) throw new RleError('invalid varint');
          break;
        }
      }
      if (v < 16n) throw new RleError('non-minimal long block');
      if (v + BigInt(pos) > BigInt(Number.MAX_SAFE_INTEGER)) throw new RleError(`a run reaches past bit 2^53 (${v} bits from ${pos}); not supported here`);
      len = Number(v);
    }
    if (one) {
      if (out.length + len > 1 << 24) throw new RleError(`more than ${1 << 24} set bits; not supported here`);
      for (let k = 0; k < len; k++) out.push(pos + k);
    }
    pos += len;
    one = !one;
  }
  // `one` set means the last run read was zeros (or a leading 1 had no run): not minimal.
  if (one) throw new RleError('not minimally encoded (trailing run of zeros)');
  return out;
}

/** go-bitfield's JSON: run lengths starting with a run of zeros (`[0]` when empty). */
export type BitfieldJson = number[];

export function bitfieldToJson(bits: Iterable<number>): BitfieldJson {
  const runs = runsOf(bits);
  return runs.length === 0 ? [0] : runs;
}

export function bitfieldFromJson(j: unknown, what = 'bitfield'): BitSet {
  if (!Array.isArray(j) || !j.every((x) => Number.isSafeInteger(x) && x >= 0)) throw new TypeError(`${what} must be an array of run lengths, got ${JSON.stringify(j)?.slice(0, 80)}`);
  return setOfRuns(j as number[], false);
}

// ------------------------------------------------------------------ CBOR

const cborTypeEncoders = {
  Object(obj: unknown): cborg.Token[] | null {
    if (obj instanceof CborCid) {
      return [new cborg.Token(cborg.Type.tag, 42), new cborg.Token(cborg.Type.bytes, Buffer.concat([Buffer.from([0]), cidBytes(obj.cid)]))];
    }
    return null;
  },
};

/** DAG-CBOR encoding (CIDs given as {@link CborCid}, bytes as Uint8Array, big numbers as bigint). */
export function cborEncode(v: unknown): Buffer {
  return Buffer.from(cborg.encode(v, { typeEncoders: cborTypeEncoders as never }));
}

/** CBOR decoding: CIDs come back as {@link Cid}, byte strings as Uint8Array. */
export function cborDecode(b: Uint8Array): unknown {
  return cborg.decode(b, {
    tags: {
      42: (decode: () => unknown) => {
        const v = decode() as Uint8Array;
        if (!(v instanceof Uint8Array) || v[0] !== 0) throw new TypeError('invalid CID in CBOR');
        return cidFromBytes(v.subarray(1));
      },
    } as never,
    allowBigInt: true,
  });
}

// ------------------------------------------------------------------ Lotus JSON shapes

export type ChainEpoch = number;
export type TipSetKey = Cid[];

export interface Signature {
  /** 1 = secp256k1, 2 = BLS. */
  Type: number;
  Data: string;
}

export interface Ticket {
  VRFProof: string;
}

export interface ElectionProof {
  WinCount: number;
  VRFProof: string;
}

export interface BeaconEntry {
  Round: number;
  Data: string;
}

export interface PoStProofJson {
  PoStProof: number;
  ProofBytes: string;
}

export interface BlockHeader {
  Miner: string;
  Ticket: Ticket | null;
  ElectionProof: ElectionProof | null;
  BeaconEntries: BeaconEntry[];
  WinPoStProof: PoStProofJson[];
  Parents: TipSetKey;
  ParentWeight: BigIntString;
  Height: ChainEpoch;
  ParentStateRoot: Cid;
  ParentMessageReceipts: Cid;
  Messages: Cid;
  BLSAggregate: Signature | null;
  Timestamp: number;
  BlockSig: Signature | null;
  ForkSignaling: number;
  ParentBaseFee: BigIntString;
}

export interface TipSet {
  Cids: TipSetKey;
  Blocks: BlockHeader[];
  Height: ChainEpoch;
}

export interface HeadChange {
  Type: 'current' | 'apply' | 'revert';
  Val: TipSet;
}

export interface Message {
  Version: number;
  To: string;
  From: string;
  Nonce: number;
  Value: BigIntString;
  GasLimit: number;
  GasFeeCap: BigIntString;
  GasPremium: BigIntString;
  Method: number;
  Params: string | null;
  CID?: Cid;
}

export interface SignedMessage {
  Message: Message;
  Signature: Signature;
  CID?: Cid;
}

export interface MessageSendSpec {
  MaxFee?: BigIntString;
  MsgUuid?: string;
  /** Lotus: set the fee cap to the largest the MaxFee allows (lotus-miner's MaximizeWindowPoStFeeCap). */
  MaximizeFeeCap?: boolean;
}

export interface MessageReceipt {
  ExitCode: number;
  Return: string | null;
  GasUsed: number;
  EventsRoot: Cid | null;
}

export interface MsgLookup {
  Message: Cid;
  Receipt: MessageReceipt;
  ReturnDec: unknown;
  TipSet: TipSetKey;
  Height: ChainEpoch;
}

export interface MinerInfo {
  Owner: string;
  Worker: string;
  NewWorker: string;
  ControlAddresses: string[];
  WorkerChangeEpoch: ChainEpoch;
  PeerId: string | null;
  Multiaddrs: string[] | null;
  WindowPoStProofType: number;
  SectorSize: number;
  WindowPoStPartitionSectors: number;
  ConsensusFaultElapsed: ChainEpoch;
  PendingOwnerAddress: string | null;
  Beneficiary: string;
  BeneficiaryTerm: { Quota: BigIntString; UsedQuota: BigIntString; Expiration: ChainEpoch };
  PendingBeneficiaryTerm: unknown;
}

export interface PowerClaim {
  RawBytePower: BigIntString;
  QualityAdjPower: BigIntString;
}

export interface MinerPower {
  MinerPower: PowerClaim;
  TotalPower: PowerClaim;
  HasMinPower: boolean;
}

export interface DeadlineJson {
  PostSubmissions: BitfieldJson;
  DisputableProofCount: number;
  DailyFee?: BigIntString;
}

export interface PartitionJson {
  AllSectors: BitfieldJson;
  FaultySectors: BitfieldJson;
  RecoveringSectors: BitfieldJson;
  LiveSectors: BitfieldJson;
  ActiveSectors: BitfieldJson;
}

export interface SectorOnChainInfo {
  SectorNumber: number;
  SealProof: number;
  SealedCID: Cid;
  /** Lotus v1.36 names it DeprecatedDealIDs (builtin-actors no longer fills it for new sectors); older nodes and the devnet DealIDs. */
  DeprecatedDealIDs?: number[] | null;
  DealIDs?: number[] | null;
  Activation: ChainEpoch;
  Expiration: ChainEpoch;
  DealWeight: BigIntString;
  VerifiedDealWeight: BigIntString;
  InitialPledge: BigIntString;
  ExpectedDayReward: BigIntString;
  ExpectedStoragePledge: BigIntString;
  PowerBaseEpoch: ChainEpoch;
  ReplacedDayReward: BigIntString;
  SectorKeyCID: Cid | null;
  Flags: number;
}

export interface SectorPreCommitInfo {
  SealProof: number;
  SectorNumber: number;
  SealedCID: Cid;
  SealRandEpoch: ChainEpoch;
  DealIDs: number[] | null;
  Expiration: ChainEpoch;
  UnsealedCid: Cid | null;
}

export interface SectorPreCommitOnChainInfo {
  Info: SectorPreCommitInfo;
  PreCommitDeposit: BigIntString;
  PreCommitEpoch: ChainEpoch;
}

export interface SectorLocation {
  Deadline: number;
  Partition: number;
}

export interface ExtendedSectorInfo {
  SealProof: number;
  SectorNumber: number;
  SectorKey: Cid | null;
  SealedCID: Cid;
}

export interface MiningBaseInfo {
  MinerPower: BigIntString;
  NetworkPower: BigIntString;
  Sectors: ExtendedSectorInfo[];
  WorkerKey: string;
  SectorSize: number;
  PrevBeaconEntry: BeaconEntry;
  BeaconEntries: BeaconEntry[];
  EligibleForMining: boolean;
}

export interface BlockTemplate {
  Miner: string;
  Parents: TipSetKey;
  Ticket: Ticket;
  Eproof: ElectionProof;
  BeaconValues: BeaconEntry[];
  Messages: SignedMessage[] | null;
  Epoch: ChainEpoch;
  Timestamp: number;
  WinningPoStProof: PoStProofJson[];
}

export interface BlockMsg {
  Header: BlockHeader;
  BlsMessages: Cid[];
  SecpkMessages: Cid[];
}

export interface APIVersion {
  Version: string;
  APIVersion: number;
  BlockDelay: number;
  /** The node's user agent (Lotus: "lotus"); absent from older nodes. */
  Agent?: string;
}

/** go-state-types crypto.DomainSeparationTag. */
export enum DomainSeparationTag {
  TicketProduction = 1,
  ElectionProofProduction = 2,
  WinningPoStChallengeSeed = 3,
  WindowedPoStChallengeSeed = 4,
  SealRandomness = 5,
  InteractiveSealChallengeSeed = 6,
  WindowedPoStDeadlineAssignment = 7,
  MarketDealCronSeed = 8,
  PoStChainCommit = 9,
}

/** Miner actor method numbers (builtin-actors `miner::Method`). */
export enum MinerMethod {
  SubmitWindowedPoSt = 5,
  PreCommitSector = 6,
  ProveCommitSector = 7,
  DeclareFaults = 10,
  DeclareFaultsRecovered = 11,
  /** Removed at network version 27 (FIP-0101); the actors answer exit code 22. */
  ProveCommitAggregate = 26,
  PreCommitSectorBatch2 = 28,
  /** The prove-commit of network version 23 on (FIP-0084 removed method 7): proofs + piece manifests. */
  ProveCommitSectors3 = 34,
}

/** Storage power actor (f04) method numbers (builtin-actors `power::Method`). */
export enum PowerMethod {
  CreateMiner = 2,
}

/** The storage power actor's ID (f04). */
export const POWER_ACTOR_ID = 4;

/** Lotus KeyType of WalletNew. */
export type KeyType = 'bls' | 'secp256k1';

/** FVM / actor exit codes as Lotus reports them in receipts (go-state-types exitcode). */
export enum ExitCode {
  Ok = 0,
  SysErrSenderInvalid = 1,
  SysErrSenderStateInvalid = 2,
  SysErrInvalidReceiver = 5,
  SysErrInsufficientFunds = 6,
  SysErrOutOfGas = 7,
  ErrIllegalArgument = 16,
  ErrNotFound = 17,
  ErrForbidden = 18,
  ErrInsufficientFunds = 19,
  ErrIllegalState = 20,
  ErrSerialization = 21,
  ErrUnhandledMessage = 22,
}
