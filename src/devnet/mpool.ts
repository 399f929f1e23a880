// The message pool: MpoolPushMessage (nonce, gas and signature filled in) and MpoolPush (a
// client's signed message, checked as Lotus's mpool checks it), gas estimation, nonces, the
// pending messages, and the lookups of pushed and executed messages (ChainGetMessage,
// StateListMessages, StateWaitMsg). Kept apart from execution (exec.ts): here messages are
// checked and queued; the next tipset runs them.
import { ftruncateSync } from 'node:fs';
import { blsSign, messageCbor, messageCid } from '../chain/crypto.js';
import { MARKET_ACTOR_ID, MarketMethod } from '../chain/market.js';
import { formatFil } from '../chain/fees.js';
import { verifySignature } from '../deals/keys.js';
import { ParamsError, decodeWindowPoSt } from '../chain/params.js';
import { parseAddress } from '../chain/address.js';
import type { Message, MessageSendSpec, MsgLookup, SignedMessage, TipSet } from '../chain/api-types.js';
import { MinerMethod } from '../chain/builtin-actors.js';
import { cborEncode } from '../chain/cbor.js';
import { type Cid, cborCid, cidBytes } from '../chain/cid.js';
import { b64, bigFromJson, fromB64 } from '../chain/encoding.js';
import { ActorError, type MinerActor } from './miner.js';
import { ApiError } from './state.js';
import { appendDurable } from './store.js';
import { DevnetExec } from './exec.js';

/**
 * The gas the devnet fills in (MpoolPushMessage, GasEstimateMessageGas): a flat limit and fee
 * cap/premium, capped like Lotus's CapGasFee by the send spec's MaxFee, or by Lotus's default
 * MaxFee (0.07 FIL, node config DefaultMaxFee) when it names none. Gas is not charged.
 */
const GAS_LIMIT_DEFAULT = 50_000_000;
const GAS_FEE_CAP_DEFAULT = 100_000n;
const GAS_PREMIUM_DEFAULT = 100_000n;
const DEFAULT_MAX_FEE = 7n * 10n ** 16n;
/** go's uuid.Nil: Lotus treats a MsgUuid of all zeros as none. */
const NIL_UUID = '00000000-0000-0000-0000-000000000000';
/** Lotus's block gas limit: no message may ask for more. */
const BLOCK_GAS_LIMIT = 10_000_000_000;

/** Lotus's messagepool.CapGasFee: GasFeeCap × GasLimit ≤ MaxFee (exactly MaxFee with MaximizeFeeCap), premium ≤ fee cap. */
function capGasFee(m: Message, spec: MessageSendSpec | null | undefined): void {
  let maxFee = spec?.MaxFee !== undefined && spec.MaxFee !== null ? bigFromJson(spec.MaxFee, 'MaxFee') : 0n;
  if (maxFee === 0n) maxFee = DEFAULT_MAX_FEE;
  const limit = BigInt(m.GasLimit);
  if (spec?.MaximizeFeeCap || BigInt(m.GasFeeCap) * limit > maxFee) m.GasFeeCap = (maxFee / limit).toString();
  if (BigInt(m.GasPremium) > BigInt(m.GasFeeCap)) m.GasPremium = m.GasFeeCap;
}

/**
 * The CID a signed message is known by (Lotus's types.SignedMessage.Cid): a BLS-signed
 * message's is the message's own (its signature goes into the block's aggregate), a
 * secp256k1-signed one's is that of the CBOR tuple [message, signature bytes (type ‖ data)].
 */
export function signedMessageCid(m: Message, sig: { Type: number; Data: string }): Cid {
  if (sig.Type === 2) return messageCid(m);
  const sigBytes = Buffer.concat([Buffer.from([sig.Type]), fromB64(sig.Data, 'Signature')]);
  return cborCid(Buffer.concat([Buffer.from([0x82]), messageCbor(m), cborEncode(sigBytes)]));
}

