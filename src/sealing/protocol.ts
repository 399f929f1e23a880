// The seal-worker protocol: a seal worker keeps one WebSocket to exactly one miner (the
// seed's worker groups) and speaks msgpackr-encoded messages in binary frames.
//
//   worker → miner  hello, heartbeat, result, progress
//   miner → worker  welcome, task, cancel, refused
//
// The worker authenticates with a token of the miner's repository carrying `write` (`distminer
// auth create-token --perm write`), sent in the upgrade's `Authorization: Bearer` header and
// checked before the handshake completes (a stranger never gets to send a frame); hello.token
// repeats it for miners from before that check and is not used. A worker keeps its id across restarts (stored in its directory), so the miner can
// give it back the sectors whose files are on its disk. Every decoded message is validated
// before use: a malformed frame closes that connection with a reason and nothing else.
import { Packr } from 'msgpackr';

export const WORKER_PROTOCOL_VERSION = 1;
export const MAX_FRAME_BYTES = 64 * 1024 * 1024; // a 32GiB Commit1 output is tens of MiB

const packr = new Packr({ useRecords: false, int64AsType: 'number' });

export type TaskType = 'AddPiece' | 'PreCommit1' | 'PreCommit2' | 'Commit1' | 'Commit2' | 'Finalize';
export const TASK_TYPES: TaskType[] = ['AddPiece', 'PreCommit1', 'PreCommit2', 'Commit1', 'Commit2', 'Finalize'];

/** Steps that need the sector's files, so they must run on the worker that holds them. */
export const FILE_BOUND: ReadonlySet<TaskType> = new Set(['PreCommit1', 'PreCommit2', 'Commit1', 'Finalize']);

export interface Resources {
  cores: number;
  memoryBytes: number;
  gpus: number;
}

export interface SectorId {
  minerId: number;
  number: number;
  /** RegisteredSealProof */
  proof: number;
}

/** A piece to put into a sector: zeros (committed capacity) or data to read. */
export type PieceSource =
  { kind: 'zero'; unpaddedSize: number } | { kind: 'file'; path: string; unpaddedSize: number; commP: Buffer } | { kind: 'url'; url: string; token?: string; unpaddedSize: number; commP: Buffer };

export interface PieceInfoWire {
  size: number; // padded
  commP: Buffer;
}

export type TaskInput =
  | { type: 'AddPiece'; pieces: PieceSource[] }
  | { type: 'PreCommit1'; ticket: Buffer; pieces: PieceInfoWire[] }
  | { type: 'PreCommit2'; pc1: Buffer }
  | { type: 'Commit1'; commR: Buffer; commD: Buffer; ticket: Buffer; seed: Buffer; pieces: PieceInfoWire[] }
  | { type: 'Commit2'; c1: Buffer }
  | { type: 'Finalize'; sealedDest: string; cacheDest: string };

export type TaskOutput =
  | { type: 'AddPiece'; pieces: PieceInfoWire[] }
  | { type: 'PreCommit1'; pc1: Buffer }
  | { type: 'PreCommit2'; commR: Buffer; commD: Buffer }
  | { type: 'Commit1'; c1: Buffer }
  | { type: 'Commit2'; proof: Buffer }
  | { type: 'Finalize'; sealedPath: string; cacheDir: string };

export type WorkerMsg =
  | { t: 'hello'; v: number; token?: string; workerId: string; hostname: string; taskTypes: TaskType[]; resources: Resources; sectors: SectorId[]; running: string[] }
  | { t: 'heartbeat'; running: string[] }
  | { t: 'result'; taskId: string; ok: true; output: TaskOutput; ms: number }
  | { t: 'result'; taskId: string; ok: false; error: string; ms: number }
  | { t: 'progress'; taskId: string; note: string };

