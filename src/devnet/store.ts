// The devnet's durable state: genesis creation, loading a directory back, and the snapshot
// written after each epoch. Kept apart from the logic that changes the state (exec.ts,
// mpool.ts, node.ts), which only calls snapshot() and appendDurable().
//
// Files in the directory:
//   genesis.json   options fixed at genesis (policy, miners, network, pinned randomness)
//   wallet.json    Lotus KeyInfo of every key the node holds (owner/worker BLS keys)
//   jwt-secret     HS256 secret of the API tokens; `token` holds an admin token
//   chain.ndjson   one line per epoch: tipset, beacon entry, receipts (append + fsync)
//   state.json     snapshot of actor state after `height` (temp + fsync + rename + fsync dir)
//   mpool.ndjson   messages pushed since the last snapshot (append + fsync)
import { existsSync, fstatSync, fsyncSync, ftruncateSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Auth } from '../auth/index.js';
import { writeAllSync, writeFileAtomic } from '../util/durable.js';
import * as proofs from '../proofs/index.js';
import { MAINNET_POLICY, checkPolicy } from '../chain/deadlines.js';
import { blockCid, blsKeyAddress, blsKeyFromKeyInfo, blsKeyInfo, newBlsKey, newSecret } from '../chain/crypto.js';
import { idAddress } from '../chain/address.js';
import type { SignedMessage } from '../chain/api-types.js';
import { logger } from '../log.js';
import { MarketActor } from './market.js';
import { type ActorLimits, MinerActor, type MinerInit } from './miner.js';
import { DevnetState, type EpochRecord, type Genesis, devnetFunds } from './state.js';

const log = logger('devnet');

interface Snapshot {
  height: number;
  miners: unknown[];
  /** The market actor (absent in chains from before it existed). */
  market?: unknown;
  nonces: Record<string, number>;
  mpool: SignedMessage[];
  weight: string;
  /** Account actors (absent in chains from before balances: the genesis keys are funded then). */
  accounts?: { id: number; key: string; balance: string }[];
  nextActorId?: number;
  /** MpoolPushMessage's MsgUuid → the message signed for it (absent in chains from before it). */
  msgUuids?: [string, SignedMessage][];
}

export function appendDurable(fd: number, line: string): void {
  const size = fstatSync(fd).size;
  try {
    writeAllSync(fd, Buffer.from(line + '\n'));
    fsyncSync(fd);
  } catch (e) {
    // A full disk may have taken part of the line: cut it so the next append starts a clean line.
    try {
      ftruncateSync(fd, size);
    } catch {
      // the reader drops a torn line after the snapshot's height
    }
    throw e;
  }
}

/** The devnet's files: genesis, loading and the snapshot (see the header). */
export abstract class DevnetStore extends DevnetState {
  // ------------------------------------------------------------------ genesis and loading

