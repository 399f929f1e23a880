// The sector-number server: TCP, one frame per request, many requests in flight per
// connection (replies carry the request id). See protocol.ts for the frame format.
import { createHash, timingSafeEqual } from 'node:crypto';
import { type AddressInfo, type Server, type Socket, createServer } from 'node:net';
import { logger } from '../log.js';
import { Allocator } from './allocator.js';
import type { ChainFloorSource } from './chain-floor.js';
import { FileStore, readCounterFile } from './file-store.js';
import { lockRepo, type RepoLock } from './lock.js';
import { PostgresStore } from './pg-store.js';
import {
  DEFAULT_MAX_FRAME_BYTES,
  ErrorCode,
  FrameReader,
  MAX_TOKEN_LENGTH,
  PROTOCOL_VERSION,
  SectorIdError,
  decodeBody,
  encodeFrame,
  parseEnvelope,
  parseRequest,
} from './protocol.js';
import type { SectorIdStore } from './store.js';

const log = logger('sectorid');

export interface SectorIdServerOptions {
  /** The miner repo: holds the file store and the lock (also read to seed a new PostgreSQL row). */
  repo: string;
  /** HOST:PORT to listen on (port 0 picks a free one). */
  listen: string;
  /** The miner's API token; every request must carry it. */
  token: string;
  /** 'file' (default), a postgres:// URL, or a ready store object. */
  store?: 'file' | string | SectorIdStore;
  chainFloor?: ChainFloorSource;
  minerId: string;
  maxFrameBytes?: number;
  maxConnections?: number;
  idleMs?: number;
  maxInFlightPerConnection?: number;
  chainRefreshMs?: number;
}

export interface SectorIdServerHandle {
  /** HOST:PORT actually listened on. */
  address: string;
  allocator: Allocator;
  close(): Promise<void>;
}

