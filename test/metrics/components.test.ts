// Metrics of components, in process (this thread's registry, src/metrics): the GPU mailbox,
// the KV store (commits, fsync latency, compactions, failures) and deals by state.
import test from 'ava';
import { fsyncSync, mkdtempSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Execution, Mailbox } from '../../actors/mailbox.js';
import { KvStore } from '../../src/store/kv.js';
import type { DealRecord } from '../../src/deals/store.js';
import { Counter, Histogram, Registry } from 'prom-client';
import { type MetricsJson, exposition, withLabels } from '../../src/metrics/index.js';
import { parseExposition } from '../helpers/prom.js';

const read = async () => parseExposition(await exposition());
const tmp = (t: { teardown(f: () => void): void }) => {
  const d = mkdtempSync(join(tmpdir(), 'distminer-metrics-'));
  t.teardown(() => rmSync(d, { recursive: true, force: true }));
  return d;
};

test.serial('mailbox: submitted, finished by outcome, wait and run histograms, queue and lane gauges', async (t) => {
  const before = await read();
  const base = (n: string, l: Record<string, string>) => before.value(n, l) ?? 0;
  const ends = new Map<number, (ok: boolean) => void>();
  const executor = {
    start(job: { id: number }): Execution {
      return { done: new Promise((res, rej) => ends.set(job.id, (ok) => (ok ? res(1) : rej(new Error('boom'))))) };
    },
  };
  const mb = new Mailbox({ devices: 1, winningLanes: 1, postLanes: 0, sealLanes: 1, agingMs: 60_000, throttle: false, executorFor: () => executor });
  const a = mb.submit({ kind: 'precommit1', args: [] });
  const b = mb.submit({ kind: 'precommit1', args: [] });
  const c = mb.submit({ kind: 'winning-post', args: [] });
  let m = await read();
  t.is(m.value('distminer_mailbox_queued_jobs', { class: 'seal' }), 1, 'one seal job waits behind the other');
  t.is(m.value('distminer_mailbox_lane_busy', { lane: 'dev0/seal0', class: 'seal' }), 1);
  t.is(m.value('distminer_mailbox_lane_busy', { lane: 'dev0/winning0', class: 'winning-post' }), 1);
  t.is(m.value('distminer_mailbox_jobs_submitted_total', { class: 'seal' }), base('distminer_mailbox_jobs_submitted_total', { class: 'seal' }) + 2);
  ends.get(a.id)!(true);
  await a.result;
  ends.get(c.id)!(true);
  await c.result;
  ends.get(b.id)!(false);
  await t.throwsAsync(b.result);
  m = await read();
  t.is(m.value('distminer_mailbox_queued_jobs', { class: 'seal' }), 0);
  t.is(m.value('distminer_mailbox_jobs_finished_total', { class: 'seal', outcome: 'done' }), base('distminer_mailbox_jobs_finished_total', { class: 'seal', outcome: 'done' }) + 1);
  t.is(m.value('distminer_mailbox_jobs_finished_total', { class: 'seal', outcome: 'failed' }), base('distminer_mailbox_jobs_finished_total', { class: 'seal', outcome: 'failed' }) + 1);
  t.is(m.value('distminer_mailbox_wait_seconds_count', { class: 'seal' }), (before.value('distminer_mailbox_wait_seconds_count', { class: 'seal' }) ?? 0) + 2);
  t.is(
    m.value('distminer_mailbox_run_seconds_count', { class: 'winning-post', outcome: 'done' }),
    (before.value('distminer_mailbox_run_seconds_count', { class: 'winning-post', outcome: 'done' }) ?? 0) + 1,
  );
  await mb.close();
  // A closed mailbox no longer counts in the gauges.
  t.is((await read()).find('distminer_mailbox_lane_busy').length, 0);
});

