// Message execution: what the devnet's actors do with a message when a tipset runs it —
// method 0 transfers (and new accounts), the power actor's CreateMiner, the market actor's
// AddBalance and PublishStorageDeals, and the miner actor's methods (pre-commit,
// ProveCommitSectors3, SubmitWindowedPoSt, fault and recovery declarations), each with the
// actors' exit codes. Kept apart from the message pool (mpool.ts), which checks and queues
// messages, and from the miner and market actors' own state (miner.ts, market.ts).
import { blake2b } from '@noble/hashes/blake2.js';
import * as proofs from '../proofs/index.js';
import { MARKET_ACTOR_ID, MarketMethod, decodePublishStorageDeals, encodePublishReturn } from '../chain/market.js';
import {
  ParamsError,
  decodeCreateMiner,
  decodeDealIdPayload,
  decodeDeclarations,
  decodePreCommitBatch2,
  decodeProveCommitSectors3,
  decodeWindowPoSt,
  encodeCreateMinerReturn,
} from '../chain/params.js';
import { addressCbor, addressFromBytes, idAddress, parseAddress } from '../chain/address.js';
import type { SignedMessage } from '../chain/api-types.js';
import { DomainSeparationTag, ExitCode, MinerMethod, POWER_ACTOR_ID, PowerMethod } from '../chain/builtin-actors.js';
import { cborDecode, cborEncode } from '../chain/cbor.js';
import { type Cid, cidBytes } from '../chain/cid.js';
import { fromB64 } from '../chain/encoding.js';
import { logger } from '../log.js';
import { providerCollateralBounds, sectorCommD } from './market.js';
import { ActorError, MinerActor, type PreCommitRecord, type ProofVerifier } from './miner.js';
import { devnetFunds } from './state.js';
import { DevnetStore } from './store.js';

const log = logger('devnet');

type ExecResult = { exitCode: ExitCode; error?: string; ret?: Buffer; retDec?: unknown };

/** Methods the miner actor no longer has (builtin-actors v13+): the actors answer exit code 22. */
const REMOVED_MINER_METHODS = new Set<number>([MinerMethod.PreCommitSector, MinerMethod.ProveCommitSector, MinerMethod.ProveCommitAggregate]);

/** Message execution (see the header); the epoch loop (node.ts) calls execute(). */
export abstract class DevnetExec extends DevnetStore {
  /**
   * Applies a message: the value leaves the sender first and comes back if the call fails (as
   * the FVM reverts a failed call's transfer); gas is not charged on the devnet.
   */
  protected async execute(sm: SignedMessage, epoch: number): Promise<ExecResult> {
    const m = sm.Message;
    const value = BigInt(m.Value ?? '0');
    const from = this.account(m.From);
    if (!from) return { exitCode: ExitCode.SysErrSenderInvalid, error: `sender ${m.From}: actor not found` };
    if (from.balance < value) return { exitCode: ExitCode.SysErrInsufficientFunds, error: `sender ${m.From} holds ${from.balance}, the message sends ${value}` };
    from.balance -= value;
    const r = await this.call(sm, epoch, value);
    if (r.exitCode !== ExitCode.Ok) from.balance += value;
    return r;
  }

