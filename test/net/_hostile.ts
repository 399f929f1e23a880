// Hostile clients for the network tests: raw requests a well-behaved client library would
// never send (`POST //[`, upgrades to odd paths, trickled headers, cut bodies), and a check
// that a server is still up and serving.
import { connect, type Socket } from 'node:net';

export interface RawReply {
  /** HTTP status of the first response, 0 when none came. */
  status: number;
  text: string;
  /** The server closed the connection (within the wait). */
  closed: boolean;
  ms: number;
}

/** Sends raw bytes, collects what comes back until the server closes or `waitMs` passes. */
export function raw(port: number, data: string | Buffer, waitMs = 3000, host = '127.0.0.1'): Promise<RawReply> {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const s = connect(port, host);
    let text = '';
    let closed = false;
    const done = () => {
      clearTimeout(timer);
      const m = /^HTTP\/1\.1 (\d{3})/.exec(text);
      resolve({ status: m ? Number(m[1]) : 0, text, closed, ms: Date.now() - t0 });
      s.destroy();
    };
    const timer = setTimeout(done, waitMs);
    s.on('connect', () => s.write(data));
    s.on('data', (d) => (text += d.toString('latin1')));
    s.on('error', () => undefined);
    s.on('close', () => {
      closed = true;
      done();
    });
  });
}

/** A WebSocket upgrade request for `path` as raw text. */
export function upgradeRequest(path: string, headers: Record<string, string> = {}): string {
  const h = { host: 'localhost', connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==', ...headers };
  return `GET ${path} HTTP/1.1\r\n${Object.entries(h)
    .map(([k, v]) => `${k}: ${v}`)
    .join('\r\n')}\r\n\r\n`;
}

/** A POST request head (and optional body) as raw text. */
export function postRequest(path: string, body: string, headers: Record<string, string> = {}): string {
  const h = { host: 'localhost', connection: 'close', 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)), ...headers };
  return `POST ${path} HTTP/1.1\r\n${Object.entries(h)
    .map(([k, v]) => `${k}: ${v}`)
    .join('\r\n')}\r\n\r\n${body}`;
}

/** Sends `count` requests, `parallel` at a time; returns the statuses seen. */
export async function flood(port: number, data: string, count: number, parallel = 10): Promise<Map<number, number>> {
  const seen = new Map<number, number>();
  for (let i = 0; i < count; i += parallel) {
    const rs = await Promise.all(Array.from({ length: Math.min(parallel, count - i) }, () => raw(port, data, 3000)));
    for (const r of rs) seen.set(r.status, (seen.get(r.status) ?? 0) + 1);
  }
  return seen;
}

/**
 * Trickles a request head one byte every `everyMs` without ever finishing it; resolves when
 * the server closes the connection (or after `maxMs`) with how long that took.
 */
export function slowloris(port: number, everyMs = 100, maxMs = 10_000): Promise<{ closedAfterMs: number | null; text: string; socket: Socket }> {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const s = connect(port, '127.0.0.1');
    const head = 'POST /rpc/v0 HTTP/1.1\r\nhost: localhost\r\nx-slow: ' + 'a'.repeat(10_000);
    let i = 0;
    let text = '';
    const tick = setInterval(() => {
      if (!s.destroyed && i < head.length) s.write(head[i++]);
    }, everyMs);
    const give = setTimeout(() => finish(null), maxMs);
    const finish = (ms: number | null) => {
      clearInterval(tick);
      clearTimeout(give);
      resolve({ closedAfterMs: ms, text, socket: s });
      s.destroy();
    };
    s.on('data', (d) => (text += d.toString('latin1')));
    s.on('error', () => undefined);
    s.on('close', () => finish(Date.now() - t0));
  });
}

/** Sends a request head promising `bodyBytes`, some of the body, then resets the connection. */
export function abortedBody(port: number, path: string, headers: Record<string, string> = {}, bodyBytes = 100_000): Promise<void> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.on('error', () => undefined);
    s.on('connect', () => {
      const h = { host: 'localhost', 'content-type': 'application/json', 'content-length': String(bodyBytes), ...headers };
      s.write(
        `POST ${path} HTTP/1.1\r\n${Object.entries(h)
          .map(([k, v]) => `${k}: ${v}`)
          .join('\r\n')}\r\n\r\n{"jsonrpc":"2.0","id":1,"method":"x","params":[`,
      );
      setTimeout(() => {
        s.resetAndDestroy();
        setTimeout(resolve, 100);
      }, 100);
    });
  });
}

export async function until(f: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await f())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/**
 * Sends `head` then a chunked body of up to 30 MiB, as fast as the socket takes it, until the
 * server answers; resolves with the status and how many body bytes had been sent by then
 * (status 0: the connection closed without an answer).
 */
export function streamUntilAnswered(port: number, head: string): Promise<{ status: number; sent: number }> {
  return new Promise((resolve) => {
    const sock = connect(port, '127.0.0.1');
    let sent = 0;
    let text = '';
    let done = false;
    const finish = (status: number) => {
      if (done) return;
      done = true;
      resolve({ status, sent });
      sock.destroy();
    };
    sock.on('error', () => undefined);
    sock.on('close', () => finish(0));
    sock.on('data', (d) => {
      text += d.toString('latin1');
      const m = /^HTTP\/1\.1 (\d+)/.exec(text);
      if (m) finish(Number(m[1]));
    });
    sock.on('connect', async () => {
      sock.write(head);
      const chunk = Buffer.alloc(4096, 120);
      while (!sock.destroyed && sent < 30 * 2 ** 20) {
        sock.write(`${chunk.length.toString(16)}\r\n`);
        sock.write(chunk);
        sock.write('\r\n');
        sent += chunk.length;
        await new Promise((r) => setImmediate(r));
      }
    });
  });
}
