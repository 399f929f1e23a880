// `distminer init --miner f01000 --repo DIR [--api /ip4/127.0.0.1/tcp/2345/http]`: create a
// miner repository (config.toml with the miner id and API address, a random API token), or
// adopt a copied repository that has a config.toml but no [Distminer] section (adds it and a
// token). A lotus-miner repository is taken over with --from-lotus-miner (adoptLotusMiner).
//
// `distminer init --create-miner --repo DIR [--chain-api INFO] [--from ADDR] …`: first create a
// miner actor on chain, as `lotus-miner init` does: new BLS owner and worker keys in the node's
// wallet, funded from --from (default: the node's default wallet), then CreateMiner through the
// storage power actor (f04, method 2) from the owner with StateMinerCreationDeposit's deposit
// (FIP-0077) times Lotus's 1.01 margin; the receipt's new ID goes into the repository's config.
// Progress (keys, the CreateMiner message) is kept durably in DIR.create-miner.json, so a run
// stopped half-way is resumed by running the same command again: no key, fund or miner is lost.
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { KEYSTORE_DIR, TOKEN_FILE, ensureRepoAuth } from '../auth/index.js';
import { ChainClient, RpcError } from '../chain/client.js';
import { filArg } from './usage.js';
import { decodeCreateMinerReturn, encodeCreateMiner } from '../chain/params.js';
import { idAddress } from '../chain/address.js';
import { POWER_ACTOR_ID, PowerMethod } from '../chain/builtin-actors.js';
import type { Cid } from '../chain/cid.js';
import { b64, fromB64 } from '../chain/encoding.js';
import { ConfigError, formatApiMultiaddr, parseApiMultiaddr } from '../config/multiaddr.js';
import { ADOPTED_LOG_ENTRIES, ADOPTED_RECORDS_FILE, ADOPTED_SECTORS_FILE, type AdoptedIndex, type LotusSector, readLotusMinerRepo, reservationsFrom } from '../config/lotus-miner-repo.js';
import { CONFIG_FILE, initRepo, resolveRepoPath, stageRepo } from '../config/repo.js';
import { DEFAULT_API_LISTEN, parseConfigToml } from '../config/settings.js';
import { logger } from '../log.js';
import * as proofs from '../proofs/index.js';
import { exitCodeOf } from '../sealing/lotus-chain.js';
import { checkSectors } from '../post/storage.js';
import { lastMinedFile, writeLastMined } from '../post/winning.js';
import { Allocator } from '../sectorid/allocator.js';
import { FileStore } from '../sectorid/file-store.js';
import { formatRanges } from '../sectorid/ranges.js';
import { fsyncDir, writeFileAtomic } from '../util/durable.js';

const log = logger('init');

/** `distminer init`'s options, parsed by commander (src/cli/program.ts). */
export interface InitOptions {
  miner?: string;
  repo?: string;
  api?: string;
  createMiner?: boolean;
  chainApi?: string;
  from?: string;
  sectorSize?: string;
  ownerFunds?: string;
  workerFunds?: string;
  fromLotusMiner?: string;
  abandonSealing?: boolean;
}

