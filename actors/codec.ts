// msgpackr encoding shared by the supervisor, the role workers and the proof-worker processes,
// plus length-prefixed framing (u32 big-endian) for byte streams.
import type { Duplex } from 'node:stream';
import { Packr } from 'msgpackr';

const packr = new Packr({ useRecords: false, moreTypes: true });

export function encode(v: unknown): Buffer {
  return packr.pack(v);
}

export function decode<T = unknown>(b: Uint8Array): T {
  return packr.unpack(b) as T;
}

export const MAX_FRAME = 256 * 1024 * 1024;

export function writeFrame(s: Duplex, v: unknown): boolean {
  const body = encode(v);
  const head = Buffer.alloc(4);
  head.writeUInt32BE(body.length);
  return s.write(Buffer.concat([head, body]));
}

/** Calls `onFrame` with each decoded frame of the stream; a bad frame destroys the stream. */
export function readFrames(s: Duplex, onFrame: (v: unknown) => void): void {
  let buf: Buffer = Buffer.alloc(0);
  s.on('data', (chunk: Buffer) => {
    buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
    while (buf.length >= 4) {
      const n = buf.readUInt32BE(0);
      if (n > MAX_FRAME) {
        s.destroy(new Error(`frame of ${n} bytes exceeds ${MAX_FRAME}`));
        return;
      }
      if (buf.length < 4 + n) break;
      const body = buf.subarray(4, 4 + n);
      buf = buf.subarray(4 + n);
      let v: unknown;
      try {
        v = decode(body);
      } catch (e) {
        s.destroy(new Error(`undecodable frame: ${(e as Error).message}`));
        return;
      }
      onFrame(v);
    }
  });
}