  private async call(sm: SignedMessage, epoch: number, value: bigint): Promise<ExecResult> {
    const m = sm.Message;
    let to: ReturnType<typeof parseAddress>;
    try {
      to = parseAddress(m.To);
    } catch (e) {
      return { exitCode: ExitCode.SysErrInvalidReceiver, error: (e as Error).message };
    }
    if (m.Method === 0) return this.send(to, m.To, value);
    if (to.id === BigInt(MARKET_ACTOR_ID)) return this.executeMarket(sm, epoch, value);
    if (to.id === BigInt(POWER_ACTOR_ID)) return this.executePower(sm, epoch, value);
    const miner = to.id !== undefined ? this.miners.get(idAddress(to.id, this.network)) : undefined;
    if (!miner) return { exitCode: ExitCode.SysErrInvalidReceiver, error: `actor ${m.To} not found` };
    if (REMOVED_MINER_METHODS.has(m.Method)) return { exitCode: ExitCode.ErrUnhandledMessage, error: `invalid method: ${m.Method}` };
    if (!miner.isController(this.resolveKeyAddress(m.From))) {
      return { exitCode: ExitCode.ErrForbidden, error: `caller ${m.From} is not the worker or owner of ${m.To}` };
    }
    const params = fromB64(m.Params);
    try {
      const ret: ExecResult = { exitCode: ExitCode.Ok };
      switch (m.Method) {
        case MinerMethod.PreCommitSectorBatch2: {
          const list = decodePreCommitBatch2(params);
          const taken = miner.preCommittedDeals();
          for (const p of list) {
            await this.market.checkPreCommit(epoch, miner.info.id, miner.info.sealProof, p, taken);
            for (const d of p.dealIds) taken.add(d);
          }
          miner.preCommit(epoch, list, isSealedCid, { value, deposit: devnetFunds.preCommitDeposit(miner.info.sectorSize) });
          return ret;
        }
        case MinerMethod.ProveCommitSectors3:
          return await this.proveCommitSectors3(miner, params, epoch, value);
        case MinerMethod.SubmitWindowedPoSt: {
          const p = decodeWindowPoSt(params);
          const entropy = addressCbor(miner.info.address);
          const counting: ProofVerifier = {
            verifySeal: this.verifier.verifySeal,
            verifyWindowPoSt: (...a) => {
              this.stats.proofVerifications++;
              return this.verifier.verifyWindowPoSt(...a);
            },
          };
          await miner.submitWindowPoSt(
            epoch,
            p,
            (e) => this.randomnessFromTickets(DomainSeparationTag.PoStChainCommit, e, Buffer.alloc(0)),
            (e) => this.randomnessFromBeacon(DomainSeparationTag.WindowedPoStChallengeSeed, e, entropy),
            counting,
          );
          break;
        }
        case MinerMethod.DeclareFaults:
          miner.declareFaults(epoch, decodeDeclarations(params, 'Faults'));
          break;
        case MinerMethod.DeclareFaultsRecovered:
          miner.declareRecoveries(epoch, decodeDeclarations(params, 'Recoveries'));
          break;
        default:
          return { exitCode: ExitCode.ErrUnhandledMessage, error: `method ${m.Method} is not supported by the devnet miner actor` };
      }
      miner.funds.balance += value;
      return ret;
    } catch (e) {
      return this.failure(e, m.Method);
    }
  }

  private failure(e: unknown, method: number): ExecResult {
    if (e instanceof ActorError) return { exitCode: e.exitCode, error: e.message };
    if (e instanceof ParamsError) return { exitCode: ExitCode.ErrSerialization, error: e.message };
    if (e instanceof proofs.ProofsError || e instanceof TypeError) return { exitCode: ExitCode.ErrIllegalArgument, error: (e as Error).message };
    log.error({ err: e, method }, 'message execution failed unexpectedly');
    return { exitCode: ExitCode.ErrIllegalState, error: (e as Error).message };
  }

  /** Method 0: a plain transfer; a key address seen for the first time gets an account (and an id). */
  private send(to: ReturnType<typeof parseAddress>, addr: string, value: bigint): ExecResult {
    if (to.id !== undefined) {
      const miner = this.miners.get(idAddress(to.id, this.network));
      if (miner) {
        miner.funds.balance += value;
        return { exitCode: ExitCode.Ok };
      }
      const acct = this.account(addr);
      if (!acct) return { exitCode: ExitCode.SysErrInvalidReceiver, error: `actor ${addr} not found` };
      acct.balance += value;
      return { exitCode: ExitCode.Ok };
    }
    if (to.protocol !== 1 && to.protocol !== 3) return { exitCode: ExitCode.SysErrInvalidReceiver, error: `the devnet creates accounts for key addresses only, not ${addr}` };
    const acct = this.accounts.get(addr.slice(1));
    if (acct) acct.balance += value;
    else this.accounts.set(addr.slice(1), { id: this.nextActorId++, key: addr, balance: value });
    return { exitCode: ExitCode.Ok };
  }