export async function main(flags: InitOptions): Promise<number> {
  const path = resolveRepoPath(flags.repo);
  if (flags.fromLotusMiner !== undefined) {
    if (flags.createMiner === true) throw new ConfigError('init --from-lotus-miner takes over an existing miner', 'drop --create-miner');
    return adoptLotusMiner(flags.fromLotusMiner, path, flags);
  }
  const api = flags.api ?? DEFAULT_API_LISTEN;
  let miner = flags.miner;
  if (flags.createMiner === true) {
    if (miner) throw new ConfigError('init: --miner and --create-miner exclude each other', "drop --miner: the new miner's id is written for you");
    const info = flags.chainApi ?? process.env.FULLNODE_API_INFO;
    if (!info) throw new ConfigError('init --create-miner: no chain API', 'pass --chain-api TOKEN:/ip4/127.0.0.1/tcp/1234/http or set FULLNODE_API_INFO');
    checkRepoFree(path);
    const r = await createMiner(new ChainClient(info, { timeoutMs: 60_000 }), {
      progressFile: `${path}.create-miner.json`,
      from: flags.from,
      sectorSize: proofs.parseSectorSize(flags.sectorSize ?? '2KiB'),
      ownerFunds: filArg(flags.ownerFunds ?? '1', '--owner-funds'),
      workerFunds: filArg(flags.workerFunds ?? '10', '--worker-funds'),
      say: (line) => process.stdout.write(line + '\n'),
    });
    miner = r.miner;
    initRepo(path, miner, api);
    rmSync(`${path}.create-miner.json`, { force: true });
    process.stdout.write(`created miner ${r.miner} (owner ${r.owner}, worker ${r.worker}, deposit ${r.deposit} attoFIL); repository ${path}\n`);
    return 0;
  }
  if (typeof miner !== 'string')
    throw Object.assign(new Error('init: --miner is required'), { hint: 'e.g. distminer init --miner f01000 --repo ~/.distminer, or --create-miner to make one on chain' });
  const r = initRepo(path, miner, api);
  process.stdout.write(r.created ? `initialised repository ${r.path} for miner ${miner}\n` : `adopted repository ${r.path} for miner ${miner} (added [Distminer] and/or a token)\n`);
  return 0;
}

/**
 * `distminer init --from-lotus-miner LOTUS_REPO --repo NEW`: a new repository that takes over a
 * stopped lotus-miner's miner (src/config/lotus-miner-repo.ts reads it; nothing there is
 * changed, so going back is starting lotus-miner again). It keeps:
 * - its config.toml (distminer reads its API address — unless --api — and [Fees]; the rest is kept) with a [Distminer] section naming
 *   the miner and lotus-miner's storage paths (where the PoSt roles find the sealed sectors);
 * - its API secret and token (existing tokens keep working) and libp2p key (the on-chain PeerId);
 * - its sector numbers: distminer's counter starts above every number lotus-miner handed out,
 *   and its named reservations are kept;
 * - its slash filter: the last epoch it mined is distminer's last mined epoch;
 * - its sector records, as its own SectorsStatus answered them (lotus-miner-sectors.json), which
 *   the Lotus API serves to `lotus-miner sectors status` (src/api/lotus-miner.ts).
 * Refused: a running lotus-miner, proven sectors whose files are not readable, sectors distminer
 * cannot prove (snap-upgraded or being upgraded, synthetic or non-interactive PoRep), and
 * sectors still sealing unless --abandon-sealing (their numbers stay used). Faulty sectors'
 * files are checked and reported, not required; pending terminations are reported.
 */
async function adoptLotusMiner(from: string, path: string, flags: InitOptions): Promise<number> {
  // The cheap refusals first: reading a big miner's datastore takes a while.
  if (resolve(from) === path)
    throw new ConfigError('--repo is the lotus-miner repository itself', 'give a new directory: the lotus-miner repository is left as it is, so that you can go back to lotus-miner');
  if (flags.miner !== undefined && !/^[ft]0\d+$/.test(flags.miner)) throw new ConfigError(`--miner "${flags.miner}" is not an ID address like f01000`);
  if (existsSync(path) && (!statSync(path).isDirectory() || readdirSync(path).length > 0)) throw new ConfigError(`${path} exists and is not an empty directory`, 'give a new directory for --repo');
  mkdirSync(dirname(path), { recursive: true });
  // lotus-miner's sector records go to a file beside the new repository as they are read (a
  // big miner's do not fit in memory), moved into it at the end. Addresses in them take the
  // prefix of --miner (lotus-miner's datastore does not say which network it is on).
  const records = `${path}.${ADOPTED_RECORDS_FILE}.${process.pid}.tmp`;
  try {
    return await adoptWithRecords(from, path, flags, records);
  } finally {
    rmSync(records, { force: true });
  }
}

