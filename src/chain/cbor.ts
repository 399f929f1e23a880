// DAG-CBOR as the chain writes it (cborg): message params, messages and block headers, with
// CIDs as tag 42 over 0x00 + the CID bytes (written from a {@link CborCid}, read back as a
// `Cid`, `{"/": "b…"}`) and big numbers as bigint.
import * as cborg from 'cborg';
import { CborCid, cidBytes, cidFromBytes } from './cid.js';

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

/** CBOR decoding: CIDs come back as `Cid` (`{"/": "b…"}`), byte strings as Uint8Array. */
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