  protected createGenesis(): void {
    const o = this.opts;
    const policy = checkPolicy({ ...MAINNET_POLICY, ...o.policy });
    const limits: ActorLimits = { maxPreCommitRandomnessLookback: 2880 + 900, maxProveCommitDuration: 30 * 2880 + policy.preCommitChallengeDelay, maxPartitionsPerDeadline: 3000, ...o.limits };
    const network = o.network ?? 'testnet';
    const first = o.firstMinerId ?? 1000;
    const n = o.miners ?? 1;
    if (!Number.isInteger(n) || n < 0 || n > 100) throw new Error(`--miners must be 0..100, got ${n}`);
    const wallet: ReturnType<typeof blsKeyInfo>[] = [];
    const miners: Genesis['miners'] = [];
    for (let i = 0; i < n; i++) {
      const owner = newBlsKey();
      const worker = newBlsKey();
      wallet.push(blsKeyInfo(owner), blsKeyInfo(worker));
      miners.push({ id: first + i, owner: blsKeyAddress(owner, network), worker: blsKeyAddress(worker, network), ownerId: 100 + 2 * i, workerId: 101 + 2 * i });
    }
    const nullRoundChance = o.nullRoundChance ?? 0;
    if (!(nullRoundChance >= 0 && nullRoundChance <= 1)) throw new Error(`the null-round chance must be 0..1, got ${nullRoundChance}`);
    const delay = o.blockDelayMs ?? 4000;
    if (!(delay > 0)) throw new Error(`block delay must be > 0 ms, got ${delay}`);
    this.genesis = {
      version: 1,
      network,
      blockDelayMs: delay,
      genesisTimeMs: o.genesisTimeMs ?? Date.now(),
      policy,
      limits,
      expectedLeaders: o.expectedLeaders ?? 5,
      nullRoundChance,
      sealProof: o.sealProof ?? proofs.RegisteredSealProof.StackedDrg2KiBV1_1,
      seed: Buffer.from(newSecret()).toString('hex'),
      miners,
      pinnedSealRandomness: o.pinnedSealRandomness ?? [],
    };
    this.secret = newSecret();
    writeFileAtomic(join(this.dir, 'wallet.json'), JSON.stringify(wallet), 0o600);
    writeFileAtomic(join(this.dir, 'jwt-secret'), this.secret.toString('hex'), 0o600);
    writeFileAtomic(join(this.dir, 'token'), new Auth(this.secret).issue('admin'), 0o600);
    for (const ki of wallet) this.addKey(blsKeyFromKeyInfo(ki));
    for (const m of miners) {
      const actor = this.newMinerActor(m, 0);
      actor.funds.balance = devnetFunds.genesisMiner;
      this.miners.set(idAddress(m.id, network), actor);
    }
    this.genesisAccounts();
    // Genesis tipset (height 0): one block by the system actor.
    const beacon = this.beaconEntry(0, null);
    const header = this.systemBlock(0, null, [beacon], '0');
    this.chain = [{ tipset: { Cids: [blockCid(header)], Blocks: [header], Height: 0 }, beacon, receipts: [] }];
    writeFileAtomic(join(this.dir, 'chain.ndjson'), JSON.stringify(this.chain[0]) + '\n');
    writeFileAtomic(join(this.dir, 'mpool.ndjson'), '');
    this.snapshot();
    writeFileAtomic(join(this.dir, 'genesis.json'), JSON.stringify(this.genesis, null, 2));
    log.info({ dir: this.dir, miners: miners.map((m) => m.id) }, 'devnet genesis created');
  }

  private newMinerActor(m: { id: number; owner: string; worker: string }, epoch: number): MinerActor {
    const g = this.genesis;
    return MinerActor.create(this.minerInit(m), g.policy, g.limits, epoch);
  }

  protected minerInit(m: { id: number; owner: string; worker: string }): MinerInit {
    const g = this.genesis;
    const seal = g.sealProof as proofs.RegisteredSealProof;
    return {
      id: m.id,
      address: idAddress(m.id, g.network),
      owner: m.owner,
      worker: m.worker,
      sealProof: seal,
      windowPoStProof: proofs.windowPoStProofFor(seal),
      winningPoStProof: proofs.winningPoStProofFor(seal),
      sectorSize: proofs.sealProofSectorSize(seal),
      partitionSectors: proofs.windowPoStPartitionSectors(proofs.windowPoStProofFor(seal)),
    };
  }

  /** The genesis keys' accounts; new actors (accounts, miners) get ids after the genesis miners. */
  private genesisAccounts(): void {
    this.accounts.clear();
    for (const m of this.genesis.miners) {
      this.accounts.set(m.owner.slice(1), { id: m.ownerId, key: m.owner, balance: devnetFunds.genesisAccount });
      this.accounts.set(m.worker.slice(1), { id: m.workerId, key: m.worker, balance: devnetFunds.genesisAccount });
    }
    this.nextActorId = Math.max(1000, ...this.genesis.miners.map((m) => m.id + 1));
  }