test.serial('KV store: commits, fsync latency, compactions ok and failed, failed commits, journal size', async (t) => {
  const dir = join(tmp(t), 'kvmetrics');
  let failFsync = false;
  const s = KvStore.open(dir, {
    compactBytes: 4096,
    io: {
      writeSync: (fd: number, buf: Uint8Array, off: number, len: number, pos: number) => {
        return writeSync(fd, buf, off, len, pos);
      },
      fsyncSync: (fd: number) => {
        if (failFsync) throw Object.assign(new Error('EIO: i/o error'), { code: 'EIO' });
        fsyncSync(fd);
      },
    },
  });
  t.teardown(() => s.close());
  const L = { store: 'kvmetrics' };
  for (let i = 0; i < 50; i++) await s.put('k', 'x'.repeat(200) + i);
  let m = await read();
  t.is(m.value('distminer_kv_commits_total', { ...L, outcome: 'ok' }), 50);
  t.is(m.value('distminer_kv_fsync_seconds_count', L), 50);
  t.true((m.value('distminer_kv_fsync_seconds_sum', L) ?? 0) > 0);
  t.true((m.value('distminer_kv_compactions_total', { ...L, outcome: 'ok' }) ?? 0) >= 1, 'the journal was compacted');
  t.true((m.value('distminer_kv_journal_bytes', L) ?? 0) > 0);
  failFsync = true;
  await t.throwsAsync(s.put('k', 'lost'));
  failFsync = false;
  m = await read();
  t.is(m.value('distminer_kv_commits_total', { ...L, outcome: 'failed' }), 1);
  // A compaction that cannot write its snapshot (a full disk): counted as failed. The commits'
  // own writes succeed; only the big snapshot write fails.
  const okBefore = m.value('distminer_kv_compactions_total', { ...L, outcome: 'ok' }) ?? 0;
  const io = s as unknown as { io: { writeSync: (fd: number, buf: Uint8Array, off: number, len: number, pos: number) => number } };
  const orig = io.io.writeSync;
  io.io.writeSync = (fd, buf, off, len, pos) => {
    if (pos === 0) throw Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' });
    return orig(fd, buf, off, len, pos);
  };
  for (let i = 0; i < 50 && ((await read()).value('distminer_kv_compactions_total', { ...L, outcome: 'failed' }) ?? 0) === 0; i++) await s.put(`k${i % 3}`, 'y'.repeat(400) + i);
  io.io.writeSync = orig;
  m = await read();
  t.true((m.value('distminer_kv_compactions_total', { ...L, outcome: 'failed' }) ?? 0) >= 1, 'a failed compaction is counted');
  t.is(m.value('distminer_kv_compactions_total', { ...L, outcome: 'ok' }), okBefore);
});

test.serial('deals by state: counted as deals move, rebuilt when the store is reopened, gone when it is closed', async (t) => {
  const { DealStore } = await import('../../src/deals/store.js');
  const dir = join(tmp(t), 'deals');
  const rec = (uuid: string) =>
    ({ uuid, proposalCid: `bafy-${uuid}`, state: 'Accepted', history: [], proposal: { Client: 'f1client' }, createdAt: Date.now(), updatedAt: Date.now() }) as unknown as DealRecord;
  const count = async (state: string) => (await read()).value('distminer_deals', { state });
  let ds = DealStore.open(dir);
  await ds.insert(rec('a'));
  await ds.insert(rec('b'));
  t.is(await count('Accepted'), 2);
  t.is(await count('Active'), 0);
  await ds.transition(['a'], 'Transferring');
  await ds.transition(['a'], 'Verifying');
  await ds.transition(['b'], 'Expired', {}, 'no data');
  t.is(await count('Accepted'), 0);
  t.is(await count('Verifying'), 1);
  t.is(await count('Expired'), 1);
  await ds.close();
  t.is(await count('Verifying'), 0, 'a closed store is not counted');
  ds = DealStore.open(dir);
  t.teardown(() => ds.close());
  t.is(await count('Verifying'), 1, 'counts rebuilt on open');
  t.is(await count('Expired'), 1);
});

test.serial("merging a worker's registry: its histograms and counters under its role label, beside this thread's families of the same name", async (t) => {
  // What a role's thread answers the supervisor with (its own registry as JSON).
  const worker = new Registry();
  const h = new Histogram({ name: 'distminer_kv_fsync_seconds', help: 'x', labelNames: ['store'], buckets: [0.001, 0.01], registers: [worker] });
  h.observe({ store: 'sealing' }, 0.005);
  h.observe({ store: 'sealing' }, 0.5);
  new Counter({ name: 'distminer_test_worker_only_total', help: 'y', registers: [worker] }).inc(3);
  const json = withLabels((await worker.getMetricsAsJSON()) as MetricsJson, { role: 'seal' });
  const m = parseExposition(await exposition([json]));
  const L = { role: 'seal', store: 'sealing' };
  t.is(m.value('distminer_kv_fsync_seconds_bucket', { ...L, le: '0.001' }), 0);
  t.is(m.value('distminer_kv_fsync_seconds_bucket', { ...L, le: '0.01' }), 1);
  t.is(m.value('distminer_kv_fsync_seconds_bucket', { ...L, le: '+Inf' }), 2);
  t.is(m.value('distminer_kv_fsync_seconds_count', L), 2);
  t.is(m.value('distminer_test_worker_only_total', { role: 'seal' }), 3);
  // This thread's samples of the same family (from the KV test above) are kept beside them.
  t.true(m.find('distminer_kv_fsync_seconds_count', { store: 'kvmetrics' }).length === 1);
});

