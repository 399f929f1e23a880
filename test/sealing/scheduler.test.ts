// The scheduler over real WebSockets with scripted workers: matching by type, resources and
// affinity, back-pressure, and bad input (wrong token, malformed frames, results for tasks a
// worker does not hold) refused without disturbing anything else.
import test from 'ava';
import WebSocket from 'ws';
import { type MinerMsg, type TaskType, WORKER_PROTOCOL_VERSION, type WorkerMsg, decodeMinerMsg, encode } from '../../src/sealing/protocol.js';
import { Scheduler, WorkerLostError } from '../../src/sealing/scheduler.js';
import { Auth } from '../../src/auth/index.js';

const auth = Auth.random();
const TOKEN = auth.issue('write');
const P = 5; // StackedDrg2KiBV1_1
const sector = (n: number) => ({ minerId: 1000, number: n, proof: P });

class FakeWorker {
  ws: WebSocket;
  msgs: MinerMsg[] = [];
  closed: Promise<{ code: number; reason: string }>;
  private waiters: (() => void)[] = [];
  constructor(url: string, token = TOKEN) {
    this.ws = new WebSocket(url, { headers: { authorization: `Bearer ${token}` } });
    this.ws.on('error', () => undefined);
    this.ws.on('message', (d: Buffer) => {
      this.msgs.push(decodeMinerMsg(d));
      this.waiters.splice(0).forEach((w) => w());
    });
    this.closed = new Promise((r) => this.ws.on('close', (code, reason) => r({ code, reason: reason.toString() })));
  }
  static async connect(url: string, id: string, types: TaskType[], cores = 2, token = TOKEN, running: string[] = []): Promise<FakeWorker> {
    const w = new FakeWorker(url, token);
    await new Promise((r) => w.ws.once('open', r));
    w.send({ t: 'hello', v: WORKER_PROTOCOL_VERSION, token, workerId: id, hostname: 'test', taskTypes: types, resources: { cores, memoryBytes: 64 * 2 ** 30, gpus: 0 }, sectors: [], running });
    return w;
  }
  send(m: WorkerMsg): void {
    this.ws.send(encode(m));
  }
  async next<T extends MinerMsg['t']>(t: T, timeoutMs = 3000): Promise<Extract<MinerMsg, { t: T }>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = this.msgs.findIndex((m) => m.t === t);
      if (i >= 0) return this.msgs.splice(i, 1)[0] as Extract<MinerMsg, { t: T }>;
      if (Date.now() > deadline) throw new Error(`no ${t} within ${timeoutMs} ms`);
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 50);
      });
    }
  }
  has(t: MinerMsg['t']): boolean {
    return this.msgs.some((m) => m.t === t);
  }
}

async function setup(grace = 30_000) {
  const s = new Scheduler({ auth, minerId: 1000, heartbeatMs: 200, reconnectGraceMs: grace });
  const url = await s.listen('127.0.0.1', 0);
  return { s, url };
}

test('tasks go to workers that accept their type; later steps first; results resolve', async (t) => {
  const { s, url } = await setup();
  try {
    const ap = await FakeWorker.connect(url, 'ap', ['AddPiece', 'PreCommit1']);
    await ap.next('welcome');
    const c2 = await FakeWorker.connect(url, 'c2', ['Commit2']);
    await c2.next('welcome');
    const a = s.run(sector(1), { type: 'AddPiece', pieces: [{ kind: 'zero', unpaddedSize: 2032 }] });
    const b = s.run(sector(2), { type: 'Commit2', c1: Buffer.from('c1') });
    const ta = await ap.next('task');
    const tb = await c2.next('task');
    t.is(ta.input.type, 'AddPiece');
    t.is(tb.input.type, 'Commit2');
    ap.send({ t: 'result', taskId: ta.taskId, ok: true, output: { type: 'AddPiece', pieces: [{ size: 2048, commP: Buffer.alloc(32, 1) }] }, ms: 1 });
    c2.send({ t: 'result', taskId: tb.taskId, ok: false, error: 'out of memory', ms: 1 });
    const ra = await a;
    t.is(ra.workerId, 'ap');
    await t.throwsAsync(b, { message: /Commit2 of sector 2 failed on c2: out of memory/ });
    t.is((await ap.next('ack')).taskId, ta.taskId);
    // The same step of the same sector cannot be scheduled twice.
    const dup = s.run(sector(3), { type: 'PreCommit1', ticket: Buffer.alloc(32), pieces: [] }, 'ap');
    await t.throwsAsync(s.run(sector(3), { type: 'PreCommit1', ticket: Buffer.alloc(32), pieces: [] }, 'ap'), { message: /already scheduled/ });
    const t3 = await ap.next('task');
    ap.send({ t: 'result', taskId: t3.taskId, ok: true, output: { type: 'PreCommit1', pc1: Buffer.from('pc1') }, ms: 1 });
    await dup;
  } finally {
    await s.close();
  }
});