export type MinerMsg =
  | { t: 'welcome'; v: number; workerId: string; heartbeatMs: number }
  | { t: 'task'; taskId: string; sector: SectorId; input: TaskInput }
  | { t: 'cancel'; taskId: string }
  /** The miner has recorded this task's result: the worker may forget it. */
  | { t: 'ack'; taskId: string }
  | { t: 'refused'; reason: string };

export function encode(m: WorkerMsg | MinerMsg): Buffer {
  return packr.pack(m) as Buffer;
}

/** Canonical bytes of a task input (for recognising the same step asked twice). */
export function encodeInput(i: TaskInput): Buffer {
  return packr.pack(i) as Buffer;
}

export class ProtocolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ProtocolError';
  }
}

function decodeRaw(b: Buffer): Record<string, unknown> {
  if (b.length > MAX_FRAME_BYTES) throw new ProtocolError(`frame of ${b.length} bytes exceeds ${MAX_FRAME_BYTES}`);
  let v: unknown;
  try {
    v = packr.unpack(b);
  } catch (e) {
    throw new ProtocolError(`frame does not decode: ${(e as Error).message}`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new ProtocolError('frame is not a message object');
  return v as Record<string, unknown>;
}

const isStr = (x: unknown, max = 4096): x is string => typeof x === 'string' && x.length > 0 && x.length <= max;
const isNat = (x: unknown): x is number => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
const isBuf = (x: unknown, len?: number): x is Buffer => (Buffer.isBuffer(x) || x instanceof Uint8Array ? len === undefined || (x as Uint8Array).length === len : false);

function need(cond: boolean, what: string): void {
  if (!cond) throw new ProtocolError(`invalid message: ${what}`);
}

function sectorOk(s: unknown): s is SectorId {
  const o = s as SectorId;
  return typeof o === 'object' && o !== null && isNat(o.minerId) && isNat(o.number) && isNat(o.proof);
}

function piecesOk(p: unknown): p is PieceInfoWire[] {
  return Array.isArray(p) && p.length <= 4096 && p.every((x) => isNat((x as PieceInfoWire)?.size) && isBuf((x as PieceInfoWire)?.commP, 32));
}

const b = (x: unknown) => Buffer.from(x as Uint8Array);

/** Decodes and validates a worker's message (on the miner side). */
export function decodeWorkerMsg(frame: Buffer): WorkerMsg {
  const m = decodeRaw(frame);
  switch (m.t) {
    case 'hello': {
      need(m.v === WORKER_PROTOCOL_VERSION, `protocol version ${String(m.v)}, this miner speaks ${WORKER_PROTOCOL_VERSION}`);
      need(m.token === undefined || (typeof m.token === 'string' && m.token.length <= 4096), 'hello.token');
      need(isStr(m.workerId, 128) && /^[\w.-]+$/.test(m.workerId as string), 'hello.workerId');
      need(isStr(m.hostname, 256), 'hello.hostname');
      need(Array.isArray(m.taskTypes) && (m.taskTypes as unknown[]).every((x) => TASK_TYPES.includes(x as TaskType)), 'hello.taskTypes');
      const r = m.resources as Resources;
      need(typeof r === 'object' && r !== null && isNat(r.cores) && isNat(r.memoryBytes) && isNat(r.gpus), 'hello.resources');
      need(Array.isArray(m.sectors) && (m.sectors as unknown[]).every(sectorOk), 'hello.sectors');
      need(Array.isArray(m.running) && (m.running as unknown[]).every((x) => isStr(x, 256)), 'hello.running');
      return m as unknown as WorkerMsg;
    }
    case 'heartbeat':
      need(Array.isArray(m.running) && (m.running as unknown[]).every((x) => isStr(x, 256)), 'heartbeat.running');
      return m as unknown as WorkerMsg;
    case 'progress':
      need(isStr(m.taskId, 256) && typeof m.note === 'string', 'progress');
      return m as unknown as WorkerMsg;
    case 'result': {
      need(isStr(m.taskId, 256) && typeof m.ok === 'boolean' && typeof m.ms === 'number', 'result');
      if (!m.ok) {
        need(typeof m.error === 'string', 'result.error');
        return m as unknown as WorkerMsg;
      }
      const o = m.output as Record<string, unknown>;
      need(typeof o === 'object' && o !== null, 'result.output');
      switch (o.type) {
        case 'AddPiece':
          need(piecesOk(o.pieces), 'AddPiece output');
          o.pieces = (o.pieces as PieceInfoWire[]).map((p) => ({ size: p.size, commP: b(p.commP) }));
          break;
        case 'PreCommit1':
          need(isBuf(o.pc1), 'PreCommit1 output');
          o.pc1 = b(o.pc1);
          break;
        case 'PreCommit2':
          need(isBuf(o.commR, 32) && isBuf(o.commD, 32), 'PreCommit2 output');
          o.commR = b(o.commR);
          o.commD = b(o.commD);
          break;
        case 'Commit1':
          need(isBuf(o.c1), 'Commit1 output');
          o.c1 = b(o.c1);
          break;
        case 'Commit2':
          need(isBuf(o.proof), 'Commit2 output');
          o.proof = b(o.proof);
          break;
        case 'Finalize':
          need(isStr(o.sealedPath) && isStr(o.cacheDir), 'Finalize output');
          break;
        default:
          throw new ProtocolError(`invalid message: unknown output type ${String(o.type)}`);
      }
      return m as unknown as WorkerMsg;
    }
    default:
      throw new ProtocolError(`invalid message: unknown type ${String(m.t)}`);
  }
}

/** Decodes and validates a miner's message (on the worker side). */
export function decodeMinerMsg(frame: Buffer): MinerMsg {
  const m = decodeRaw(frame);
  switch (m.t) {
    case 'welcome':
      need(isStr(m.workerId, 128) && isNat(m.heartbeatMs), 'welcome');
      return m as unknown as MinerMsg;
    case 'refused':
      need(typeof m.reason === 'string', 'refused');
      return m as unknown as MinerMsg;
    case 'cancel':
    case 'ack':
      need(isStr(m.taskId, 256), String(m.t));
      return m as unknown as MinerMsg;
    case 'task': {
      need(isStr(m.taskId, 256) && sectorOk(m.sector), 'task');
      const i = m.input as Record<string, unknown>;
      need(typeof i === 'object' && i !== null && TASK_TYPES.includes(i.type as TaskType), 'task.input');
      for (const k of ['ticket', 'seed', 'commR', 'commD']) {
        if (!(k in i)) continue;
        need(isBuf(i[k], 32), `task.input.${k}`);
        i[k] = b(i[k]);
      }
      for (const k of ['pc1', 'c1']) {
        if (!(k in i)) continue;
        need(isBuf(i[k]), `task.input.${k}`);
        i[k] = b(i[k]);
      }
      if ('pieces' in i && i.type !== 'AddPiece') {
        need(piecesOk(i.pieces), 'task.input.pieces');
        i.pieces = (i.pieces as PieceInfoWire[]).map((p) => ({ size: p.size, commP: b(p.commP) }));
      }
      if (i.type === 'AddPiece') {
        need(Array.isArray(i.pieces) && (i.pieces as PieceSource[]).every((p) => isNat(p?.unpaddedSize) && ['zero', 'file', 'url'].includes(p.kind)), 'AddPiece pieces');
        for (const p of i.pieces as PieceSource[]) if (p.kind !== 'zero') p.commP = b(p.commP);
      }
      return m as unknown as MinerMsg;
    }
    default:
      throw new ProtocolError(`invalid message: unknown type ${String(m.t)}`);
  }
}

/** File layout shared by workers and storage: Lotus's `sealed/s-t0<miner>-<n>`, `cache/…`. */
export function sectorName(s: { minerId: number; number: number }): string {
  return `s-t0${s.minerId}-${s.number}`;
}
