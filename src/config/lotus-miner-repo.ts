// Reads a repository that lotus-miner (v1.36; the layout has been stable since 2020) made and
// used, for `distminer init --from-lotus-miner DIR`. Nothing in DIR is written.
//
// What lotus-miner keeps, and where (lotus node/repo/fsrepo.go, storage/pipeline/*.go):
// - `config.toml`: distminer reads its [API] and [Fees] (the rest is kept, unused);
// - `storage.json`: `{"StoragePaths":[{"Path":…}]}`, each path holding `sectorstore.json` and
//   the sector files in the layout distminer's PoSt roles read (sealed/, cache/, update/, …);
// - `keystore/`: files named by the base32 of the key name, a KeyInfo JSON each: the API's
//   JWT secret (`auth-jwt-private`, the file name distminer uses too) and the libp2p host key
//   (`libp2p-host`; its peer id is the miner's on-chain PeerId);
// - `token`: an admin JWT of that secret;
// - `datastore/metadata/`: a LevelDB (goleveldb, same on-disk format as C++ LevelDB) whose keys
//   are datastore keys: `/miner-address` (address bytes), `/sectors/<n>` (a CBOR map per sector:
//   its state machine's record), `/storage/sectorsids/allocated` and `/reserved` (CBOR byte
//   strings of RLE+ bitfields: numbers lotus-miner handed out or set aside),
//   `/storage/sectorsids/reserved/<name>` (one named reservation), `/storage/nextid` (the older
//   counter: a uvarint of the last number handed out), `/slashfilter/epoch/<miner>/<epoch>`
//   (its slash filter: an epoch it produced a block for, never to be mined again).
//
// lotus-miner holds goleveldb's `LOCK` (flock) while it runs: a running miner is refused, as its
// datastore would be read mid-write and it would go on mining beside distminer. The LevelDB is
// read from a copy, since opening one replays its log and writes new files.
import { closeSync, cpSync, existsSync, fsyncSync, mkdtempSync, openSync, readFileSync, readSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { base58btc } from 'multiformats/bases/base58';
import { identity } from 'multiformats/hashes/identity';
import { JWT_KEY_FILE } from '../auth/index.js';
import type { LotusPieceDealInfo, LotusSectorInfo } from '../api/lotus-miner.js';
import { bareSectorInfo } from '../api/lotus-miner.js';
import { decodeDealProposal } from '../chain/market.js';
import { addressFromBytes, type Network } from '../chain/address.js';
import { rleDecode } from '../chain/bitfield.js';
import { cborDecode } from '../chain/cbor.js';
import { isCid } from '../chain/cid.js';
import { readUvarint } from '../chain/encoding.js';
import { type Ranges, fromNumbers, maxOf, normalize } from '../sectorid/ranges.js';
import { heldByAnother, writeAllSync } from '../util/durable.js';
import { ConfigError } from './multiaddr.js';

/** The libp2p host key's keystore file: base32 (RFC 4648, no padding) of `libp2p-host`, as lotus-miner names them (the API secret's is auth's JWT_KEY_FILE). */
export const LIBP2P_KEY_FILE = 'NRUWE4BSOAWWQ33TOQ';

/**
 * lotus-miner's sector states (storage/pipeline/sector_state.go, v1.36) by what they mean for
 * the adoption. Any state not named here (the sealing pipeline before the prove-commit landed,
 * and its failures) is `sealing`.
 * - proving: on chain and proven; distminer's PoSt roles take it over (its files must be there);
 * - faulty: on chain, declared or found faulty (its files are checked, not required);
 * - terminating: on chain until lotus-miner's termination lands (distminer does not send it);
 * - upgrading: a snap-deal upgrade in some step (distminer does not do snap deals);
 * - done: removed, or never on chain.
 */
const STATE_KINDS: Record<string, LotusSector['kind']> = {
  ...Object.fromEntries(['Proving', 'Available', 'FinalizeSector', 'FinalizeFailed'].map((s) => [s, 'proving'])),
  ...Object.fromEntries(['Faulty', 'FaultReported', 'FaultedFinal'].map((s) => [s, 'faulty'])),
  ...Object.fromEntries(['Terminating', 'TerminateWait', 'TerminateFinality', 'TerminateFailed'].map((s) => [s, 'terminating'])),
  ...Object.fromEntries(
    [
      'SnapDealsWaitDeals',
      'SnapDealsAddPiece',
      'SnapDealsPacking',
      'UpdateReplica',
      'ProveReplicaUpdate',
      'SubmitReplicaUpdate',
      'WaitMutable',
      'ReplicaUpdateWait',
      'FinalizeReplicaUpdate',
      'UpdateActivating',
      'ReleaseSectorKey',
      'SnapDealsAddPieceFailed',
      'SnapDealsDealsExpired',
      'SnapDealsRecoverDealIDs',
      'AbortUpgrade',
      'ReplicaUpdateFailed',
      'ReleaseSectorKeyFailed',
      'FinalizeReplicaUpdateFailed',
    ].map((s) => [s, 'upgrading']),
  ),
  ...Object.fromEntries(['Removed', 'Removing', 'RemoveFailed', 'FailedUnrecoverable'].map((s) => [s, 'done'])),
};

export interface LotusStoragePath {
  path: string;
  /** sectorstore.json's ID (a uuid), when the file is there. */
  id?: string;
  canSeal: boolean;
  canStore: boolean;
}

export interface LotusSector {
  number: number;
  /** lotus-miner's state name (Proving, PreCommit1, …). */
  state: string;
  /** What its state means for the adoption (STATE_KINDS). */
  kind: 'proving' | 'faulty' | 'terminating' | 'upgrading' | 'sealing' | 'done';
  /** abi.RegisteredSealProof. */
  sealProof: number;
  /** Deal ids of its pieces. */
  deals: number[];
  /** Snap-upgraded (an UpdateSealed CID, whatever the state): proven from update/ and update-cache/. */
  upgraded: boolean;
  /** Where `readLotusMinerRepo`'s `records` file holds its SectorsStatus answer (one JSON line). */
  record?: { offset: number; length: number };
}

export interface LotusMinerRepo {
  path: string;
  /** f0… of `/miner-address`. */
  minerId: string;
  configText: string;
  storagePaths: LotusStoragePath[];
  /** Raw keystore files (KeyInfo JSON), by their file name. */
  keystore: Record<string, Buffer>;
  /** The libp2p host key's peer id (12D3KooW…), when there is one. */
  peerId?: string;
  /** `<repo>/token`, an admin JWT of the JWT secret. */
  token?: string;
  numbers: {
    allocated: Ranges;
    named: Record<string, Ranges>;
    /** `/storage/nextid`: the last number the older counter handed out. */
    lastCounter?: number;
    /** One above every number lotus-miner handed out (allocated, old counter, sector records). */
    next: number;
  };
  sectors: LotusSector[];
  /** The highest epoch of lotus-miner's slash filter (`/slashfilter/epoch/<miner>/<epoch>`): it mined a block there. */
  lastMinedEpoch?: number;
  /** What could not be carried over from the sector records (a deal info that does not decode, …), one line each. */
  recordWarnings: string[];
}

export interface ReadOptions {
  /** Where the copy of the LevelDB goes (default the temporary directory). */
  scratch?: string;
  /**
   * A file to write every sector record to, as lotus-miner's SectorsStatus answers it
   * (`lotusSectorInfo`), one JSON line each, as they are read: a big miner's records are too
   * many to hold, or to write as one string. Each LotusSector says where its line is.
   */
  records?: string;
  /** The address prefix of the records' addresses (default mainnet, f…). */
  network?: Network;
}

export class LotusRepoError extends ConfigError {}

/** Reads the repository at `dir` (see the top of this file). */
export async function readLotusMinerRepo(dir: string, opts: ReadOptions = {}): Promise<LotusMinerRepo> {
  const path = resolve(dir);
  const meta = join(path, 'datastore', 'metadata');
  if (!existsSync(join(path, 'config.toml')) || !existsSync(meta)) {
    throw new LotusRepoError(
      `${path} is not a lotus-miner repository (no config.toml or datastore/metadata)`,
      'give the directory lotus-miner runs from: its --miner-repo, $LOTUS_MINER_PATH, default ~/.lotusminer',
    );
  }
  // Only what is needed is kept: a big miner's sector records (with their logs) are gigabytes;
  // each is decoded as it is read, written to `records` and dropped.
  const entries = new Map<string, Buffer>();
  const sectors: LotusSector[] = [];
  const recordWarnings: string[] = [];
  const slashEpochs: [string, number][] = [];
  const out = opts.records === undefined ? undefined : openSync(opts.records, 'w', 0o644);
  let offset = 0;
  try {
    await readLevelDb(meta, opts.scratch ?? tmpdir(), (k, v) => {
      const sector = /^\/sectors\/(\d+)$/.exec(k);
      const slash = /^\/slashfilter\/epoch\/([ft]0\d+)\/(\d+)$/.exec(k);
      if (sector) {
        const { sector: s, record } = sectorRecord(Number(sector[1]), v);
        if (out !== undefined) {
          const { info, warnings } = lotusSectorInfo(s, record, opts.network ?? 'mainnet');
          recordWarnings.push(...warnings);
          const line = Buffer.from(JSON.stringify(info) + '\n');
          writeAllSync(out, line);
          s.record = { offset, length: line.length };
          offset += line.length;
        }
        sectors.push(s);
      } else if (slash) slashEpochs.push([slash[1]!, Number(slash[2])]);
      else if (k === '/miner-address' || k.startsWith('/storage/')) entries.set(k, v);
    });
    if (out !== undefined) fsyncSync(out);
  } finally {
    if (out !== undefined) closeSync(out);
  }
  sectors.sort((a, b) => a.number - b.number);
  const minerBytes = entries.get('/miner-address');
  if (!minerBytes) throw new LotusRepoError(`${meta} has no /miner-address: lotus-miner init did not finish on this repository`);
  const minerId = addressFromBytes(minerBytes, 'mainnet');
  if (!/^f0\d+$/.test(minerId)) throw new LotusRepoError(`/miner-address of ${path} is ${minerId}, not an ID address`);

  const bitfield = (key: string): Ranges => {
    const v = entries.get(key);
    if (!v) return [];
    const b = cborDecode(v);
    if (!(b instanceof Uint8Array)) throw new LotusRepoError(`${key} in ${meta} is not a CBOR byte string`);
    return fromNumbers(rleDecode(b));
  };
  const allocated = bitfield('/storage/sectorsids/allocated');
  const named: Record<string, Ranges> = {};
  for (const k of entries.keys()) if (k.startsWith('/storage/sectorsids/reserved/')) named[k.slice('/storage/sectorsids/reserved/'.length)] = bitfield(k);
  const nextId = entries.get('/storage/nextid');
  let lastCounter: number | undefined;
  if (nextId) {
    try {
      lastCounter = Number(readUvarint(nextId)[0]);
    } catch (e) {
      throw new LotusRepoError(`/storage/nextid in ${meta} is not an unsigned varint: ${(e as Error).message}`);
    }
  }

  const highest = Math.max(maxOf(allocated) ?? -1, lastCounter ?? -1, sectors.at(-1)?.number ?? -1); // sorted

  let lastMinedEpoch: number | undefined;
  for (const [m, epoch] of slashEpochs) if (m.slice(1) === minerId.slice(1)) lastMinedEpoch = Math.max(lastMinedEpoch ?? -1, epoch);

  const keystore: Record<string, Buffer> = {};
  const ks = join(path, 'keystore');
  if (existsSync(ks)) for (const f of readdirSync(ks)) if (!f.startsWith('.') && statSync(join(ks, f)).isFile()) keystore[f] = readFileSync(join(ks, f));
  if (!keystore[JWT_KEY_FILE]) throw new LotusRepoError(`${ks} has no API secret (${JWT_KEY_FILE}, auth-jwt-private)`);
  const token = existsSync(join(path, 'token')) ? readFileSync(join(path, 'token'), 'utf8').trim() : undefined;

  return {
    path,
    minerId,
    configText: readFileSync(join(path, 'config.toml'), 'utf8'),
    storagePaths: readStoragePaths(path),
    keystore,
    peerId: keystore[LIBP2P_KEY_FILE] ? peerIdOfKeyInfo(keystore[LIBP2P_KEY_FILE]) : undefined,
    token,
    numbers: { allocated, named, lastCounter, next: highest + 1 },
    sectors,
    lastMinedEpoch,
    recordWarnings,
  };
}

/**
 * Visits every key and value of a LevelDB directory, read from a copy made in `scratch` (opening
 * a LevelDB replays its log into new files: never the original). The copy is taken only while
 * nobody holds the LOCK, checked before and after copying: a lotus-miner started meanwhile
 * could have written half of what was copied.
 */
async function readLevelDb(dir: string, scratch: string, visit: (key: string, value: Buffer) => void): Promise<void> {
  const lock = join(dir, 'LOCK');
  const running = () => existsSync(lock) && heldByAnother(lock);
  const refuse = () =>
    new LotusRepoError(
      `lotus-miner is running on ${dirname(dirname(dir))} (it holds ${lock})`,
      'stop it first (lotus-miner stop), so that it neither writes its datastore while it is read nor mines beside distminer',
    );
  if (running()) throw refuse();
  // Loaded here only: a native addon that no other command needs.
  const { ClassicLevel } = await import('classic-level');
  const copy = mkdtempSync(join(scratch, '.distminer-lotus-metadata-'));
  try {
    cpSync(dir, copy, { recursive: true, filter: (src) => !src.endsWith('/LOCK') });
    if (running()) throw refuse();
    const db = new ClassicLevel<string, Buffer>(copy, { createIfMissing: false, keyEncoding: 'utf8', valueEncoding: 'buffer' });
    try {
      await db.open();
    } catch (e) {
      throw new LotusRepoError(`cannot read the LevelDB ${dir}: ${(e as Error).message}${(e as { cause?: Error }).cause ? ` (${(e as { cause: Error }).cause.message})` : ''}`);
    }
    try {
      for await (const [k, v] of db.iterator()) visit(k, v);
    } finally {
      await db.close();
    }
  } finally {
    rmSync(copy, { recursive: true, force: true });
  }
}

/** The fields distminer needs of a `/sectors/<n>` record (a CBOR map keyed by Go field names), and the decoded record. */
function sectorRecord(n: number, v: Buffer): { sector: LotusSector; record: Record<string, unknown> } {
  let r: Record<string, unknown>;
  try {
    r = cborDecode(v) as Record<string, unknown>;
  } catch (e) {
    throw new LotusRepoError(`/sectors/${n} is not CBOR: ${(e as Error).message}`);
  }
  if (r === null || typeof r !== 'object' || typeof r.State !== 'string') throw new LotusRepoError(`/sectors/${n} is not a sector record (no State)`);
  if (r.SectorNumber !== undefined && Number(r.SectorNumber) !== n) throw new LotusRepoError(`/sectors/${n} holds sector ${String(r.SectorNumber)}`);
  const state = r.State;
  const deals: number[] = [];
  for (const p of Array.isArray(r.Pieces) ? r.Pieces : []) {
    const d = (p as { DealInfo?: { DealID?: unknown } } | null)?.DealInfo?.DealID;
    if (d !== undefined && d !== null) deals.push(Number(d)); // deal ids start at 0 (genesis deals)
  }
  return {
    sector: { number: n, state, kind: STATE_KINDS[state] ?? 'sealing', sealProof: Number(r.SectorType ?? -1), deals, upgraded: r.UpdateSealed !== undefined && r.UpdateSealed !== null },
    record: r,
  };
}

/**
 * In an adopted distminer repository: lotus-miner's sector records. `lotus-miner-sectors.ndjson`
 * holds each one as lotus-miner's SectorsStatus answered it (one JSON line); the index
 * `lotus-miner-sectors.json` lists the sectors with their state at the adoption and where each
 * line is, so that a miner with many sectors reads only the line asked for.
 */
export const ADOPTED_SECTORS_FILE = 'lotus-miner-sectors.json';
export const ADOPTED_RECORDS_FILE = 'lotus-miner-sectors.ndjson';

export interface AdoptedIndex {
  /** The lotus-miner repository they came from. */
  from: string;
  adoptedAt: string;
  /** [number, state, offset, length, note?]: a note (why the state is not lotus-miner's) becomes LastErr. */
  sectors: [number, string, number, number, string?][];
}

export interface AdoptedSectors {
  from: string;
  sectors: { number: number; state: string }[];
  /** Sector `n`'s record, its state and note the index's; undefined when it has none. */
  read(n: number): LotusSectorInfo | undefined;
}

/** `<repo>/lotus-miner-sectors.json` and its records, or undefined when the repository was not adopted from lotus-miner. */
export function readAdoptedSectors(repo: string): AdoptedSectors | undefined {
  const f = join(repo, ADOPTED_SECTORS_FILE);
  if (!existsSync(f)) return undefined;
  const hint = "it is written once by distminer init --from-lotus-miner: adopt again into a new repository, or remove it (lotus-miner's sector records are then not shown)";
  let a: AdoptedIndex;
  try {
    a = JSON.parse(readFileSync(f, 'utf8'));
  } catch (e) {
    throw new ConfigError(`${f} is not JSON: ${(e as Error).message}`, hint);
  }
  const ok = (x: unknown): x is AdoptedIndex['sectors'][number] =>
    Array.isArray(x) && x.length >= 4 && Number.isSafeInteger(x[0]) && typeof x[1] === 'string' && Number.isSafeInteger(x[2]) && Number.isSafeInteger(x[3]);
  if (!a || !Array.isArray(a.sectors) || !a.sectors.every(ok)) throw new ConfigError(`${f} does not hold a sector index`, hint);
  const byNumber = new Map(a.sectors.map((x) => [x[0], x]));
  const records = join(repo, ADOPTED_RECORDS_FILE);
  return {
    from: a.from,
    sectors: a.sectors.map(([number, state]) => ({ number, state })),
    read(n) {
      const x = byNumber.get(n);
      if (!x) return undefined;
      const [, state, offset, length, note] = x;
      const buf = Buffer.alloc(length);
      const fd = openSync(records, 'r');
      try {
        if (readSync(fd, buf, 0, length, offset) !== length) throw new Error(`${records} ends before sector ${n}'s record`);
      } finally {
        closeSync(fd);
      }
      const info = JSON.parse(buf.toString('utf8')) as LotusSectorInfo;
      if (info.SectorID !== n) throw new Error(`${records}: the record at sector ${n}'s place is sector ${info.SectorID}'s`);
      return { ...info, State: state, ...(note ? { LastErr: note } : {}) };
    },
  };
}

/** How many of a sector record's log entries the adoption keeps: the first (the sector's start, as `sectors list --seal-time` reads it) and the latest (lotus-miner keeps them all). */
export const ADOPTED_LOG_ENTRIES = 50;
/** A log entry's message and trace are cut here (lotus-miner logs whole events, up to 8,000 bytes). */
const LOG_TEXT_MAX = 1024;

/**
 * A sector record as lotus-miner's own `SectorsStatus(n, false)` answers it (storage/pipeline
 * input.go SectorsStatus, v1.36): a piece's deal info only when it is valid by lotus-miner's
 * rule (PieceDealInfo.Valid: a published deal or an activation manifest, and a deal schedule),
 * its deal id only when published; bytes in base64, empty bytes as null; the on-chain fields
 * zero. Of the log, the first entry and the latest, to ADOPTED_LOG_ENTRIES, texts cut at 1 KiB.
 * Addresses in `network`'s prefix. A deal info that does not decode (a byte-string label, an
 * address kind distminer does not read) is left out, with a warning.
 */
export function lotusSectorInfo(s: Pick<LotusSector, 'number' | 'state' | 'sealProof'>, r: Record<string, unknown>, network: Network): { info: LotusSectorInfo; warnings: string[] } {
  const warnings: string[] = [];
  const b64 = (v: unknown) => (v instanceof Uint8Array && v.length > 0 ? Buffer.from(v).toString('base64') : null);
  const cid = (v: unknown) => (isCid(v) ? v : null);
  const int = (v: unknown) => (typeof v === 'number' || typeof v === 'bigint' ? Number(v) : 0);
  const text = (v: unknown) => String(v ?? '').slice(0, LOG_TEXT_MAX);
  const pieces = (Array.isArray(r.Pieces) ? r.Pieces : []).map((p: unknown, i) => {
    // api.SectorPiece is a map; its abi.PieceInfo a tuple [Size, PieceCID].
    const piece = (p ?? {}) as { Piece?: unknown[]; DealInfo?: Record<string, unknown> | null };
    const [size, pieceCid] = Array.isArray(piece.Piece) ? piece.Piece : [];
    let dealInfo: LotusPieceDealInfo | null = null;
    try {
      dealInfo = pieceDealInfo(piece.DealInfo, `/sectors/${s.number} Pieces[${i}]`, network);
    } catch (e) {
      warnings.push(`sector ${s.number} piece ${i}: its deal info is not carried over (${(e as Error).message})`);
    }
    return { Piece: { Size: int(size), PieceCID: cid(pieceCid) }, DealInfo: dealInfo };
  });
  const all = Array.isArray(r.Log) ? r.Log : [];
  const kept = all.length > ADOPTED_LOG_ENTRIES ? [all[0], ...all.slice(-(ADOPTED_LOG_ENTRIES - 1))] : all;
  const log = kept.map((l: unknown) => {
    const e = (l ?? {}) as Record<string, unknown>;
    return { Kind: String(e.Kind ?? ''), Timestamp: int(e.Timestamp), Trace: text(e.Trace), Message: text(e.Message) };
  });
  const info: LotusSectorInfo = {
    ...bareSectorInfo(s.number, s.state, s.sealProof),
    CommD: cid(r.CommD),
    CommR: cid(r.CommR),
    Proof: b64(r.Proof),
    Deals: pieces.map((p) => (p.DealInfo?.PublishCid ? p.DealInfo.DealID : 0)),
    Pieces: pieces,
    Ticket: { Value: b64(r.TicketValue), Epoch: int(r.TicketEpoch) },
    Seed: { Value: b64(r.SeedValue), Epoch: int(r.SeedEpoch) },
    PreCommitMsg: cid(r.PreCommitMessage),
    CommitMsg: cid(r.CommitMessage),
    Retries: int(r.InvalidProofs),
    ReplicaUpdateMessage: cid(r.ReplicaUpdateMessage),
    LastErr: typeof r.LastErr === 'string' ? r.LastErr : '',
    Log: log,
  };
  return { info, warnings };
}

/** A piece's PieceDealInfo in Lotus JSON, or null where lotus-miner's Valid() would refuse it. */
function pieceDealInfo(d: Record<string, unknown> | null | undefined, where: string, network: Network): LotusPieceDealInfo | null {
  if (!d || typeof d !== 'object') return null;
  const publish = isCid(d.PublishCid) ? d.PublishCid : null;
  const dealId = typeof d.DealID === 'number' || typeof d.DealID === 'bigint' ? Number(d.DealID) : 0;
  const sched = (d.DealSchedule ?? {}) as { StartEpoch?: unknown; EndEpoch?: unknown };
  const [start, end] = [Number(sched.StartEpoch ?? 0), Number(sched.EndEpoch ?? 0)];
  const legacy = publish !== null && dealId !== 0 && Array.isArray(d.DealProposal);
  const pam = Array.isArray(d.PieceActivationManifest) ? d.PieceActivationManifest : null;
  if (legacy === (pam !== null) || start <= 0 || end <= start) return null;
  return {
    PublishCid: publish,
    DealID: dealId,
    DealProposal: legacy ? decodeDealProposal(d.DealProposal, where, network) : null,
    DealSchedule: { StartEpoch: start, EndEpoch: end },
    PieceActivationManifest: pam && pieceActivationManifest(pam, network),
    KeepUnsealed: d.KeepUnsealed === true,
  };
}

/** miner.PieceActivationManifest{CID, Size, VerifiedAllocationKey *{Client, ID}, Notify []{Address, Payload}} from its CBOR tuple. */
function pieceActivationManifest(t: unknown[], network: Network): LotusPieceDealInfo['PieceActivationManifest'] {
  const key = Array.isArray(t[2]) ? { Client: Number(t[2][0]), ID: Number(t[2][1]) } : null;
  const notify = (Array.isArray(t[3]) ? t[3] : []).map((n: unknown) => {
    const [addr, payload] = n as [Uint8Array, Uint8Array];
    return { Address: addressFromBytes(addr, network), Payload: Buffer.from(payload ?? []).toString('base64') };
  });
  return { CID: isCid(t[0]) ? t[0] : null, Size: Number(t[1]), VerifiedAllocationKey: key, Notify: notify };
}

/** storage.json's paths with their sectorstore.json (lotus's storiface.StorageConfig / LocalStorageMeta). */
function readStoragePaths(repo: string): LotusStoragePath[] {
  const f = join(repo, 'storage.json');
  if (!existsSync(f)) return [];
  let cfg: { StoragePaths?: { Path?: unknown }[] | null };
  try {
    cfg = JSON.parse(readFileSync(f, 'utf8'));
  } catch (e) {
    throw new LotusRepoError(`${f} is not JSON: ${(e as Error).message}`);
  }
  return (cfg.StoragePaths ?? []).map((p) => {
    if (typeof p?.Path !== 'string' || p.Path === '') throw new LotusRepoError(`${f}: a storage path without Path`);
    const path = resolve(repo, p.Path);
    const metaFile = join(path, 'sectorstore.json');
    let meta: { ID?: string; CanSeal?: boolean; CanStore?: boolean } = {};
    if (existsSync(metaFile)) {
      try {
        meta = JSON.parse(readFileSync(metaFile, 'utf8'));
      } catch (e) {
        throw new LotusRepoError(`${metaFile} is not JSON: ${(e as Error).message}`);
      }
    }
    return { path, id: meta.ID, canSeal: meta.CanSeal === true, canStore: meta.CanStore === true };
  });
}

/**
 * The peer id of a libp2p-host KeyInfo: an Ed25519 private key in libp2p's protobuf
 * (`08 01 12 40` seed ‖ public key); the peer id is the identity multihash of the public key's
 * protobuf (`08 01 12 20` public key), in base58btc. Other key types: undefined.
 */
export function peerIdOfKeyInfo(keyInfo: Uint8Array): string | undefined {
  let pk: Buffer;
  try {
    pk = Buffer.from((JSON.parse(Buffer.from(keyInfo).toString('utf8')) as { PrivateKey: string }).PrivateKey, 'base64');
  } catch {
    return undefined;
  }
  if (pk.length !== 68 || pk[0] !== 0x08 || pk[1] !== 0x01 || pk[2] !== 0x12 || pk[3] !== 0x40) return undefined;
  const pub = Buffer.concat([Buffer.from([0x08, 0x01, 0x12, 0x20]), pk.subarray(36)]);
  return base58btc.encode(identity.digest(pub).bytes).slice(1); // without the multibase prefix 'z'
}

/**
 * lotus-miner's named reservations as distminer keeps them: the parts at or above `floor`
 * (numbers below it are behind distminer's counter anyway), and without numbers an earlier
 * name already holds (lotus-miner's `reserve --force` lets reservations overlap; distminer's
 * do not).
 */
export function reservationsFrom(named: Record<string, Ranges>, floor: number): Record<string, Ranges> {
  const out: Record<string, Ranges> = {};
  let taken: Ranges = [];
  for (const name of Object.keys(named).sort()) {
    const above = normalize(named[name]!.filter(([, hi]) => hi >= floor).map(([lo, hi]) => [Math.max(lo, floor), hi] as [number, number]));
    const free = subtract(above, taken);
    if (free.length > 0) out[name] = free;
    taken = normalize([...taken, ...free]);
  }
  return out;
}

/** `a` without the numbers of `b` (both normalized). */
function subtract(a: Ranges, b: Ranges): Ranges {
  const out: Ranges = [];
  for (const [lo0, hi] of a) {
    let lo = lo0;
    for (const [blo, bhi] of b) {
      if (bhi < lo || blo > hi) continue;
      if (blo > lo) out.push([lo, blo - 1]);
      lo = bhi + 1;
      if (lo > hi) break;
    }
    if (lo <= hi) out.push([lo, hi]);
  }
  return out;
}