test('resources bound what runs at once; affinity pins file-bound steps', async (t) => {
  const { s, url } = await setup();
  try {
    const w1 = await FakeWorker.connect(url, 'w1', ['PreCommit1', 'Commit2'], 2);
    await w1.next('welcome');
    const w2 = await FakeWorker.connect(url, 'w2', ['PreCommit1'], 2);
    await w2.next('welcome');
    // A CPU Commit2 takes every core of w1: a second one waits.
    const c2a = s.run(sector(1), { type: 'Commit2', c1: Buffer.from('a') });
    const c2b = s.run(sector(2), { type: 'Commit2', c1: Buffer.from('b') });
    const first = await w1.next('task');
    await new Promise((r) => setTimeout(r, 200));
    t.false(w1.has('task'), 'second Commit2 waits for free cores');
    t.deepEqual(
      s
        .jobs()
        .map((j) => j.state)
        .sort(),
      ['queued', 'running'],
    );
    // PreCommit1 pinned to w1 waits for w1 too, though w2 is idle.
    const pc1 = s.run(sector(3), { type: 'PreCommit1', ticket: Buffer.alloc(32), pieces: [] }, 'w1');
    await new Promise((r) => setTimeout(r, 200));
    t.false(w2.has('task'), 'w2 never gets a task pinned to w1');
    w1.send({ t: 'result', taskId: first.taskId, ok: true, output: { type: 'Commit2', proof: Buffer.alloc(192) }, ms: 5 });
    await c2a;
    // Finishing steps first: the queued Commit2 runs before the pinned PreCommit1.
    const second = await w1.next('task');
    t.is(second.input.type, 'Commit2');
    w1.send({ t: 'result', taskId: second.taskId, ok: true, output: { type: 'Commit2', proof: Buffer.alloc(192) }, ms: 5 });
    await c2b;
    const third = await w1.next('task');
    t.is(third.input.type, 'PreCommit1');
    w1.send({ t: 'result', taskId: third.taskId, ok: true, output: { type: 'PreCommit1', pc1: Buffer.from('x') }, ms: 5 });
    t.is((await pc1).workerId, 'w1');
  } finally {
    await s.close();
  }
});

test('bad input is refused and logged; nothing else is disturbed', async (t) => {
  const { s, url } = await setup();
  try {
    const good = await FakeWorker.connect(url, 'good', ['AddPiece']);
    await good.next('welcome');
    // A wrong token, and a valid one without write: refused at the upgrade, no frame read.
    for (const [token, status] of [
      ['y'.repeat(32), 401],
      [Auth.random().issue('admin'), 401],
      [auth.issue('read'), 403],
    ] as const) {
      const wrong = new WebSocket(url, { headers: { authorization: `Bearer ${token}` } });
      t.regex((await new Promise<Error>((r) => wrong.once('error', r))).message, new RegExp(`Unexpected server response: ${status}`));
    }
    // Malformed frames: garbage bytes, a text frame, a message before hello.
    for (const payload of [Buffer.from([0xc1, 0xff, 0x00]), 'hello?', encode({ t: 'heartbeat', running: [] })]) {
      const w = new FakeWorker(url);
      await new Promise((r) => w.ws.once('open', r));
      w.ws.send(payload);
      t.is((await w.closed).code, 1008);
    }
    // A hello with a bad shape.
    const bad = new FakeWorker(url);
    await new Promise((r) => bad.ws.once('open', r));
    bad.ws.send(encode({ t: 'hello', v: WORKER_PROTOCOL_VERSION, token: TOKEN, workerId: '../../etc', hostname: 'x', taskTypes: ['Mine'], resources: {}, sectors: [], running: [] } as never));
    t.regex((await bad.next('refused')).reason, /invalid message/);
    // A result for a task this worker does not hold: ignored, the real task still completes.
    const task = s.run(sector(1), { type: 'AddPiece', pieces: [{ kind: 'zero', unpaddedSize: 2032 }] });
    const real = await good.next('task');
    const intruder = await FakeWorker.connect(url, 'intruder', ['AddPiece']);
    await intruder.next('welcome');
    intruder.send({ t: 'result', taskId: real.taskId, ok: true, output: { type: 'AddPiece', pieces: [] }, ms: 1 });
    await new Promise((r) => setTimeout(r, 100));
    t.is(s.jobs().length, 1, 'the forged result did not complete the task');
    good.send({ t: 'result', taskId: real.taskId, ok: true, output: { type: 'AddPiece', pieces: [{ size: 2048, commP: Buffer.alloc(32) }] }, ms: 1 });
    t.is((await task).workerId, 'good');
  } finally {
    await s.close();
  }
});