/** The message pool and message lookups (see the header). */
export abstract class DevnetMpool extends DevnetExec {
  // ------------------------------------------------------------------ messages

  /** MpoolPushMessage: fills nonce and gas (capped by `spec`), signs with the sender's key, queues the message. */
  pushMessage(msg: Message, spec: MessageSendSpec | null = null): SignedMessage {
    // As Lotus: a push whose MsgUuid was already signed for answers with that message, sends
    // nothing (the caller lost the first answer); the nil uuid is no key.
    const uuid = spec?.MsgUuid && spec.MsgUuid !== NIL_UUID ? spec.MsgUuid : undefined;
    const already = uuid ? this.msgUuids.get(uuid) : undefined;
    if (already) return already;
    let from;
    try {
      from = parseAddress(msg.From);
      parseAddress(msg.To);
      bigFromJson(msg.Value ?? '0', 'Value');
    } catch (e) {
      throw new ApiError(`invalid message: ${(e as Error).message}`);
    }
    if (!Number.isSafeInteger(msg.Method) || msg.Method < 0) throw new ApiError(`invalid message: Method must be a non-negative integer`);
    const key = this.keyFor(msg.From);
    if (!key || (from.protocol !== 3 && from.protocol !== 0)) throw new ApiError(`key not found: the wallet has no key for ${msg.From}`);
    const fromKey = this.resolveKeyAddress(msg.From).slice(1);
    // As Lotus's mpool: the sender must exist and hold the value of this and its pending messages.
    const acct = this.accounts.get(fromKey);
    if (!acct) throw new ApiError(`mpool push: sender ${msg.From}: actor not found`);
    const pending = this.mpool.filter((x) => this.resolveKeyAddress(x.Message.From).slice(1) === fromKey).reduce((a, x) => a + BigInt(x.Message.Value ?? '0'), 0n);
    const value = BigInt(msg.Value ?? '0');
    if (value < 0n) throw new ApiError('invalid message: negative Value');
    if (acct.balance < pending + value) throw new ApiError(`mpool push: not enough funds including pending messages (required: ${pending + value}, balance: ${acct.balance})`);
    const m: Message = {
      Version: 0,
      To: msg.To,
      From: msg.From,
      Nonce: this.nonces[fromKey] ?? 0,
      Value: msg.Value ?? '0',
      GasLimit: msg.GasLimit,
      GasFeeCap: msg.GasFeeCap,
      GasPremium: msg.GasPremium,
      Method: msg.Method,
      Params: msg.Params ?? null,
    };
    if (m.Params) fromB64(m.Params, 'Params');
    this.fillGas(m, spec);
    this.estimateGas(m);
    const cid = messageCid(m);
    m.CID = cid;
    const signed: SignedMessage = { Message: m, Signature: { Type: 2, Data: b64(blsSign(key, cidBytes(cid))) }, CID: cid };
    this.nonces[fromKey] = m.Nonce + 1;
    appendDurable(this.mpoolFd, JSON.stringify(uuid ? { ...signed, MsgUuid: uuid } : signed));
    if (uuid) this.msgUuids.set(uuid, signed);
    this.mpool.push(signed);
    this.messages.set(cid['/'], m);
    return signed;
  }