test.serial('storage space: free and total bytes per path from statfs, refreshed on a timer; a path that fails has no sample', async (t) => {
  const { statfsSync } = await import('node:fs');
  const { watchStorageSpace } = await import('../../src/post/storage.js');
  const dir = tmp(t);
  const missing = join(dir, 'not-mounted');
  const stop = watchStorageSpace([dir, missing, dir], 50);
  try {
    let m = await read();
    for (let i = 0; i < 50 && m.value('distminer_storage_capacity_bytes', { path: dir }) === undefined; i++) {
      await new Promise((r) => setTimeout(r, 20));
      m = await read();
    }
    const st = statfsSync(dir);
    t.is(m.value('distminer_storage_capacity_bytes', { path: dir }), st.blocks * st.bsize);
    const free = m.value('distminer_storage_free_bytes', { path: dir })!;
    // Other processes write to this file system meanwhile: within 1% of what statfs says now.
    t.true(Math.abs(free - st.bavail * st.bsize) <= 0.01 * st.blocks * st.bsize, `${free} vs ${st.bavail * st.bsize}`);
    t.is(m.value('distminer_storage_free_bytes', { path: missing }), undefined, 'a path statfs cannot read has no sample');
    // A 4 MiB file written and synced shows on the next refresh.
    const big = join(dir, 'fill');
    const { openSync, closeSync } = await import('node:fs');
    const fd = openSync(big, 'w');
    writeSync(fd, Buffer.alloc(4 << 20, 1));
    fsyncSync(fd);
    closeSync(fd);
    const after = statfsSync(dir).bavail * st.bsize;
    await new Promise((r) => setTimeout(r, 150));
    t.true(Math.abs((await read()).value('distminer_storage_free_bytes', { path: dir })! - after) < 2 << 20, 'refreshed');
  } finally {
    stop();
  }
  t.is((await read()).value('distminer_storage_capacity_bytes', { path: dir }), undefined, 'stopping removes the samples');
});

test.serial("chain client: a daemon going down counts a failover per endpoint; head lag is now minus the last head's timestamp", async (t) => {
  const { createServer } = await import('node:http');
  const { ChainClient } = await import('../../src/chain/client.js');
  const { startDevnet } = await import('../devnet/_harness.js');
  // A port nobody listens on (bound, then closed).
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise((r) => srv.close(r));
  const endpoint = `http://127.0.0.1:${port}/rpc/v1`;
  const before = (await read()).value('distminer_chain_failovers_total', { endpoint }) ?? 0;
  const down = new ChainClient(`x:/ip4/127.0.0.1/tcp/${port}/http`, { timeoutMs: 1000, retryAfterMs: 60_000 });
  await t.throwsAsync(down.chainHead());
  await t.throwsAsync(down.chainHead()); // still marked down: not a second failover
  t.is((await read()).value('distminer_chain_failovers_total', { endpoint }), before + 1);

  const h = await startDevnet();
  t.teardown(() => h.close());
  const ep = { endpoint: h.client.endpoints[0].http };
  t.deepEqual((await read()).find('distminer_chain_head_lag_seconds'), [], 'no sample before a head');
  let got = 0;
  const sub = h.client.chainNotify(() => {
    got++;
  });
  try {
    for (let i = 0; i < 100 && got === 0; i++) await new Promise((r) => setTimeout(r, 20));
    const ts = h.devnet.head();
    const lag = (await read()).value('distminer_chain_head_lag_seconds', ep)!;
    const expected = Date.now() / 1000 - ts.Blocks[0].Timestamp;
    t.true(Math.abs(lag - expected) < 2, `lag ${lag} s, head timestamp says ${expected} s`);
  } finally {
    sub.close();
  }
  t.deepEqual((await read()).find('distminer_chain_head_lag_seconds'), [], 'a closed subscription is not counted');
});