test('a lost worker gets its tasks back on reconnect; after the grace period they move or fail', async (t) => {
  const { s, url } = await setup(600);
  try {
    const w = await FakeWorker.connect(url, 'w', ['AddPiece', 'PreCommit1']);
    await w.next('welcome');
    const ap = s.run(sector(1), { type: 'AddPiece', pieces: [{ kind: 'zero', unpaddedSize: 2032 }] });
    const first = await w.next('task');
    w.ws.terminate();
    // Comes back within the grace period, not running it any more: gets the same task again.
    const again = await FakeWorker.connect(url, 'w', ['AddPiece', 'PreCommit1']);
    await again.next('welcome');
    const resent = await again.next('task');
    t.is(resent.taskId, first.taskId);
    again.send({ t: 'result', taskId: resent.taskId, ok: true, output: { type: 'AddPiece', pieces: [{ size: 2048, commP: Buffer.alloc(32) }] }, ms: 1 });
    t.is((await ap).workerId, 'w');
    // Now it disappears for good with a pinned PreCommit1 and an AddPiece in hand.
    const pc1 = s.run(sector(1), { type: 'PreCommit1', ticket: Buffer.alloc(32), pieces: [] }, 'w');
    await again.next('task');
    const ap2 = s.run(sector(2), { type: 'AddPiece', pieces: [{ kind: 'zero', unpaddedSize: 2032 }] });
    await again.next('task');
    again.ws.terminate();
    await t.throwsAsync(pc1, { instanceOf: WorkerLostError });
    const other = await FakeWorker.connect(url, 'other', ['AddPiece']);
    await other.next('welcome');
    const moved = await other.next('task');
    t.is(moved.input.type, 'AddPiece');
    other.send({ t: 'result', taskId: moved.taskId, ok: true, output: { type: 'AddPiece', pieces: [{ size: 2048, commP: Buffer.alloc(32) }] }, ms: 1 });
    t.is((await ap2).workerId, 'other');
  } finally {
    await s.close();
  }
});

test('a silent worker is dropped after missing heartbeats', async (t) => {
  const { s, url } = await setup(60_000);
  try {
    const w = await FakeWorker.connect(url, 'quiet', ['AddPiece']);
    await w.next('welcome');
    t.true(s.workerRows()[0].connected);
    const closed = await w.closed; // never sends a heartbeat: terminated after 3 intervals
    t.truthy(closed);
    t.false(s.workerRows()[0].connected);
  } finally {
    await s.close();
  }
});

// Serial: ava runs it before the concurrent tests, so this is the thread's only scheduler.
test.serial('distminer_seal_workers_connected counts open worker connections, at scrape time', async (t) => {
  const { registry } = await import('../../src/metrics/index.js');
  const connected = async () => (await registry.getSingleMetric('distminer_seal_workers_connected')!.get()).values[0]?.value;
  const { s, url } = await setup(60_000);
  try {
    t.is(await connected(), 0);
    t.is(s.connectedWorkers(), 0);
    const a = await FakeWorker.connect(url, 'a', ['AddPiece']);
    await a.next('welcome');
    const b = await FakeWorker.connect(url, 'b', ['AddPiece']);
    await b.next('welcome');
    t.is(s.connectedWorkers(), 2);
    t.is(await connected(), 2, 'the gauge reads the live scheduler');
    a.ws.terminate();
    await a.closed;
    for (let i = 0; i < 50 && s.connectedWorkers() !== 1; i++) await new Promise((r) => setTimeout(r, 20));
    t.is(await connected(), 1, 'a lost worker is not counted (its tasks wait for it within the grace period)');
    t.is(s.workerRows().length, 2);
  } finally {
    await s.close();
  }
  t.is(await connected(), 0, 'a closed scheduler is not counted');
});
