// Client wallet keys for signing deal proposals, as Filecoin does it:
//  - secp256k1 (`f1…`/`t1…`): the address payload is blake2b-160 of the 65-byte uncompressed
//    public key; a signature is 65 bytes r‖s‖v over blake2b-256 of the message, and is checked
//    by recovering the public key and comparing its address payload.
//  - BLS (`f3…`/`t3…`): the address payload is the 48-byte public key; signatures are 96-byte
//    G2 points over the message itself (Filecoin's hash-to-curve DST, see chain/crypto.ts).
// Key files are Lotus KeyInfo JSON (`{"Type": "secp256k1"|"bls", "PrivateKey": base64}`), the
// shape `lotus wallet export` prints (hex-decoded).
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { blake2b } from '@noble/hashes/blake2.js';
import { readFileSync } from 'node:fs';
import { blsKeyFromKeyInfo, blsKeyInfo, blsSign, blsVerify, newBlsKey } from '../chain/crypto.js';
import { AddressProtocol, type Network, addressFromBytes, blsAddress, parseAddress } from '../chain/address.js';

export type KeyType = 'secp256k1' | 'bls';

/** Filecoin signature types (crypto.SigType). */
export const SIG_SECP256K1 = 1;
export const SIG_BLS = 2;

export interface Signature {
  Type: number;
  /** base64 */
  Data: string;
}

export interface ClientKey {
  type: KeyType;
  /** secp256k1: big-endian scalar; BLS: big-endian scalar (noble's form). */
  secret: Buffer;
  address: string;
}

export interface KeyInfo {
  Type: string;
  PrivateKey: string;
}

function secpAddress(secret: Uint8Array, network: Network): string {
  const pub = secp256k1.getPublicKey(secret, false);
  return addressFromBytes(Buffer.concat([Buffer.from([AddressProtocol.Secp256k1]), blake2b(pub, { dkLen: 20 })]), network);
}

export function newClientKey(type: KeyType = 'secp256k1', network: Network = 'testnet'): ClientKey {
  if (type === 'secp256k1') {
    const secret = Buffer.from(secp256k1.utils.randomSecretKey());
    return { type, secret, address: secpAddress(secret, network) };
  }
  const k = newBlsKey();
  return { type, secret: k.secret, address: blsAddress(k.publicKey, network) };
}

export function keyInfoOf(k: ClientKey): KeyInfo {
  if (k.type === 'secp256k1') return { Type: 'secp256k1', PrivateKey: k.secret.toString('base64') };
  return blsKeyInfo({ secret: k.secret, publicKey: Buffer.alloc(0) });
}

export function keyFromKeyInfo(ki: KeyInfo, network: Network = 'testnet'): ClientKey {
  if (!ki || typeof ki.PrivateKey !== 'string') throw new Error('key file is not a Lotus KeyInfo ({"Type": ..., "PrivateKey": base64})');
  if (ki.Type === 'secp256k1') {
    const secret = Buffer.from(ki.PrivateKey, 'base64');
    if (secret.length !== 32) throw new Error(`a secp256k1 private key is 32 bytes, got ${secret.length}`);
    return { type: 'secp256k1', secret, address: secpAddress(secret, network) };
  }
  if (ki.Type === 'bls') {
    const k = blsKeyFromKeyInfo(ki);
    return { type: 'bls', secret: k.secret, address: blsAddress(k.publicKey, network) };
  }
  throw new Error(`unsupported key type "${ki.Type}" (secp256k1 or bls)`);
}

/** Reads a key file: Lotus KeyInfo JSON, or the hex of it (`lotus wallet export` output). */
export function readKeyFile(path: string, network: Network = 'testnet'): ClientKey {
  let text = readFileSync(path, 'utf8').trim();
  if (/^[0-9a-f]+$/i.test(text)) text = Buffer.from(text, 'hex').toString('utf8');
  let ki: KeyInfo;
  try {
    ki = JSON.parse(text) as KeyInfo;
  } catch {
    throw new Error(`key file ${path} is not KeyInfo JSON`);
  }
  return keyFromKeyInfo(ki, network);
}

export function sign(k: ClientKey, msg: Uint8Array): Signature {
  if (k.type === 'secp256k1') {
    const h = blake2b(msg, { dkLen: 32 });
    // noble's "recovered" format puts the recovery byte first; Filecoin puts it last.
    const rec = secp256k1.sign(h, k.secret, { prehash: false, format: 'recovered' });
    const fil = Buffer.concat([Buffer.from(rec.subarray(1)), Buffer.from([rec[0]])]);
    return { Type: SIG_SECP256K1, Data: fil.toString('base64') };
  }
  return { Type: SIG_BLS, Data: blsSign({ secret: k.secret, publicKey: Buffer.alloc(0) }, msg).toString('base64') };
}

/** Why `sig` is not a valid signature of `msg` by `address`, or null when it is. */
export function verifySignature(address: string, msg: Uint8Array, sig: Signature): string | null {
  let a;
  try {
    a = parseAddress(address);
  } catch (e) {
    return `client address: ${(e as Error).message}`;
  }
  if (!sig || typeof sig.Data !== 'string' || typeof sig.Type !== 'number') return 'the signature must be {"Type": 1|2, "Data": base64}';
  const data = Buffer.from(sig.Data, 'base64');
  if (a.protocol === AddressProtocol.Secp256k1) {
    if (sig.Type !== SIG_SECP256K1) return `a ${address.slice(0, 2)}… address signs with secp256k1 (Type 1), got Type ${sig.Type}`;
    if (data.length !== 65) return `a secp256k1 signature is 65 bytes, got ${data.length}`;
    if (data[64] > 3) return 'the secp256k1 signature has an invalid recovery byte';
    let pub: Uint8Array;
    try {
      const rec = Buffer.concat([Buffer.from([data[64]]), data.subarray(0, 64)]);
      const compressed = secp256k1.recoverPublicKey(rec, blake2b(msg, { dkLen: 32 }), { prehash: false });
      pub = secp256k1.Point.fromBytes(compressed).toBytes(false);
    } catch (e) {
      return `the secp256k1 signature does not decode: ${(e as Error).message}`;
    }
    if (!Buffer.from(blake2b(pub, { dkLen: 20 })).equals(a.payload)) return `the signature was not made by ${address}`;
    return null;
  }
  if (a.protocol === AddressProtocol.BLS) {
    if (sig.Type !== SIG_BLS) return `a ${address.slice(0, 2)}… address signs with BLS (Type 2), got Type ${sig.Type}`;
    if (data.length !== 96) return `a BLS signature is 96 bytes, got ${data.length}`;
    return blsVerify(a.payload, msg, data) ? null : `the signature was not made by ${address}`;
  }
  return `client address ${address} cannot sign (only secp256k1 f1/t1 and BLS f3/t3 addresses can)`;
}