export function parseHostPort(s: string): { host: string; port: number } {
  const i = s.lastIndexOf(':');
  const host = i > 0 ? s.slice(0, i).replace(/^\[|\]$/g, '') : '';
  const port = Number(s.slice(i + 1));
  if (i <= 0 || !Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`"${s}" is not HOST:PORT`);
  return { host, port };
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

export function makeStore(spec: SectorIdServerOptions['store'], repo: string, minerId: string): SectorIdStore {
  if (spec === undefined || spec === 'file') return new FileStore(repo);
  if (typeof spec !== 'string') return spec;
  if (spec.startsWith('postgres://') || spec.startsWith('postgresql://')) return new PostgresStore(spec, minerId);
  throw new Error(`unknown sector-number store "${spec}" (use "file" or a postgres:// URL)`);
}

export async function startSectorIdServer(opts: SectorIdServerOptions): Promise<SectorIdServerHandle> {
  if (!opts.token) throw new Error('the sector-number server needs the miner API token');
  const { host, port } = parseHostPort(opts.listen);
  const store = makeStore(opts.store, opts.repo, opts.minerId);
  const maxFrame = opts.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
  const maxConns = opts.maxConnections ?? 256;
  const idleMs = opts.idleMs ?? 120_000;
  const maxInFlight = opts.maxInFlightPerConnection ?? 1024;
  const tokenDigest = digest(opts.token);

  // The file store is single-writer: lock the repo. PostgreSQL serialises writers itself.
  let lock: RepoLock | undefined;
  if (store instanceof FileStore) lock = await lockRepo(opts.repo, `sector-number server ${opts.listen}`);
  const allocator = new Allocator({ store, minerId: opts.minerId, chainFloor: opts.chainFloor, chainRefreshMs: opts.chainRefreshMs });
  try {
    // Moving from the file store to PostgreSQL: never start below the repo's old counter.
    const fileFloor = store instanceof FileStore ? 0 : ((await readCounterFile(opts.repo).catch(() => undefined)) ?? 0);
    await allocator.open({ extraFloor: fileFloor });
  } catch (e) {
    await store.close().catch(() => {});
    await lock?.release();
    throw e;
  }

  const sockets = new Set<Socket>();
  let active = 0;
  let closing = false;

  function authorised(token: unknown): boolean {
    if (typeof token !== 'string' || token.length === 0 || token.length > MAX_TOKEN_LENGTH) return false;
    return timingSafeEqual(digest(token), tokenDigest);
  }

  function handle(sock: Socket): void {
    if (closing || active >= maxConns) {
      const code = closing ? ErrorCode.ShuttingDown : ErrorCode.TooManyConnections;
      sock.on('error', () => {});
      sock.end(encodeFrame({ v: PROTOCOL_VERSION, id: '', ok: false, code, message: closing ? 'server shutting down' : `connection limit (${maxConns}) reached; retry later` }));
      setTimeout(() => sock.destroy(), 1000).unref();
      return;
    }
    sockets.add(sock);
    active++;
    sock.setNoDelay(true);
    const reader = new FrameReader(maxFrame);
    let inFlight = 0;
    let dead = false;
    let peerEnded = false;
    // A connection stops counting against the limit as soon as we give up on it.
    const die = (): void => {
      if (dead) return;
      dead = true;
      active--;
    };
    const send = (msg: unknown): void => {
      if (!dead && !sock.destroyed) sock.write(encodeFrame(msg));
    };
    // Frame-level error: reply once, then close this connection only.
    const fail = (id: string, e: SectorIdError): void => {
      if (dead) return;
      send({ v: PROTOCOL_VERSION, id, ok: false, code: e.code, message: e.message });
      die();
      sock.end();
      setTimeout(() => sock.destroy(), 1000).unref();
    };
    sock.setTimeout(idleMs);
    sock.on('timeout', () => fail('', new SectorIdError(ErrorCode.IdleTimeout, `no request for ${idleMs} ms; closing`)));
    sock.on('error', (e) => log.debug({ err: e.message }, 'sector-number connection error'));
    sock.on('close', () => {
      die();
      sockets.delete(sock);
    });
    sock.on('end', () => {
      peerEnded = true;
      if (reader.pending > 0) fail('', new SectorIdError(ErrorCode.BadFrame, `connection ended inside a frame (${reader.pending} bytes of an incomplete frame)`));
      else if (!dead && inFlight === 0) sock.end(); // else: after the last answer
    });
    sock.on('data', (chunk: Buffer) => {
      if (dead) return;
      let bodies: Buffer[];
      try {
        bodies = reader.push(chunk);
      } catch (e) {
        fail('', e as SectorIdError);
        return;
      }
      for (const body of bodies) {
        if (dead) return;
        let env: ReturnType<typeof parseEnvelope>;
        try {
          env = parseEnvelope(decodeBody(body));
        } catch (e) {
          fail('', e instanceof SectorIdError ? e : new SectorIdError(ErrorCode.BadFrame, `undecodable msgpack frame: ${(e as Error).message}`));
          return;
        }
        if (!authorised(env.token)) {
          fail(env.id, new SectorIdError(ErrorCode.Unauthorized, env.token === undefined ? 'the request carries no token' : 'wrong token'));
          return;
        }
        if (inFlight >= maxInFlight) {
          send({ v: PROTOCOL_VERSION, id: env.id, ok: false, code: ErrorCode.TooManyInFlight, message: `more than ${maxInFlight} requests in flight on one connection` });
          continue;
        }
        inFlight++;
        void serve(env)
          .then((r) => send({ v: PROTOCOL_VERSION, id: env.id, ok: true, ...r }))
          .catch((e: unknown) => {
            const se =
              e instanceof SectorIdError ? e : new SectorIdError(ErrorCode.StoreUnavailable, `the sector-number store failed: ${(e as Error).message}`);
            send({ v: PROTOCOL_VERSION, id: env.id, ok: false, code: se.code, message: se.message });
          })
          .finally(() => {
            inFlight--;
            if (peerEnded && inFlight === 0 && !dead) sock.end();
          });
      }
    });
  }

  async function serve(env: ReturnType<typeof parseEnvelope>): Promise<Record<string, unknown>> {
    const req = parseRequest(env);
    if (closing) throw new SectorIdError(ErrorCode.ShuttingDown, 'server shutting down');
    switch (req.op) {
      case 'ping':
        return {};
      case 'alloc':
        return { numbers: await allocator.allocate(req.id, req.n) };
      case 'info':
        return { info: await allocator.info() };
      case 'reserve':
        await allocator.reserve(req.name, req.ranges);
        log.info({ name: req.name, ranges: req.ranges }, 'sector numbers reserved');
        return {};
      case 'free':
        await allocator.free(req.name);
        log.info({ name: req.name }, 'sector-number reservation freed');
        return {};
      case 'setFloor': {
        const next = await allocator.setFloor(req.floor);
        log.info({ next }, 'sector-number floor set');
        return { info: await allocator.info() };
      }
    }
  }

  const server: Server = createServer({ allowHalfOpen: true }, handle);
  server.maxConnections = maxConns + 16; // hard OS-level cap; the soft cap above answers with an error
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (e) {
    await allocator.close().catch(() => {});
    await lock?.release();
    throw new Error(`cannot listen on ${opts.listen}: ${(e as Error).message}`);
  }
  const a = server.address() as AddressInfo;
  const address = `${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`;
  log.info({ address, store: store.description, minerId: opts.minerId }, 'sector-number server listening');

  return {
    address,
    allocator,
    async close() {
      if (closing) return;
      closing = true;
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.end();
        setTimeout(() => {
          for (const s of sockets) s.destroy();
        }, 500).unref();
      });
      await allocator.close();
      await lock?.release();
    },
  };
}
