// The failed-attempt limiter behind the web page's login (src/net/failure-limiter.ts), on a
// fake clock.
import test from 'ava';
import { FailureLimiter, peerAddress } from '../../src/net/failure-limiter.js';

test('a burst of failures, then one per refill period; other addresses are not affected', (t) => {
  let now = 1_000_000;
  const l = new FailureLimiter({ burst: 3, refillMs: 1000, now: () => now });
  for (let i = 0; i < 3; i++) {
    t.is(l.retryAfterMs('a'), 0, `attempt ${i + 1} allowed`);
    l.fail('a');
  }
  t.is(l.retryAfterMs('a'), 1000, 'the bucket is empty: a full period to wait');
  t.is(l.retryAfterMs('b'), 0, 'another address may try');
  now += 400;
  t.is(l.retryAfterMs('a'), 600);
  now += 600;
  t.is(l.retryAfterMs('a'), 0, 'one failure refilled');
  l.fail('a');
  t.is(l.retryAfterMs('a'), 1000, 'and spent again: guessing stays at one try a period');
  now += 3000;
  t.is(l.retryAfterMs('a'), 0);
  t.is(l.size, 0, 'a full bucket is forgotten');
});

test('memory is bounded: the oldest addresses are forgotten first', (t) => {
  const l = new FailureLimiter({ burst: 1, refillMs: 60_000, maxAddresses: 100 });
  for (let i = 0; i < 1000; i++) l.fail(`10.0.${i >> 8}.${i & 255}`);
  t.is(l.size, 100);
  t.true(l.retryAfterMs('10.0.3.231') > 0, 'the latest is remembered');
  t.is(l.retryAfterMs('10.0.0.0'), 0, 'the oldest is forgotten');
});

test('peerAddress drops the port, IPv4 and IPv6', (t) => {
  t.is(peerAddress('127.0.0.1:4567'), '127.0.0.1');
  t.is(peerAddress('::1:4567'), '::1');
  t.is(peerAddress('::ffff:10.0.0.1:80'), '::ffff:10.0.0.1');
});