/** The adoption itself; lotus-miner's sector records are written to `records` as they are read, and moved into the new repository at the end. */
async function adoptWithRecords(from: string, path: string, flags: InitOptions, records: string): Promise<number> {
  const lm = await readLotusMinerRepo(from, { scratch: dirname(path), records, network: flags.miner?.startsWith('t') ? 'testnet' : 'mainnet' });
  const minerId = flags.miner ?? lm.minerId;
  if (minerId.slice(1) !== lm.minerId.slice(1)) throw new ConfigError(`--miner ${minerId}: ${from} is a repository of ${lm.minerId}`);
  const say = (line: string) => process.stdout.write(line + '\n');
  const actor = Number(lm.minerId.slice(2));
  const list = (ss: LotusSector[]) => ss.map((s) => `${s.number} (${s.state})`).join(', ');

  const upgraded = lm.sectors.filter((s) => s.kind !== 'done' && (s.upgraded || s.kind === 'upgrading'));
  if (upgraded.length > 0)
    throw new ConfigError(
      `sectors ${list(upgraded)} are upgraded or being upgraded with snap deals; distminer does not prove from update/ files yet`,
      'keep lotus-miner for this miner (or finish or abort the upgrades and wait until none is left)',
    );
  const sealing = lm.sectors.filter((s) => s.kind === 'sealing');
  if (sealing.length > 0 && flags.abandonSealing !== true) {
    throw new ConfigError(
      `lotus-miner is still sealing sectors ${list(sealing)}`,
      'let lotus-miner finish them (until Proving) before switching, or pass --abandon-sealing: distminer does not continue them (a pre-commit already on chain loses its deposit when it expires), and their numbers stay used',
    );
  }
  // On chain: distminer's PoSt roles prove them from the storage paths.
  const onChain = lm.sectors.filter((s) => s.kind === 'proving' || s.kind === 'faulty' || s.kind === 'terminating');
  const odd = onChain.filter((s) => !Number.isInteger(s.sealProof) || s.sealProof < 0 || s.sealProof > 9);
  if (odd.length > 0)
    throw new ConfigError(
      `sectors ${odd.map((s) => `${s.number} (seal proof type ${s.sealProof})`).join(', ')} have a seal proof type distminer does not prove (synthetic or non-interactive PoRep)`,
      'keep lotus-miner for this miner',
    );
  // Paths that take new sectors (CanStore) first — the seal and deal roles write to the first —
  // lotus-miner's own repository after the others of them (so that it stays as it was where
  // there is another), read-only paths last.
  const paths = lm.storagePaths
    .map((p, i) => ({ ...p, rank: !p.canStore ? 2 : p.path === lm.path ? 1 : 0, i }))
    .sort((a, b) => a.rank - b.rank || a.i - b.i)
    .map((p) => p.path);
  const bySize = new Map<number, number[]>();
  for (const s of onChain) {
    const ns = bySize.get(s.sealProof);
    if (ns) ns.push(s.number);
    else bySize.set(s.sealProof, [s.number]);
  }
  const unreadable = new Map<number, string>();
  for (const [proof, ns] of bySize) {
    // A path's check reads a little of every sector: its time grows with their number.
    const checked = await checkSectors(paths, actor, ns, { sectorSize: proofs.sealProofSectorSize(proof as proofs.RegisteredSealProof), timeoutMs: 60_000 + 10 * ns.length });
    for (const r of checked.values()) if (!r.ok) unreadable.set(r.sectorNumber, r.reason ?? r.outcome);
  }
  const missing = lm.sectors.filter((s) => s.kind === 'proving' && unreadable.has(s.number));
  if (missing.length > 0)
    throw new ConfigError(
      `proven sectors whose files are not readable in lotus-miner's storage paths (${paths.join(', ') || 'none'}): ${missing.map((s) => `${s.number}: ${unreadable.get(s.number)}`).join('; ')}`,
      'fix storage.json or the paths first: Window PoSt would declare these sectors faulty',
    );
  const faulty = lm.sectors.filter((s) => s.kind === 'faulty');
  const terminating = lm.sectors.filter((s) => s.kind === 'terminating');

  const floor = lm.numbers.next;
  const reservations = reservationsFrom(lm.numbers.named, floor);
  const stage = stageRepo(path);
  try {
    const cfg = `${(flags.api ? withApiListen(lm.configText, flags.api) : lm.configText).replace(/\s*$/, '\n')}
# Added by distminer init --from-lotus-miner ${lm.path} (${new Date().toISOString()})
[Distminer]
  Miner = "${minerId}"
  StoragePaths = ${JSON.stringify(paths)}
`;
    parseConfigToml(cfg); // refuses what distminer cannot run with, before anything is in place
    writeFileAtomic(join(stage.dir, CONFIG_FILE), cfg);
    mkdirSync(join(stage.dir, 'actors'));
    mkdirSync(join(stage.dir, KEYSTORE_DIR), { mode: 0o700 });
    for (const [name, data] of Object.entries(lm.keystore)) writeFileAtomic(join(stage.dir, KEYSTORE_DIR, name), data, 0o600);
    if (lm.token) writeFileAtomic(join(stage.dir, TOKEN_FILE), lm.token, 0o600);
    ensureRepoAuth(stage.dir); // checks the token against the secret (a new one if it was not of it)
    if (lm.lastMinedEpoch !== undefined) writeLastMined(lastMinedFile(stage.dir), minerId, lm.lastMinedEpoch);
    // lotus-miner's sector records, for `lotus-miner sectors status` against distminer; the
    // sectors abandoned here are Removed, with the reason.
    const abandoned = new Set(sealing.map((s) => s.number));
    const index: AdoptedIndex = {
      from: lm.path,
      adoptedAt: new Date().toISOString(),
      sectors: lm.sectors.map(
        (s) =>
          [
            s.number,
            abandoned.has(s.number) ? 'Removed' : s.state,
            s.record!.offset,
            s.record!.length,
            ...(abandoned.has(s.number) ? [`abandoned in ${s.state} when distminer adopted this miner (its number stays used)`] : []),
          ] as AdoptedIndex['sectors'][number],
      ),
    };
    renameSync(records, join(stage.dir, ADOPTED_RECORDS_FILE));
    writeFileAtomic(join(stage.dir, ADOPTED_SECTORS_FILE), JSON.stringify(index) + '\n');
    const alloc = new Allocator({ store: new FileStore(stage.dir), minerId });
    await alloc.open({ extraFloor: floor, operatorFloor: true });
    try {
      for (const [name, rs] of Object.entries(reservations)) await alloc.reserve(name, rs);
    } finally {
      await alloc.close();
    }
    fsyncDir(join(stage.dir, 'actors'));
    stage.commit();
  } catch (e) {
    stage.abort();
    throw e;
  }

  say(`adopted lotus-miner repository ${lm.path} for miner ${minerId} into ${path} (the lotus-miner repository is unchanged)`);
  say(`  API:             ${parseConfigToml(readFileSync(join(path, CONFIG_FILE), 'utf8')).apiListen ?? DEFAULT_API_LISTEN} (lotus-miner's tokens work there)`);
  say(`  storage paths:   ${paths.join(', ') || '(none)'}`);
  say(`  proven sectors:  ${onChain.length - faulty.length - terminating.length}, all found in the storage paths`);
  if (faulty.length > 0)
    say(
      `  faulty:          ${list(faulty)}; files ${
        faulty.every((s) => !unreadable.has(s.number))
          ? 'all readable'
          : `not readable for ${faulty
              .filter((s) => unreadable.has(s.number))
              .map((s) => s.number)
              .join(', ')}`
      } (Window PoSt declares them recovered once they are)`,
    );
  if (terminating.length > 0) say(`  terminating:     ${list(terminating)}: distminer does not send lotus-miner's pending terminations; proven until one lands`);
  if (sealing.length > 0) say(`  abandoned:       ${list(sealing)} (their numbers stay used)`);
  say(
    `  sector numbers:  the next is ${floor} or above; lotus-miner allocated ${formatRanges(lm.numbers.allocated) || 'none'}${
      Object.keys(reservations).length > 0
        ? `; reservations kept: ${Object.entries(reservations)
            .map(([n, r]) => `${n} ${formatRanges(r)}`)
            .join(', ')}`
        : ''
    }`,
  );
  say(`  keys:            API secret and token${lm.peerId ? `, libp2p key (peer id ${lm.peerId})` : ''}`);
  if (lm.lastMinedEpoch !== undefined) say(`  last mined:      epoch ${lm.lastMinedEpoch} (never mined again)`);
  say(`  sector records:  ${lm.sectors.length} in ${ADOPTED_RECORDS_FILE} (what lotus-miner's sectors status showed; of each log the first entry and the latest, ${ADOPTED_LOG_ENTRIES} in all)`);
  for (const w of lm.recordWarnings) say(`  not carried over: ${w}`);
  say('Do not start lotus-miner on this miner again: both would mine and number sectors.');
  return 0;
}