  /** The storage power actor (f04): CreateMiner with the creation deposit as value (FIP-0077). */
  private executePower(sm: SignedMessage, epoch: number, value: bigint): ExecResult {
    const m = sm.Message;
    if (m.Method !== PowerMethod.CreateMiner) return { exitCode: ExitCode.ErrUnhandledMessage, error: `method ${m.Method} is not supported by the devnet power actor (only CreateMiner, 2)` };
    try {
      const p = decodeCreateMiner(fromB64(m.Params), this.network);
      const resolve = (addr: string, what: string) => {
        const acct = this.account(addr);
        if (!acct) throw new ActorError(ExitCode.ErrIllegalArgument, `unable to resolve ${what} address ${addr}: no such account`);
        return acct;
      };
      const owner = resolve(p.owner, 'owner');
      const worker = resolve(p.worker, 'worker');
      if (parseAddress(worker.key).protocol !== 3) throw new ActorError(ExitCode.ErrIllegalArgument, `worker address must be a BLS account, got ${worker.key}`);
      const seal = this.genesis.sealProof as proofs.RegisteredSealProof;
      if (p.windowPoStProofType !== proofs.windowPoStProofFor(seal))
        throw new ActorError(ExitCode.ErrIllegalArgument, `unsupported Window PoSt proof type ${p.windowPoStProofType} (the devnet's sectors need ${proofs.windowPoStProofFor(seal)})`);
      const deposit = devnetFunds.creationDeposit();
      if (value < deposit) throw new ActorError(ExitCode.ErrInsufficientFunds, `not enough balance to lock for create miner deposit: sent balance ${value} < deposit ${deposit}`);
      const id = this.nextActorId++;
      const actor = MinerActor.create(this.minerInit({ id, owner: owner.key, worker: worker.key }), this.genesis.policy, this.genesis.limits, epoch);
      actor.funds = { balance: value, locked: deposit, preCommitDeposits: 0n, initialPledge: 0n };
      this.miners.set(actor.info.address, actor);
      // The robust (f2) address: a hash of the creating message, as the init actor derives it.
      const robust = addressFromBytes(Buffer.concat([Buffer.from([2]), Buffer.from(blake2b(cidBytes(sm.CID!), { dkLen: 20 }))]), this.network);
      log.info({ miner: actor.info.address, owner: owner.key, worker: worker.key, epoch }, 'miner created');
      return { exitCode: ExitCode.Ok, ret: encodeCreateMinerReturn({ idAddress: actor.info.address, robustAddress: robust }), retDec: { IDAddress: actor.info.address, RobustAddress: robust } };
    } catch (e) {
      return this.failure(e, m.Method);
    }
  }