  /**
   * What Lotus's gas estimation refuses (MpoolPushMessage estimates gas by executing the
   * message on the head's state at the head's epoch): a SubmitWindowedPoSt whose deadline is
   * not open at the head, or whose commitment epoch is not behind it. Lotus's words.
   */
  private estimateGas(m: Message): void {
    const failed = (to: string, e: ActorError) =>
      new ApiError(
        `GasEstimateMessageGas error: estimating gas used: message execution failed (exit=[${e.exitCode}], revert reason=[message failed with backtrace:\n00: ${to} (method ${m.Method}) -- ${e.message} (${e.exitCode})])`,
      );
    let to;
    try {
      to = parseAddress(m.To);
    } catch {
      return; // execution reports it
    }
    if (to.id === BigInt(MARKET_ACTOR_ID) && m.Method === MarketMethod.AddBalance) {
      try {
        this.addBalanceTarget(BigInt(m.Value ?? '0'), fromB64(m.Params));
      } catch (e) {
        if (e instanceof ActorError) throw failed(`f0${MARKET_ACTOR_ID}`, e);
      }
      return;
    }
    if (m.Method !== MinerMethod.SubmitWindowedPoSt || !m.Params) return;
    let miner: MinerActor;
    try {
      miner = this.miner(m.To);
    } catch {
      return; // not a miner: execution reports it
    }
    const epoch = this.head().Height;
    try {
      miner.checkWindowPoStTiming(epoch, decodeWindowPoSt(fromB64(m.Params)));
    } catch (e) {
      if (e instanceof ActorError) throw failed(`f0${miner.info.id}`, e);
      if (e instanceof ParamsError) return; // execution reports it
      throw e;
    }
  }

  /** The gas MpoolPushMessage and GasEstimateMessageGas fill in: unset (zero) fields get the devnet's flat figures, then Lotus's cap. */
  private fillGas(m: Message, spec: MessageSendSpec | null | undefined): void {
    try {
      if (!(m.GasLimit > 0)) m.GasLimit = GAS_LIMIT_DEFAULT;
      if (!m.GasPremium || bigFromJson(m.GasPremium, 'GasPremium') === 0n) m.GasPremium = GAS_PREMIUM_DEFAULT.toString();
      if (!m.GasFeeCap || bigFromJson(m.GasFeeCap, 'GasFeeCap') === 0n) m.GasFeeCap = GAS_FEE_CAP_DEFAULT.toString();
      capGasFee(m, spec);
    } catch (e) {
      throw new ApiError(`invalid message: ${(e as Error).message}`);
    }
  }

  /**
   * A message as a caller sent it, its fields checked and nothing else (Version 0, addresses,
   * amounts, method, params, nonce); `gas` also wants a gas limit and fee cap ≥ premium, as
   * Lotus's ValidForBlockInclusion does.
   */
  private wellFormed(msg: Message, gas: boolean): Message {
    const bad = (why: string) => new ApiError(`invalid message: ${why}`);
    if (!msg || typeof msg !== 'object') throw bad('expected a Message');
    if ((msg.Version ?? 0) !== 0) throw bad(`unsupported message version ${msg.Version}`);
    const m: Message = {
      Version: 0,
      To: msg.To,
      From: msg.From,
      Nonce: msg.Nonce ?? 0,
      Value: msg.Value ?? '0',
      GasLimit: msg.GasLimit ?? 0,
      GasFeeCap: msg.GasFeeCap ?? '0',
      GasPremium: msg.GasPremium ?? '0',
      Method: msg.Method,
      Params: msg.Params ?? null,
    };
    try {
      parseAddress(m.To);
      parseAddress(m.From);
      if (!Number.isSafeInteger(m.Nonce) || m.Nonce < 0) throw new Error('Nonce must be a non-negative integer');
      if (!Number.isSafeInteger(m.Method) || m.Method < 0) throw new Error('Method must be a non-negative integer');
      if (!Number.isSafeInteger(m.GasLimit) || m.GasLimit < 0) throw new Error('GasLimit must be a non-negative integer');
      const value = bigFromJson(m.Value, 'Value');
      const feeCap = bigFromJson(m.GasFeeCap, 'GasFeeCap');
      const premium = bigFromJson(m.GasPremium, 'GasPremium');
      if (value < 0n) throw new Error("'Value' field cannot be negative");
      if (feeCap < 0n || premium < 0n) throw new Error('gas fee cap and premium cannot be negative');
      if (m.Params) fromB64(m.Params, 'Params');
      if (gas) {
        if (m.GasLimit === 0) throw new Error("'GasLimit' field cannot be zero");
        if (m.GasLimit > BLOCK_GAS_LIMIT) throw new Error("'GasLimit' field cannot be greater than a block's gas limit");
        if (premium > feeCap) throw new Error("'GasFeeCap' less than 'GasPremium'");
      }
    } catch (e) {
      throw bad((e as Error).message);
    }
    return m;
  }

