// Entry of a role actor's worker thread: loads the role module, restores the actor's persisted
// XState snapshot if there is a usable one, runs the actor, persists each new snapshot
// (crash-safely) and talks to the supervisor in msgpackr-encoded messages.
import { existsSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { createActor, type AnyActorRef } from 'xstate';
import { writeFileAtomic } from '../src/util/durable.js';
import { logComponents, logger, setLogLevel } from '../src/log.js';
import { metricsJson } from '../src/metrics/index.js';
import { decode, encode } from './codec.js';
import type { FromWorker, ToWorker, WorkerInit } from './protocol.js';
import type { JobReport } from './mailbox.js';
import type { CreateRole, RoleContext } from './roles/types.js';

const init = workerData as WorkerInit;
const log = logger('actor', { actor: init.id });
const port = parentPort!;

function post(m: FromWorker): void {
  port.postMessage(encode(m));
}

interface Stored {
  machine: string;
  version: number;
  savedAt: number;
  snapshot: unknown;
}

/** The persisted snapshot, or undefined; an unusable file is set aside (never deleted). */
function loadSnapshot(machineId: string, version: number): unknown {
  const p = init.snapshotPath;
  if (!p || !existsSync(p)) return undefined;
  const aside = (why: string) => {
    setAside(why);
    return undefined;
  };
  let s: Stored;
  try {
    s = JSON.parse(readFileSync(p, 'utf8')) as Stored;
  } catch (e) {
    return aside(`does not parse (${(e as Error).message})`);
  }
  if (s?.machine !== machineId) return aside(`belongs to machine "${s?.machine}", not "${machineId}"`);
  if (s.version !== version) return aside(`is version ${s.version}, the machine is version ${version}`);
  return s.snapshot;
}

let nextJob = 1;
const jobs = new Map<number, { resolve(v: { value: unknown; report: JobReport }): void; reject(e: Error): void }>();

const ctx: RoleContext = {
  id: init.id,
  options: init.options,
  log,
  submitProof<T>(kind: string, args: unknown[], opts: { priority?: number; deadline?: number; signal?: AbortSignal } = {}) {
    const id = nextJob++;
    const signal = opts.signal;
    return new Promise<{ value: T; report: JobReport }>((resolve, reject) => {
      const cancelled = (why: string) => Object.assign(new Error(`${kind} job cancelled: ${why}`), { code: 'cancelled' });
      if (signal?.aborted) return reject(cancelled('cancelled before it was submitted'));
      // Cancelled: the caller is answered now; the mailbox stops the job and its late answer is dropped.
      const onAbort = () => {
        if (!jobs.delete(id)) return;
        const why = String(signal?.reason instanceof Error ? signal.reason.message : (signal?.reason ?? 'aborted'));
        post({ t: 'cancel-job', id, reason: why });
        reject(cancelled(why));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      const done = () => signal?.removeEventListener('abort', onAbort);
      jobs.set(id, {
        resolve: (v) => {
          done();
          resolve(v as { value: T; report: JobReport });
        },
        reject: (e) => {
          done();
          reject(e);
        },
      });
      post({ t: 'submit', id, kind, args, priority: opts.priority, deadline: opts.deadline });
    });
  },
};

async function main(): Promise<void> {
  const mod = (await import(init.module)) as { createRole?: CreateRole };
  if (typeof mod.createRole !== 'function') throw new Error(`role module ${init.module} exports no createRole`);
  const def = await mod.createRole(ctx);
  const machineId = def.machine.id;
  let snapshot = loadSnapshot(machineId, def.version);
  let actor: AnyActorRef;
  try {
    actor = createActor(def.machine, snapshot ? { snapshot: snapshot as never } : {});
  } catch (e) {
    if (!snapshot) throw e;
    setAside(`cannot be restored (${(e as Error).message})`);
    snapshot = undefined;
    actor = createActor(def.machine);
  }
  const restored = snapshot !== undefined;
  let lastWritten = '';
  let shuttingDown = false;

  const persist = () => {
    if (!init.snapshotPath) return;
    const s = actor.getSnapshot();
    // Only live states are worth resuming; `stopping` resumes as `running`, so keep that.
    if (s.status !== 'active' || s.matches('stopping')) return;
    const text = JSON.stringify({ machine: machineId, version: def.version, savedAt: 0, snapshot: actor.getPersistedSnapshot() });
    if (text === lastWritten) return;
    lastWritten = text;
    const stored = JSON.parse(text) as Stored;
    stored.savedAt = Date.now();
    writeFileAtomic(init.snapshotPath, JSON.stringify(stored));
  };

  actor.subscribe({
    next: (s) => {
      persist();
      post({ t: 'state', value: stateName(s.value), status: s.status, context: s.context as Record<string, unknown>, restored });
      if (s.status === 'done' && !shuttingDown) {
        const failed = s.matches('failed');
        if (!failed && init.snapshotPath) rmSync(init.snapshotPath, { force: true }); // complete: a restart starts afresh
        post({ t: 'done', reason: failed ? 'failed' : 'final', error: (s.context as { error?: string }).error ?? undefined });
        // Failed: exit non-zero so a transient role is restarted.
        setImmediate(() => process.exit(failed ? 1 : 0));
      }
    },
    error: (e) => {
      // An error thrown inside the machine: crash the worker; the supervisor restarts it.
      setImmediate(() => {
        throw e;
      });
    },
  });

  port.on('message', (raw: Uint8Array) => {
    const m = decode<ToWorker>(raw);
    switch (m.t) {
      case 'event':
        actor.send(m.event);
        break;
      case 'ping':
        post({ t: 'pong', id: m.id, value: stateName(actor.getSnapshot().value) });
        break;
      case 'metrics':
        metricsJson().then(
          (json) => post({ t: 'metrics', id: m.id, json }),
          (err: unknown) => {
            log.error({ err }, "collecting this role's metrics failed");
            post({ t: 'metrics', id: m.id, json: [] });
          },
        );
        break;
      case 'log': {
        let changed = 0;
        let error: string | undefined;
        try {
          if (m.level !== undefined) changed = setLogLevel(m.level, m.component);
        } catch (e) {
          error = (e as Error).message;
        }
        post({ t: 'log', id: m.id, changed, components: logComponents(), ...(error ? { error } : {}) });
        break;
      }
      case 'job-result': {
        const j = jobs.get(m.id);
        if (!j) break;
        jobs.delete(m.id);
        if (m.ok) j.resolve({ value: m.value, report: m.report! });
        else j.reject(Object.assign(new Error(m.error ?? 'proof job failed'), { code: m.code, report: m.report, ...(m.sectors ? { sectors: m.sectors } : {}) }));
        break;
      }
      case 'shutdown':
        shuttingDown = true;
        persist();
        if (actor.getSnapshot().status === 'active') actor.send({ type: 'STOP' });
        waitStopped(actor).then(() => {
          post({ t: 'stopped' });
          setImmediate(() => process.exit(0));
        });
        break;
      case 'crash':
        if (init.allowCrash) crash(m.how);
        break;
    }
  });

  actor.start();
  actor.send({ type: restored ? 'RESUMED' : 'START' });
}

function setAside(why: string): void {
  const p = init.snapshotPath!;
  const to = `${p}.unusable-${Date.now()}`;
  renameSync(p, to);
  log.error({ file: to }, `persisted snapshot ${why}; set aside, starting fresh`);
}

function waitStopped(actor: AnyActorRef): Promise<void> {
  return new Promise((resolve) => {
    if (actor.getSnapshot().status !== 'active') return resolve();
    const sub = actor.subscribe({
      next: (s) => {
        if (s.status !== 'active') {
          sub.unsubscribe();
          resolve();
        }
      },
      error: () => resolve(),
    });
  });
}

function stateName(v: unknown): string {
  if (typeof v === 'string') return v;
  if (v && typeof v === 'object')
    return Object.entries(v as Record<string, unknown>)
      .map(([k, sub]) => `${k}.${stateName(sub)}`)
      .join(',');
  return String(v);
}

/** Test and drill hooks: each way a role's thread can die. */
function crash(how: string): void {
  switch (how) {
    case 'throw':
      setImmediate(() => {
        throw new Error('drill: uncaught exception in the role');
      });
      break;
    case 'reject':
      void Promise.reject(new Error('drill: unhandled rejection in the role'));
      break;
    case 'exit':
      process.exit(7);
      break;
    case 'heap': {
      const hog: unknown[] = [];
      const grow = () => {
        for (let i = 0; i < 1000; i++) hog.push(new Array(1000).fill({ i }));
        setImmediate(grow);
      };
      grow();
      break;
    }
    case 'hang':
      for (;;) {
        // a role stuck in a synchronous loop: only the supervisor's heartbeat notices
      }
  }
}

main().catch((e) => {
  log.error({ err: (e as Error)?.message }, 'role actor failed to start');
  throw e;
});