  /**
   * ProveCommitSectors3 (method 34), as builtin-actors runs it: per-sector proofs (the devnet
   * verifies no aggregates), each sector's pieces must give its pre-committed CommD, each
   * notification goes to the market with a deal id; a sector that fails is skipped unless
   * activation success is required (then the message fails); the proven sectors' pledge is
   * locked out of the available balance, the message value and their released deposits.
   */
  private async proveCommitSectors3(miner: MinerActor, params: Buffer, epoch: number, value: bigint): Promise<ExecResult> {
    const p = decodeProveCommitSectors3(params, this.network);
    const illegal = (why: string) => new ActorError(ExitCode.ErrIllegalArgument, why);
    if (p.sectorActivations.length === 0) throw illegal('no sectors to prove');
    if ((p.sectorProofs.length === 0) === (p.aggregateProof.length === 0)) throw illegal('exactly one of sector proofs or aggregate proof must be non-empty');
    if (p.sectorProofs.length === 0) throw illegal('aggregate proofs are not verified by the devnet: send one proof per sector');
    if (p.aggregateProofType !== null) throw illegal('aggregate proof type must be null with batched proofs');
    if (p.sectorProofs.length !== p.sectorActivations.length) throw illegal(`mismatched lengths: ${p.sectorActivations.length} sector activations, ${p.sectorProofs.length} proofs`);
    const seen = new Set<number>();
    const pcs = p.sectorActivations.map((a) => {
      if (seen.has(a.sectorNumber)) throw illegal(`duplicate sector ${a.sectorNumber}`);
      seen.add(a.sectorNumber);
      const pc = miner.precommits.get(a.sectorNumber);
      if (!pc) throw new ActorError(ExitCode.ErrNotFound, `no pre-committed sector ${a.sectorNumber}`);
      return pc;
    });
    const proven: { pc: PreCommitRecord; deals: number[] }[] = [];
    const fails: { Idx: number; Code: number }[] = [];
    const reasons: string[] = [];
    const dealsInBatch = new Set<number>();
    for (let i = 0; i < pcs.length; i++) {
      const pc = pcs[i];
      const a = p.sectorActivations[i];
      const n = a.sectorNumber;
      try {
        miner.checkProveCommit(epoch, n);
        const { ticket, seed } = this.sealRandomness(miner, pc);
        this.stats.proofVerifications++;
        const v = await this.verifier.verifySeal(miner, pc, p.sectorProofs[i], ticket, seed);
        if (!v.valid) throw illegal(`invalid seal proof for sector ${n}: ${v.reason}`);
        for (const piece of a.pieces) if (piece.verifiedAllocationKey) throw illegal(`sector ${n}: verified (FIL+) allocations are not supported by the devnet`);
        let commPs: proofs.PieceInfo[];
        try {
          commPs = a.pieces.map((x) => ({ size: x.size, commP: proofs.cidToCommP(x.cid['/']) }));
        } catch (e) {
          throw illegal(`sector ${n}: a piece CID is not a piece commitment: ${(e as Error).message}`);
        }
        const commD = await sectorCommD(miner.info.sealProof, commPs, `sector ${n}`);
        const declared = pc.info.unsealedCid?.['/'] ?? (await sectorCommD(miner.info.sealProof, [], `sector ${n}`));
        if (commD !== declared) throw illegal(`sector ${n}: the pieces' CommD ${commD} is not the pre-committed UnsealedCid ${declared}`);
        const deals: number[] = [];
        for (const piece of a.pieces) {
          for (const note of piece.notify) {
            try {
              const target = parseAddress(note.address);
              if (target.id !== BigInt(MARKET_ACTOR_ID)) throw illegal(`the devnet delivers activation notifications only to the market actor (f05), not ${note.address}`);
              let dealId: number;
              try {
                dealId = decodeDealIdPayload(note.payload);
              } catch (e) {
                throw new ActorError(ExitCode.ErrSerialization, `notification payload is not a deal id: ${(e as Error).message}`);
              }
              this.market.checkNotification(epoch, miner.info.id, { dealId, pieceCid: piece.cid['/'], pieceSize: piece.size, sectorExpiration: pc.info.expiration }, dealsInBatch);
              deals.push(dealId);
            } catch (e) {
              if (p.requireNotificationSuccess) throw e;
              log.info({ miner: miner.info.address, sector: n, err: e }, 'activation notification rejected');
            }
          }
        }
        for (const d of deals) dealsInBatch.add(d);
        proven.push({ pc, deals });
      } catch (e) {
        if (p.requireActivationSuccess) throw e;
        fails.push({ Idx: i, Code: e instanceof ActorError ? e.exitCode : ExitCode.ErrIllegalArgument });
        reasons.push(`sector ${n}: ${(e as Error).message}`);
      }
    }
    if (proven.length === 0) throw illegal(`no valid proofs specified: ${reasons.join('; ')}`);
    const pledge = devnetFunds.initialPledge(miner.info.sectorSize);
    const released = proven.reduce((sum, x) => sum + BigInt(x.pc.deposit ?? '0'), 0n);
    miner.lockInitialPledge(value, released, pledge * BigInt(proven.length));
    miner.activate(
      epoch,
      proven.map((x) => x.pc),
      () => pledge,
    );
    for (const x of proven) this.market.activate(epoch, x.pc.info.sectorNumber, x.deals);
    const batch = { SuccessCount: proven.length, FailCodes: fails };
    return { exitCode: ExitCode.Ok, ret: cborEncode([proven.length, fails.map((f) => [f.Idx, f.Code])]), retDec: batch };
  }