  /**
   * GasEstimateMessageGas: the message with GasLimit, GasFeeCap and GasPremium filled as
   * MpoolPushMessage fills them (fields already set are kept, then capped by `spec`), after
   * the same dry runs MpoolPushMessage makes (a message execution would refuse fails here
   * with Lotus's words).
   */
  estimateMessageGas(msg: Message, spec: MessageSendSpec | null = null): Message {
    const m = this.wellFormed(msg, false);
    if (!this.account(m.From)) throw new ApiError(`GasEstimateMessageGas error: estimating gas used: getting key address: resolution lookup failed (${m.From}): actor not found`);
    this.fillGas(m, spec);
    this.estimateGas(m);
    m.CID = messageCid(m);
    return m;
  }

  /**
   * MpoolGetNonce: the sender's next nonce, its pending messages counted. An address with no
   * actor on chain is an error, as Lotus's mpool reads the nonce from the actor.
   */
  nextNonce(addr: string): number {
    const acct = this.account(addr);
    if (!acct) throw new ApiError(`resolution lookup failed (${addr}): actor not found`);
    return this.nonces[acct.key.slice(1)] ?? 0;
  }

  /**
   * MpoolPush: a message signed with a key the devnet does not hold (a client's). Checked as
   * Lotus's mpool checks it: well formed, signed by its From (secp256k1 or BLS, over the
   * message CID's bytes), sender on chain, nonce not below its state nonce, the gas (fee cap ×
   * limit) covered and — stricter than Lotus, as MpoolPushMessage here — the value too, with
   * the sender's pending messages. The devnet runs each sender's messages in nonce order: a
   * nonce gap or a replacement of a pending message is refused. Returns the CID the message is
   * known by (signedMessageCid), which StateWaitMsg, StateSearchMsg and ChainGetMessage take.
   */
  pushSignedMessage(sm: SignedMessage): Cid {
    if (!sm || typeof sm !== 'object' || !sm.Message || !sm.Signature) throw new ApiError('invalid signed message: expected {Message, Signature}');
    const m = this.wellFormed(sm.Message, true);
    const why = verifySignature(m.From, cidBytes(messageCid(m)), sm.Signature);
    if (why) throw new ApiError(`failed to validate signature: ${why}`);
    const acct = this.account(m.From);
    if (!acct) throw new ApiError(`failed to look up actor state nonce: resolution lookup failed (${m.From}): actor not found`);
    const k = acct.key.slice(1);
    const pending = this.mpool.filter((x) => this.resolveKeyAddress(x.Message.From).slice(1) === k);
    const next = this.nonces[k] ?? 0;
    const stateNonce = pending.length > 0 ? Math.min(...pending.map((x) => x.Message.Nonce)) : next;
    if (m.Nonce < stateNonce) throw new ApiError(`minimum expected nonce is ${stateNonce}, got ${m.Nonce}: message nonce too low`);
    const cid = signedMessageCid(m, sm.Signature);
    const same = pending.find((x) => x.Message.Nonce === m.Nonce);
    if (same?.CID?.['/'] === cid['/']) throw new ApiError(`message from ${m.From} with nonce ${m.Nonce} already in mpool: message with nonce already exists`);
    if (same) throw new ApiError(`message from ${m.From} with nonce ${m.Nonce} already in mpool: the devnet does not replace pending messages (replace by fee)`);
    if (m.Nonce > next) throw new ApiError(`nonce gap: the devnet runs ${m.From}'s messages in nonce order and expects nonce ${next}, got ${m.Nonce}`);
    const gas = (x: Message) => BigInt(x.GasFeeCap) * BigInt(x.GasLimit);
    const need = gas(m);
    if (acct.balance < need) throw new ApiError(`not enough funds (required: ${formatFil(need)}, balance: ${formatFil(acct.balance)}): not enough funds to execute transaction`);
    const total = pending.reduce((a, x) => a + gas(x.Message) + BigInt(x.Message.Value ?? '0'), need + BigInt(m.Value));
    if (acct.balance < total) throw new ApiError(`not enough funds including pending messages (required: ${formatFil(total)}, balance: ${formatFil(acct.balance)})`);
    // The message as Lotus shows it (ChainGetMessage) carries its own CID; the signed one is known by `cid`.
    m.CID = messageCid(m);
    const signed: SignedMessage = { Message: m, Signature: { Type: sm.Signature.Type, Data: sm.Signature.Data }, CID: cid };
    appendDurable(this.mpoolFd, JSON.stringify(signed));
    this.nonces[k] = m.Nonce + 1;
    this.mpool.push(signed);
    this.messages.set(cid['/'], m);
    return cid;
  }

