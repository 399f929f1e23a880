// Filecoin addresses as Lotus writes them: `f…` on mainnet, `t…` on test networks, protocol
// 0 (ID, `t01000`), 1 (secp256k1), 2 (actor) and 3 (BLS), with the blake2b-4 checksum over
// protocol + payload; their byte form (protocol byte + payload, as in CBOR and signatures).
import { blake2b } from '@noble/hashes/blake2.js';
import { base32 } from 'multiformats/bases/base32';
import { cborEncode } from './cbor.js';
import { base32Decode, readUvarint, uvarint } from './encoding.js';

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

const checksum = (protocol: number, payload: Uint8Array) => blake2b(Buffer.concat([Buffer.from([protocol]), payload]), { dkLen: 4 });

/** An ID address string (`t01000`). */
export function idAddress(id: number | bigint, network: Network = 'testnet'): string {
  if (BigInt(id) < 0n) throw new RangeError(`actor id ${id} is negative`);
  return `${networkPrefix(network)}0${BigInt(id)}`;
}

/** A BLS address (`t3…`) from a 48-byte public key. */
export function blsAddress(publicKey: Uint8Array, network: Network = 'testnet'): string {
  if (publicKey.length !== 48) throw new TypeError(`a BLS public key is 48 bytes, got ${publicKey.length}`);
  return `${networkPrefix(network)}3${base32.baseEncode(Buffer.concat([publicKey, checksum(3, publicKey)]))}`;
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
    return `${networkPrefix(network)}${protocol}${base32.baseEncode(Buffer.concat([payload, checksum(protocol, payload)]))}`;
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
  return cborEncode(addressBytes(s));
}
