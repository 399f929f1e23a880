// Listening on "any free port" (port 0) the way a restarted service wants it: the first start
// takes a free port and records it (the service's address file); a restart takes the same port
// again when it is still free, so the seal workers, the piece URLs of deal sectors and the
// operator's commands keep working across a crash without a fixed port in config.toml.
import type { Server } from 'node:http';
import { createServer } from 'node:net';

function listenOnce(server: Server, port: number, host: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const onError = (e: Error) => reject(e);
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
}

/** Listens on host:port; with port 0, on `previousPort` first if given and free. */
export async function listenSticky(server: Server, host: string, port: number, previousPort?: number): Promise<void> {
  if (port === 0 && previousPort && previousPort > 0 && previousPort < 65536) {
    try {
      return await listenOnce(server, previousPort, host);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EADDRINUSE' && (e as NodeJS.ErrnoException).code !== 'EACCES') throw e;
    }
  }
  await listenOnce(server, port, host);
}

/** The port at the end of an address file's content (a multiaddr …/tcp/N/… or a URL …:N). */
export function portFromAddressFile(text: string | undefined): number | undefined {
  if (!text) return undefined;
  const m = /\/tcp\/(\d+)/.exec(text) ?? /:(\d+)\/?\s*$/.exec(text.trim());
  return m ? Number(m[1]) : undefined;
}

/** A port free on 127.0.0.1 right now (for handing to a child process that listens on it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
}