  /** The messages waiting in the mpool (MpoolPending). */
  pendingMessages(): SignedMessage[] {
    return [...this.mpool];
  }

  /**
   * Test hook: takes a pending message out of the mpool, as a reorg that drops the tipset
   * carrying it (with the node forgetting it) loses it. True when it was pending.
   */
  dropPending(cid: string): boolean {
    const i = this.mpool.findIndex((m) => m.CID?.['/'] === cid);
    if (i < 0) return false;
    this.mpool.splice(i, 1);
    ftruncateSync(this.mpoolFd, 0);
    for (const m of this.mpool) appendDurable(this.mpoolFd, JSON.stringify(m));
    return true;
  }

  lookup(cid: Cid): MsgLookup | undefined {
    return this.lookups.get(cid['/']);
  }

  /** ChainGetMessage: a message pushed to this devnet (executed or still pending). */
  getMessage(cid: Cid): Message {
    const m = this.messages.get(cid['/']);
    if (!m) throw new ApiError(`failed to load message: ${cid['/']} not found`);
    return m;
  }

  /**
   * StateListMessages as Lotus does it: the CIDs of the messages executed in the tipsets from
   * `from` back to `toHeight` (inclusive) whose To and From equal the match's, compared as given
   * (Lotus compares the addresses as written in the message too). At least one is required.
   */
  listMessages(match: { To?: string; From?: string }, from: TipSet, toHeight: number): Cid[] {
    if (!match.To && !match.From) throw new ApiError('must specify at least To or From in message filter');
    const out: Cid[] = [];
    for (let h = from.Height; h >= Math.max(0, toHeight); h--) {
      const rec = this.chain[h];
      (rec?.messages ?? []).forEach((m, i) => {
        if (match.To && m.To !== match.To) return;
        if (match.From && m.From !== match.From) return;
        // The CID the message is known by: a secp256k1-signed message's is its signed message's (the receipt's).
        out.push(rec.receipts[i]?.Message ?? m.CID!);
      });
    }
    return out;
  }

  /** Resolves when the message has been executed and `confidence` more epochs passed. */
  async waitMessage(cid: Cid, confidence: number, signal?: AbortSignal): Promise<MsgLookup> {
    for (;;) {
      const l = this.lookups.get(cid['/']);
      if (l && this.head().Height >= l.Height + confidence) return l;
      if (this.closed) throw new ApiError('devnet is shutting down');
      await new Promise<void>((resolve, reject) => {
        const onHead = () => {
          cleanup();
          resolve();
        };
        const onAbort = () => {
          cleanup();
          reject(new ApiError('request cancelled'));
        };
        const cleanup = () => {
          this.off('head', onHead);
          this.off('close', onHead);
          signal?.removeEventListener('abort', onAbort);
        };
        this.on('head', onHead);
        this.on('close', onHead);
        signal?.addEventListener('abort', onAbort);
        if (signal?.aborted) onAbort();
      });
    }
  }
}