  protected load(): void {
    const dir = this.dir;
    this.genesis = JSON.parse(readFileSync(join(dir, 'genesis.json'), 'utf8')) as Genesis;
    if (this.genesis.version !== 1) throw new Error(`${dir}/genesis.json: unsupported version ${this.genesis.version}`);
    this.secret = Buffer.from(readFileSync(join(dir, 'jwt-secret'), 'utf8').trim(), 'hex');
    for (const ki of JSON.parse(readFileSync(join(dir, 'wallet.json'), 'utf8'))) this.addKey(blsKeyFromKeyInfo(ki));
    const snap = JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')) as Snapshot;
    for (const mj of snap.miners) {
      const m = MinerActor.fromJSON(mj, this.genesis.policy, this.genesis.limits, devnetFunds.genesisMiner);
      this.miners.set(m.info.address, m);
    }
    if (snap.accounts) {
      for (const a of snap.accounts) this.accounts.set(a.key.slice(1), { id: a.id, key: a.key, balance: BigInt(a.balance) });
      this.nextActorId = snap.nextActorId ?? Math.max(1000, ...[...this.miners.values()].map((m) => m.info.id + 1));
    } else this.genesisAccounts();
    this.market = MarketActor.fromJSON(snap.market);
    this.nonces = snap.nonces;
    this.msgUuids = new Map(snap.msgUuids ?? []);
    this.weight = BigInt(snap.weight);
    // Chain records up to the snapshot; a record written after it (crash between the two
    // writes) is dropped: its epoch is produced again.
    const lines = readFileSync(join(dir, 'chain.ndjson'), 'utf8').split('\n');
    for (const line of lines) {
      if (this.chain.length > snap.height) break;
      if (!line.trim()) continue;
      const rec = JSON.parse(line) as EpochRecord;
      const height = rec.tipset?.Height ?? rec.beacon.Round;
      if (height !== this.chain.length) throw new Error(`${dir}/chain.ndjson: record for height ${height} where ${this.chain.length} was expected`);
      this.chain.push(rec);
    }
    if (this.chain.length !== snap.height + 1) throw new Error(`${dir}: state.json is at height ${snap.height} but chain.ndjson only reaches ${this.chain.length - 1}`);
    writeFileAtomic(join(dir, 'chain.ndjson'), this.chain.map((r) => JSON.stringify(r)).join('\n') + '\n');
    for (const r of this.chain) for (const l of r.receipts) this.lookups.set(l.Message['/'], l);
    for (const r of this.chain) (r.messages ?? []).forEach((m, i) => this.messages.set((r.receipts[i]?.Message ?? m.CID!)['/'], m));
    // Messages pushed after the snapshot, not yet executed.
    const seen = new Set<string>();
    this.mpool = [];
    for (const m of snap.mpool) seen.add(m.CID!['/']);
    const journal = existsSync(join(dir, 'mpool.ndjson')) ? readFileSync(join(dir, 'mpool.ndjson'), 'utf8').split('\n') : [];
    const extra: SignedMessage[] = [];
    for (const line of journal) {
      if (!line.trim()) continue;
      try {
        const { MsgUuid, ...m } = JSON.parse(line) as SignedMessage & { MsgUuid?: string };
        if (MsgUuid) this.msgUuids.set(MsgUuid, m);
        if (!seen.has(m.CID!['/']) && !this.lookups.has(m.CID!['/'])) {
          extra.push(m);
          seen.add(m.CID!['/']);
        }
      } catch {
        // a torn last line: that push never returned to its caller
      }
    }
    this.mpool = [...snap.mpool, ...extra];
    for (const m of this.mpool) this.messages.set(m.CID!['/'], m.Message);
    for (const m of extra) {
      const k = this.resolveKeyAddress(m.Message.From).slice(1);
      this.nonces[k] = Math.max(this.nonces[k] ?? 0, m.Message.Nonce + 1);
    }
    log.info({ dir, height: this.head().Height, miners: [...this.miners.keys()], mpool: this.mpool.length }, 'devnet state loaded');
  }

  protected snapshot(): void {
    const snap: Snapshot = {
      height: this.chain.length - 1,
      miners: [...this.miners.values()].map((m) => m.toJSON()),
      market: this.market.toJSON(),
      nonces: this.nonces,
      mpool: this.mpool,
      weight: this.weight.toString(),
      accounts: [...this.accounts.values()].map((a) => ({ id: a.id, key: a.key, balance: a.balance.toString() })),
      nextActorId: this.nextActorId,
      msgUuids: [...this.msgUuids],
    };
    writeFileAtomic(join(this.dir, 'state.json'), JSON.stringify(snap));
  }
}