/**
 * lotus-miner's config.toml with `[API] ListenAddress` set to `address` (--api): the line is
 * replaced where it is, commented out (as lotus-miner writes its defaults) or not, else added.
 */
export function withApiListen(configText: string, address: string): string {
  const line = `  ListenAddress = ${JSON.stringify(formatApiMultiaddr(parseApiMultiaddr(address, '--api')))}`;
  const api = /^\[API\][^\S\n]*\n/m.exec(configText);
  if (!api) return `[API]\n${line}\n\n${configText}`;
  const start = api.index + api[0].length;
  const next = configText.slice(start).search(/^\[/m);
  const end = next < 0 ? configText.length : start + next;
  const body = configText.slice(start, end);
  const existing = /^[^\S\n]*#?[^\S\n]*ListenAddress[^\S\n]*=.*$/m;
  return configText.slice(0, start) + (existing.test(body) ? body.replace(existing, line) : `${line}\n${body}`) + configText.slice(end);
}

/** Refuses, before anything is spent on chain, a repository that already names a miner. */
function checkRepoFree(path: string): void {
  const cfg = `${path}/${CONFIG_FILE}`;
  if (existsSync(cfg)) {
    const c = parseConfigToml(readFileSync(cfg, 'utf8'));
    if (c.minerId) throw new ConfigError(`${path} is already a repository of miner ${c.minerId}`, 'use another --repo for the new miner');
  }
}

export interface CreateMinerOptions {
  /** Where progress is kept (keys, message CIDs) so a second run resumes. */
  progressFile: string;
  from?: string;
  sectorSize: number;
  /** attoFIL the owner gets beyond the creation deposit (gas). */
  ownerFunds: bigint;
  /** attoFIL the worker gets (deposits, pledges, gas). */
  workerFunds: bigint;
  say?: (line: string) => void;
  /**
   * Receipt confidence (epochs), default 1 as lotus-miner (MessageConfidence): Lotus's message
   * pool resolves a sender against the head's parent state, so a key funded in the head's own
   * tipset is not found yet ("resolution lookup failed … actor not found").
   */
  confidence?: number;
}

interface Progress {
  owner?: string;
  worker?: string;
  funded?: boolean;
  createMsg?: string;
  deposit?: string;
}

export interface CreatedMiner {
  miner: string;
  owner: string;
  worker: string;
  /** attoFIL sent with CreateMiner. */
  deposit: string;
  createMsg: string;
}

/** Lotus's refusal of a message (gas estimation runs it) or a failed receipt, with method and exit code. */
export class ChainMessageError extends Error {
  override name = 'ChainMessageError';
  constructor(
    readonly method: string,
    readonly exitCode: number | undefined,
    reason: string,
  ) {
    super(`${method}${exitCode !== undefined ? ` failed with exit code ${exitCode}` : ' was refused'}: ${reason}`);
  }
}

/** Creates a miner actor on chain (see the header); resumable through `progressFile`. */
export async function createMiner(c: ChainClient, o: CreateMinerOptions): Promise<CreatedMiner> {
  const say = o.say ?? (() => undefined);
  const p: Progress = existsSync(o.progressFile) ? (JSON.parse(readFileSync(o.progressFile, 'utf8')) as Progress) : {};
  const save = () => writeFileAtomic(o.progressFile, JSON.stringify(p, null, 2) + '\n', 0o600);
  const send = async (method: string, msg: { To: string; From: string; Method: number; Value: bigint; Params?: string }): Promise<Cid> => {
    try {
      const sm = await c.mpoolPushMessage({ To: msg.To, From: msg.From, Method: msg.Method, Value: msg.Value.toString(), Params: msg.Params ?? null });
      return sm.CID ?? sm.Message.CID!;
    } catch (e) {
      if (!(e instanceof RpcError)) throw e;
      const exitCode = exitCodeOf(e.message);
      log.error({ err: e, method, exitCode, to: msg.To, from: msg.From, value: msg.Value.toString() }, 'the chain node refused the message');
      throw new ChainMessageError(method, exitCode, e.message);
    }
  };
  const wait = async (method: string, cid: Cid) => {
    const r = await c.stateWaitMsg(cid, o.confidence ?? 1, { timeoutMs: 30 * 60_000 });
    if (r.Receipt.ExitCode !== 0) {
      const reason = (r.ReturnDec as { Error?: string } | null)?.Error ?? 'no reason given';
      log.error({ method, exitCode: r.Receipt.ExitCode, msg: cid['/'], reason }, 'message failed on chain');
      throw new ChainMessageError(method, r.Receipt.ExitCode, `${reason} (message ${cid['/']})`);
    }
    return r;
  };

  const seal = proofs.sealProofForSectorSize(o.sectorSize);
  const windowPoStProofType = proofs.windowPoStProofFor(seal);
  if (!p.owner || !p.worker) {
    p.owner ??= await c.walletNew('bls');
    p.worker ??= await c.walletNew('bls');
    save();
    say(`new owner key ${p.owner}, worker key ${p.worker} (in the node's wallet)`);
  }
  const deposit = BigInt(p.deposit ?? (await c.stateMinerCreationDeposit()));
  // Lotus's --deposit-margin-factor default: the deposit may grow before the message lands.
  const value = (deposit * 101n) / 100n;
  if (!p.funded) {
    const from = o.from ?? (await c.walletDefaultAddress());
    const want: [string, bigint][] = [
      [p.owner, value + o.ownerFunds],
      [p.worker, o.workerFunds],
    ];
    const sent: Cid[] = [];
    for (const [addr, amount] of want) {
      // As lotus-miner: a key with no actor yet gets one by a transfer (of 0 if nothing is asked).
      const exists = await c.stateLookupID(addr).then(
        () => true,
        () => false,
      );
      const have = exists ? await c.walletBalance(addr) : 0n;
      if (exists && have >= amount) continue;
      const topUp = amount > have ? amount - have : 0n;
      sent.push(await send('Send', { To: addr, From: from, Method: 0, Value: topUp }));
      say(`funding ${addr} with ${topUp} attoFIL from ${from}`);
    }
    for (const cid of sent) await wait('Send', cid);
    p.funded = true;
    save();
  }
  if (!p.createMsg) {
    const params = encodeCreateMiner({ owner: p.owner, worker: p.worker, windowPoStProofType, peer: Buffer.alloc(0), multiaddrs: [] });
    const cid = await send('CreateMiner', {
      To: idAddress(POWER_ACTOR_ID, p.owner[0] === 'f' ? 'mainnet' : 'testnet'),
      From: p.owner,
      Method: PowerMethod.CreateMiner,
      Value: value,
      Params: b64(params),
    });
    p.createMsg = cid['/'];
    p.deposit = deposit.toString();
    save();
    say(`CreateMiner message ${cid['/']} (value ${value} attoFIL; deposit asked ${deposit})`);
  }
  let r;
  try {
    r = await wait('CreateMiner', { '/': p.createMsg });
  } catch (e) {
    if (e instanceof ChainMessageError) {
      // The message failed for good: the next run sends a new one (with the same funded keys).
      delete p.createMsg;
      delete p.deposit;
      save();
    }
    throw e;
  }
  const ret = decodeCreateMinerReturn(fromB64(r.Receipt.Return), p.owner[0] === 'f' ? 'mainnet' : 'testnet');
  return { miner: ret.idAddress, owner: p.owner, worker: p.worker, deposit: value.toString(), createMsg: p.createMsg! };
}
