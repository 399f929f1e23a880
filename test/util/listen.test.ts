// listenSticky: a restarted service takes its previous port again when it is free, and any
// free port when it is not.
import test from 'ava';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { listenSticky, portFromAddressFile } from '../../src/util/listen.js';

const close = (s: ReturnType<typeof createServer>) => new Promise<void>((r) => s.close(() => r()));

test('port 0 reuses the previous port when free, else takes another', async (t) => {
  const a = createServer();
  await listenSticky(a, '127.0.0.1', 0);
  const port = (a.address() as AddressInfo).port;
  const b = createServer();
  await listenSticky(b, '127.0.0.1', 0, port); // taken by a: falls back to a free port
  t.not((b.address() as AddressInfo).port, port);
  await close(a);
  const c = createServer();
  await listenSticky(c, '127.0.0.1', 0, port); // free again: taken back
  t.is((c.address() as AddressInfo).port, port);
  const d = createServer();
  await t.throwsAsync(listenSticky(d, '127.0.0.1', port), { code: 'EADDRINUSE' }, 'a fixed port in use is an error, not silently another port');
  await close(b);
  await close(c);
});

test('the port is read from a multiaddr or a URL address file', (t) => {
  t.is(portFromAddressFile('/ip4/127.0.0.1/tcp/4321/http\n'), 4321);
  t.is(portFromAddressFile('http://127.0.0.1:5555\n'), 5555);
  t.is(portFromAddressFile('garbage'), undefined);
  t.is(portFromAddressFile(undefined), undefined);
});