  /**
   * AddBalance's checks, in the actor's order: a positive value, then the address in the
   * params resolved to an actor (account or miner; builtin-actors' escrow_address). Returns
   * the actor ID whose escrow the value goes to; throws an ActorError.
   */
  protected addBalanceTarget(value: bigint, params: Buffer): number {
    if (value <= 0n) throw new ActorError(ExitCode.ErrIllegalArgument, `balance to add must be greater than zero was: ${value}`);
    let addr: string;
    try {
      const b = cborDecode(params);
      if (!(b instanceof Uint8Array)) throw new TypeError('expected the address bytes');
      addr = addressFromBytes(b, this.network);
    } catch (e) {
      throw new ActorError(ExitCode.ErrSerialization, `failed to decode AddBalance params: ${(e as Error).message}`);
    }
    const id = this.actorId(addr);
    if (id === undefined) throw new ActorError(ExitCode.ErrIllegalArgument, `failed to resolve address ${addr}`);
    return id;
  }

  /** A message to the market actor (t05): AddBalance, PublishStorageDeals. */
  private executeMarket(sm: SignedMessage, epoch: number, value: bigint): ExecResult {
    const m = sm.Message;
    if (m.Method !== MarketMethod.PublishStorageDeals && m.Method !== MarketMethod.AddBalance) {
      return { exitCode: ExitCode.ErrUnhandledMessage, error: `method ${m.Method} is not supported by the devnet market actor (only AddBalance, 2, and PublishStorageDeals, 4)` };
    }
    try {
      if (m.Method === MarketMethod.AddBalance) {
        // The value stays with the market actor (the sender's balance was debited by execute()).
        this.market.addBalance(this.addBalanceTarget(value, fromB64(m.Params)), value);
        return { exitCode: ExitCode.Ok };
      }
      const deals = decodePublishStorageDeals(fromB64(m.Params), this.network);
      const caller = this.resolveKeyAddress(m.From);
      const r = this.market.publish(epoch, caller, deals, {
        provider: (addr) => {
          try {
            const a = parseAddress(addr);
            const miner = a.id !== undefined ? this.miners.get(idAddress(a.id, this.network)) : undefined;
            return miner && { id: miner.info.id, sectorSize: miner.info.sectorSize, isController: (x: string) => miner.isController(x) };
          } catch {
            return undefined;
          }
        },
        clientId: (addr) => {
          const id = this.actorId(addr);
          return id !== undefined && this.account(idAddress(id, this.network)) ? id : undefined;
        },
        networkRawPower: this.totalPower(),
      });
      if (r.rejected.length) log.info({ cid: sm.CID?.['/'], rejected: r.rejected }, 'PublishStorageDeals dropped invalid deals');
      return { exitCode: ExitCode.Ok, ret: encodePublishReturn({ IDs: r.ids, ValidDeals: r.valid }), retDec: { IDs: r.ids, ValidDeals: r.valid } };
    } catch (e) {
      if (e instanceof ActorError) return { exitCode: e.exitCode, error: e.message };
      if (e instanceof ParamsError) return { exitCode: ExitCode.ErrSerialization, error: e.message };
      return { exitCode: ExitCode.ErrIllegalArgument, error: (e as Error).message };
    }
  }

  /** StateDealProviderCollateralBounds (builtin-actors' bounds over the devnet's figures; see market.ts). */
  providerCollateralBounds(pieceSize: number): { min: bigint; max: bigint } {
    return providerCollateralBounds(pieceSize, this.totalPower());
  }

  /** Ticket and seed of a pre-committed sector: the chain's, or the pinned fixture values. */
  sealRandomness(miner: MinerActor, pc: PreCommitRecord): { ticket: Buffer; seed: Buffer } {
    const pin = this.genesis.pinnedSealRandomness.find(
      (p) => p.sector === pc.info.sectorNumber && (p.miner === miner.info.id || (typeof p.miner === 'string' && p.miner.slice(1) === miner.info.address.slice(1))),
    );
    if (pin) return { ticket: Buffer.from(pin.ticket, 'hex'), seed: Buffer.from(pin.seed, 'hex') };
    const entropy = addressCbor(miner.info.address);
    return {
      ticket: this.randomnessFromTickets(DomainSeparationTag.SealRandomness, pc.info.sealRandEpoch, entropy),
      seed: this.randomnessFromBeacon(DomainSeparationTag.InteractiveSealChallengeSeed, miner.interactiveEpoch(pc), entropy),
    };
  }
}

function isSealedCid(c: Cid): boolean {
  try {
    proofs.cidToCommR(c['/']);
    return true;
  } catch {
    return false;
  }
}
