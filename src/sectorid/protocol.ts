// Wire protocol of the sector-number service.
//
// A frame is a u32 big-endian length followed by that many bytes of msgpack. Every request
// is a map { v, id, token, op, ... }; every reply is { v, id, ok: true, ... } or
// { v, id, ok: false, code, message }. `id` is chosen by the client: for `alloc` it is also
// the idempotency key, so a retry with the same id returns the same numbers.
//
// Frame-level problems (bad length, undecodable msgpack, wrong version, bad token) get one
// error reply and the connection is closed: after such a frame the stream cannot be trusted.
// Request-level problems (bad field, missing permission, reservation conflict, store down)
// get an error reply and the connection stays open.
//
// The token is a Lotus-style JWT of the miner's API secret (src/auth): `info` and `ping` need
// `read`, `alloc` needs `write`, `reserve`/`free`/`setFloor` need `admin` (OP_PERMISSION).
import { Packr, Unpackr } from 'msgpackr';
import type { Permission } from '../auth/index.js';
import { type Ranges, isSectorNumber, normalize } from './ranges.js';

export const PROTOCOL_VERSION = 1;
export const DEFAULT_MAX_FRAME_BYTES = 64 * 1024;
/** Most numbers one `alloc` may ask for (a pledge batch). */
export const MAX_BATCH = 4096;
export const MAX_REQUEST_ID_LENGTH = 128;
export const MAX_NAME_LENGTH = 128;

export const ErrorCode = {
  /** Undecodable frame, not a map, missing or mistyped fields. Connection closed if frame-level. */
  BadFrame: 'BAD_FRAME',
  FrameTooLarge: 'FRAME_TOO_LARGE',
  UnsupportedVersion: 'UNSUPPORTED_VERSION',
  /** No token, or not a token of this miner's API secret. Connection closed. */
  Unauthorized: 'UNAUTHORIZED',
  /** A valid token without the permission the op needs (the message names it). Connection kept. */
  Forbidden: 'FORBIDDEN',
  BadRequest: 'BAD_REQUEST',
  /** The same request id was used earlier with a different request. */
  RequestIdReused: 'REQUEST_ID_REUSED',
  ReservationConflict: 'RESERVATION_CONFLICT',
  NotFound: 'NOT_FOUND',
  FloorDown: 'FLOOR_DOWN',
  /** The store (disk, database) failed; nothing was handed out. Retry with the same id. */
  StoreUnavailable: 'STORE_UNAVAILABLE',
  TooManyConnections: 'TOO_MANY_CONNECTIONS',
  TooManyInFlight: 'TOO_MANY_IN_FLIGHT',
  IdleTimeout: 'IDLE_TIMEOUT',
  /** A frame (or, before authentication, the first frame) did not complete in time. Closed. */
  FrameTimeout: 'FRAME_TIMEOUT',
  ShuttingDown: 'SHUTTING_DOWN',
  Internal: 'INTERNAL',
  /** Client side: no connection could be made before the deadline. */
  Unreachable: 'UNREACHABLE',
  /** Client side: connected, but no answer before the deadline. */
  DeadlineExceeded: 'DEADLINE_EXCEEDED',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** Codes after which a client should retry the same request (same id) later. */
export const RETRYABLE: ReadonlySet<string> = new Set([
  ErrorCode.StoreUnavailable,
  ErrorCode.TooManyConnections,
  ErrorCode.TooManyInFlight,
  ErrorCode.IdleTimeout,
  ErrorCode.FrameTimeout,
  ErrorCode.ShuttingDown,
  ErrorCode.Internal,
]);

export class SectorIdError extends Error {
  constructor(
    readonly code: ErrorCode | string,
    message: string,
  ) {
    super(message);
    this.name = 'SectorIdError';
  }
  get retryable(): boolean {
    return RETRYABLE.has(this.code);
  }
}

/** The permission each op needs (Lotus's levels: read < write < sign < admin). */
export const OP_PERMISSION: Readonly<Record<string, Permission>> = {
  ping: 'read',
  info: 'read',
  alloc: 'write',
  reserve: 'admin',
  free: 'admin',
  setFloor: 'admin',
};

export type Request =
  | { v: number; id: string; token: string; op: 'ping' }
  | { v: number; id: string; token: string; op: 'alloc'; n: number }
  | { v: number; id: string; token: string; op: 'info' }
  | { v: number; id: string; token: string; op: 'reserve'; name: string; ranges: Ranges }
  | { v: number; id: string; token: string; op: 'free'; name: string }
  | { v: number; id: string; token: string; op: 'setFloor'; floor: number };

export interface InfoReply {
  /** The next number the allocator will consider (it skips reserved and chain-allocated ones). */
  next: number;
  reservations: Record<string, Ranges>;
  /** One above the highest chain-allocated number seen, or null without a chain source. */
  chainFloor: number | null;
  chainCheckedAt: number | null;
  store: string;
  minerId: string;
}

export type Reply = { v: number; id: string; ok: true; numbers?: number[]; info?: InfoReply } | { v: number; id: string; ok: false; code: string; message: string };

// Records/structures off: a peer must not be able to define shared structures for us.
const packr = new Packr({ useRecords: false, moreTypes: false });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number' });

export function encodeFrame(msg: unknown): Buffer {
  const body = packr.pack(msg);
  const frame = Buffer.allocUnsafe(4 + body.length);
  frame.writeUInt32BE(body.length, 0);
  body.copy(frame, 4);
  return frame;
}

export function decodeBody(body: Buffer): unknown {
  return unpackr.unpack(body);
}

/** Incremental splitter of a byte stream into frame bodies, with a size limit. */
export class FrameReader {
  private chunks: Buffer[] = [];
  private buffered = 0;

  constructor(private readonly maxFrameBytes: number) {}

  /** Bytes received but not yet a whole frame (non-zero at EOF means a truncated frame). */
  get pending(): number {
    return this.buffered;
  }

  /** Feed bytes; returns whole frame bodies. Throws SectorIdError(FRAME_TOO_LARGE). */
  push(chunk: Buffer): Buffer[] {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    const out: Buffer[] = [];
    for (;;) {
      if (this.buffered < 4) break;
      const head = this.peek(4);
      const len = head.readUInt32BE(0);
      if (len > this.maxFrameBytes) {
        throw new SectorIdError(ErrorCode.FrameTooLarge, `frame of ${len} bytes exceeds the limit of ${this.maxFrameBytes}`);
      }
      if (this.buffered < 4 + len) break;
      const all = this.take(4 + len);
      out.push(all.subarray(4));
    }
    return out;
  }

  private peek(n: number): Buffer {
    if (this.chunks[0]!.length >= n) return this.chunks[0]!.subarray(0, n);
    const b = Buffer.concat(this.chunks);
    this.chunks = [b];
    return b.subarray(0, n);
  }

  private take(n: number): Buffer {
    let b = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks);
    const head = b.subarray(0, n);
    b = b.subarray(n);
    this.chunks = b.length > 0 ? [b] : [];
    this.buffered -= n;
    return head;
  }
}

function isPlainObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x) && !Buffer.isBuffer(x) && !(x instanceof Uint8Array);
}

function str(o: Record<string, unknown>, key: string, max: number): string {
  const v = o[key];
  if (typeof v !== 'string' || v.length === 0 || v.length > max) {
    throw new SectorIdError(ErrorCode.BadRequest, `field "${key}" must be a non-empty string of at most ${max} characters`);
  }
  return v;
}

/**
 * Check the envelope of a decoded frame: returns {id, v, token, op} or throws a frame-level
 * SectorIdError (the caller replies and closes). Per-op fields are checked by parseRequest.
 */
export function parseEnvelope(x: unknown): { v: number; id: string; token: unknown; op: unknown; raw: Record<string, unknown> } {
  if (!isPlainObject(x)) throw new SectorIdError(ErrorCode.BadFrame, 'a request must be a msgpack map');
  const v = x.v;
  if (typeof v !== 'number' || !Number.isInteger(v)) throw new SectorIdError(ErrorCode.BadFrame, 'field "v" (protocol version) is missing');
  if (v !== PROTOCOL_VERSION) {
    throw new SectorIdError(ErrorCode.UnsupportedVersion, `protocol version ${v} is not supported (this server speaks ${PROTOCOL_VERSION})`);
  }
  const id = x.id;
  if (typeof id !== 'string' || id.length === 0 || id.length > MAX_REQUEST_ID_LENGTH) {
    throw new SectorIdError(ErrorCode.BadFrame, `field "id" must be a non-empty string of at most ${MAX_REQUEST_ID_LENGTH} characters`);
  }
  return { v, id, token: x.token, op: x.op, raw: x };
}

/** Per-op validation; throws SectorIdError(BAD_REQUEST) (request-level: connection stays). */
export function parseRequest(env: ReturnType<typeof parseEnvelope>): Request {
  const o = env.raw;
  const base = { v: env.v, id: env.id, token: env.token as string };
  switch (env.op) {
    case 'ping':
    case 'info':
      return { ...base, op: env.op };
    case 'alloc': {
      const n = o.n;
      if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > MAX_BATCH) {
        throw new SectorIdError(ErrorCode.BadRequest, `field "n" must be an integer from 1 to ${MAX_BATCH}`);
      }
      return { ...base, op: 'alloc', n };
    }
    case 'reserve': {
      const name = str(o, 'name', MAX_NAME_LENGTH);
      if (!Array.isArray(o.ranges) || o.ranges.length === 0 || o.ranges.length > 4096) {
        throw new SectorIdError(ErrorCode.BadRequest, 'field "ranges" must be a list of 1 to 4096 [lo, hi] pairs');
      }
      let ranges: Ranges;
      try {
        ranges = normalize(o.ranges as Ranges);
      } catch (e) {
        throw new SectorIdError(ErrorCode.BadRequest, (e as Error).message);
      }
      return { ...base, op: 'reserve', name, ranges };
    }
    case 'free':
      return { ...base, op: 'free', name: str(o, 'name', MAX_NAME_LENGTH) };
    case 'setFloor': {
      if (!isSectorNumber(o.floor)) throw new SectorIdError(ErrorCode.BadRequest, 'field "floor" must be a sector number');
      return { ...base, op: 'setFloor', floor: o.floor };
    }
    default:
      throw new SectorIdError(ErrorCode.BadRequest, `unknown op ${JSON.stringify(String(env.op)).slice(0, 40)}`);
  }
}
