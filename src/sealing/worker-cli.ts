// `distminer worker`: a seal worker process. It connects to exactly one miner:
//   distminer worker --miner-api TOKEN:/ip4/10.0.0.5/tcp/2346/http --dir /sealing
// (or MINER_API_INFO in the environment), and runs the tasks that miner gives it.
//   --tasks AddPiece,PreCommit1,...   task types it accepts (default: all)
//   --cores N --memory 64GiB --gpus N resources it offers (default: this machine's)
//   --storage DIR                     root for relative Finalize destinations (shared storage)
//   --nice N                          CPU priority of its proofs (default 19; see below)
import { availableParallelism, setPriority, totalmem } from 'node:os';
import { parseApiMultiaddr } from '../config/multiaddr.js';
import { logger } from '../log.js';
import { TASK_TYPES, type TaskType } from './protocol.js';
import { WORKER_PATH } from './scheduler.js';
import { SealWorker } from './worker.js';

/** `distminer worker`'s options, parsed by commander (src/cli/program.ts). */
export interface WorkerOptions {
  minerApi?: string;
  dir?: string;
  tasks?: string;
  cores?: string;
  memory?: string;
  gpus?: string;
  storage?: string;
  nice?: string;
}

function parseBytes(s: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(B|KiB|MiB|GiB|TiB)?$/i.exec(s.trim());
  if (!m) throw new Error(`cannot read "${s}" as a size (e.g. 64GiB)`);
  const unit = { b: 1, kib: 2 ** 10, mib: 2 ** 20, gib: 2 ** 30, tib: 2 ** 40 }[(m[2] ?? 'B').toLowerCase()]!;
  return Math.floor(Number(m[1]) * unit);
}

/** "TOKEN:/ip4/H/tcp/P/http" → ws URL and token. */
export function parseMinerApiInfo(info: string): { url: string; token: string } {
  const i = info.indexOf(':');
  if (i <= 0) throw new Error('miner API info must look like TOKEN:/ip4/127.0.0.1/tcp/2346/http');
  const token = info.slice(0, i);
  const hp = parseApiMultiaddr(info.slice(i + 1), 'miner API address');
  return { url: `ws://${hp.host}:${hp.port}${WORKER_PATH}`, token };
}

export async function main(o: WorkerOptions): Promise<number> {
  const log = logger('worker');
  const info = o.minerApi ?? process.env.MINER_API_INFO;
  if (!info) {
    process.stderr.write('worker: give the miner to work for with --miner-api TOKEN:/ip4/IP/tcp/PORT/http (or MINER_API_INFO)\n');
    return 2;
  }
  const dir = o.dir ?? process.env.DISTMINER_WORKER_PATH;
  if (!dir) {
    process.stderr.write('worker: give its sealing directory with --dir DIR (or DISTMINER_WORKER_PATH)\n');
    return 2;
  }
  const { url, token } = parseMinerApiInfo(info);
  const tasks = (o.tasks ?? TASK_TYPES.join(',')).split(',').map((s) => s.trim()) as TaskType[];
  const bad = tasks.filter((t) => !TASK_TYPES.includes(t));
  if (bad.length) {
    process.stderr.write(`worker: unknown task types ${bad.join(', ')} (known: ${TASK_TYPES.join(', ')})\n`);
    return 2;
  }
  // Proof threads inherit the priority of the thread that creates them, so set it before
  // the first proof: a worker sharing a host with a PoSt miner then yields the CPU to it
  // (measured: a Winning PoSt beside a Commit2 takes 2.0x as long, 1.09x at nice 19). On a
  // host of its own the priority costs nothing.
  const nice = Number(o.nice ?? 19);
  try {
    setPriority(nice);
  } catch (e) {
    log.warn({ err: e }, "cannot lower this worker's priority");
  }
  const worker = new SealWorker({
    url,
    token,
    dir,
    taskTypes: tasks,
    storageRoot: o.storage,
    resources: {
      cores: Number(o.cores ?? availableParallelism()),
      memoryBytes: o.memory ? parseBytes(o.memory) : totalmem(),
      gpus: Number(o.gpus ?? 0),
    },
  });
  log.info({ id: worker.id, url, tasks, dir }, 'seal worker starting');
  worker.start();
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  log.info('seal worker stopping (running proofs finish first)');
  await worker.stop();
  return 0;
}
