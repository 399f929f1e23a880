// Operator commands of a seal (or deal) miner, shaped like lotus-miner's:
//   distminer sectors pledge [N] | sectors list | sectors status N | sectors retry N | sectors remove N
//   distminer sealing jobs | sealing workers
// They talk to the running seal service named in <repo>/sealing-api with the repo's token
// (or --api TOKEN:/ip4/…/tcp/…/http). On a PoSt miner there is no seal service: `sectors list`
// says so, as the seed describes (PoSt miners hold no sector metadata).
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseApiMultiaddr } from '../config/multiaddr.js';
import { readToken, resolveRepoPath } from '../config/repo.js';
import type { JobRow, WorkerRow } from './scheduler.js';
import { SEAL_API_FILE } from './client.js';
import type { SectorView } from './service.js';
import { RpcTransportError, rpcCall } from '../net/rpc-client.js';

/** The options of `sectors …` and `sealing …`, parsed by commander (src/cli/program.ts). */
export interface SealCliOptions {
  repo?: string;
  api?: string;
  json?: boolean;
  reallyDoIt?: boolean;
}

function endpoint(o: SealCliOptions): { url: string; token: string } {
  const api = o.api;
  if (api) {
    const i = api.indexOf(':');
    const hp = parseApiMultiaddr(api.slice(i + 1), '--api');
    return { url: `http://${hp.host}:${hp.port}`, token: api.slice(0, i) };
  }
  const repo = resolveRepoPath(o.repo);
  const f = join(repo, SEAL_API_FILE);
  if (!existsSync(f)) {
    throw Object.assign(new Error(`no seal service has run from ${repo} (${f} is missing)`), {
      hint: 'this miner does not seal (a PoSt miner holds no sector list: run this on the seal or deal miner), or it has not started yet',
    });
  }
  const hp = parseApiMultiaddr(readFileSync(f, 'utf8').trim(), SEAL_API_FILE);
  return { url: `http://${hp.host}:${hp.port}`, token: readToken(repo) };
}

async function call<T>(o: SealCliOptions, method: string, params: unknown[] = []): Promise<T> {
  const { url, token } = endpoint(o);
  try {
    return await rpcCall<T>(`${url}/rpc/v0`, method, params, { token, timeoutMs: 30_000 });
  } catch (e) {
    if (e instanceof RpcTransportError) throw Object.assign(new Error(`cannot reach the seal service at ${url}: ${e.message}`, { cause: e }), { hint: 'is the seal miner running?' });
    throw e;
  }
}

function table(headers: string[], rows: (string | number)[][]): string {
  const w = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  return (
    [headers, ...rows]
      .map((r) =>
        r
          .map((c, i) => String(c).padEnd(w[i]))
          .join('  ')
          .trimEnd(),
      )
      .join('\n') + '\n'
  );
}

function ago(ms: number): string {
  const s = Math.round(ms / 1000);
  return s < 60 ? `${s}s` : s < 3600 ? `${Math.floor(s / 60)}m${s % 60}s` : `${Math.floor(s / 3600)}h${Math.floor((s % 3600) / 60)}m`;
}

const gib = (b: number) => `${(b / 2 ** 30).toFixed(1)}GiB`;

/** The text, or with --json the data. */
function out(o: SealCliOptions, v: unknown, text: string): void {
  process.stdout.write(o.json ? JSON.stringify(v, null, 2) + '\n' : text);
}

function sectorNumber(arg: string, what: string): number {
  const n = Number(arg);
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`sectors ${what} N: give a sector number`);
  return n;
}

/** `distminer sectors pledge [N]` */
export async function pledge(o: SealCliOptions, arg: string | undefined): Promise<number> {
  const n = arg === undefined ? 1 : Number(arg);
  if (!Number.isSafeInteger(n) || n < 1 || n > 1000) throw new Error('sectors pledge [N]: N must be 1..1000');
  const nums = await call<number[]>(o, 'SectorsPledge', [n]);
  out(o, nums, nums.map((x) => `Created CC sector: ${x}`).join('\n') + '\n');
  return 0;
}

/** `distminer sectors list` */
export async function list(o: SealCliOptions): Promise<number> {
  const l = await call<SectorView[]>(o, 'SectorsList');
  out(
    o,
    l,
    table(
      ['ID', 'State', 'OnChain', 'Active', 'Expiration', 'Deals'],
      l.map((s) => [s.number, s.state, s.onChain ? 'YES' : 'NO', s.active ? 'YES' : 'NO', s.expiration ?? '-', s.deals.length ? s.deals.join(',') : 'CC']),
    ),
  );
  return 0;
}

/** `distminer sectors status N` */
export async function status(o: SealCliOptions, arg: string): Promise<number> {
  const n = sectorNumber(arg, 'status');
  const s = await call<SectorView>(o, 'SectorsStatus', [n]);
  const lines = [
    `SectorID:\t${s.number}`,
    `Status:\t\t${s.state}`,
    `CIDcommD:\t${s.unsealedCid ?? '<nil>'}`,
    `CIDcommR:\t${s.sealedCid ?? '<nil>'}`,
    `Ticket:\t\tepoch ${s.ticketEpoch ?? '-'}`,
    `PreCommit:\tepoch ${s.preCommitEpoch ?? '-'}`,
    `Seed:\t\tepoch ${s.seedEpoch ?? '-'}`,
    `Worker:\t\t${s.worker ?? '-'}`,
    `Deals:\t\t${s.deals.length ? s.deals.join(', ') : '[]'}`,
    ...(s.preCommitMsg ? [`PreCommit msg:\t${s.preCommitMsg} (deposit ${s.preCommitValue ?? '?'} attoFIL)`] : []),
    ...(s.commitMsg ? [`Commit msg:\t${s.commitMsg} (pledge ${s.commitValue ?? '?'} attoFIL)`] : []),
    `Retries:\t${s.retries}`,
    ...(s.failure ? [`LastErr:\t${s.failure}`] : []),
    ...(s.sealedPath ? [`Sealed:\t\t${s.sealedPath}`] : []),
    '',
    'Event Log:',
    ...s.log.map((l, i) => `${i}.\t${l.at}:\t[${l.state}]${l.note ? `\t${l.note}` : ''}`),
  ];
  out(o, s, lines.join('\n') + '\n');
  return 0;
}

/** `distminer sectors retry N` */
export async function retry(o: SealCliOptions, arg: string): Promise<number> {
  const n = sectorNumber(arg, 'retry');
  const s = await call<SectorView>(o, 'SectorsRetry', [n]);
  out(o, s, `sector ${n}: retrying from ${s.state}\n`);
  return 0;
}

/** `distminer sectors remove N --really-do-it` */
export async function remove(o: SealCliOptions, arg: string): Promise<number> {
  const n = sectorNumber(arg, 'remove');
  if (o.reallyDoIt !== true) throw new Error('removing a sector loses its power if it is proving: pass --really-do-it');
  await call(o, 'SectorsRemove', [n]);
  out(o, true, `sector ${n} removed from the pipeline\n`);
  return 0;
}

/** `distminer sealing jobs` */
export async function jobs(o: SealCliOptions): Promise<number> {
  const jobs = await call<JobRow[]>(o, 'SealingJobs');
  out(
    o,
    jobs,
    table(
      ['ID', 'Sector', 'Worker', 'Task', 'State', 'Time'],
      jobs.map((j) => [j.taskId.slice(0, 8), j.sector, j.worker ?? '-', j.task, j.state, ago(j.sinceMs)]),
    ),
  );
  return 0;
}

/** `distminer sealing workers` */
export async function workers(o: SealCliOptions): Promise<number> {
  const ws = await call<WorkerRow[]>(o, 'SealingWorkers');
  if (o.json) process.stdout.write(JSON.stringify(ws, null, 2) + '\n');
  else
    process.stdout.write(
      table(
        ['Worker', 'Host', 'State', 'Tasks', 'CPU', 'RAM', 'GPU', 'Heartbeat', 'Accepts'],
        ws.map((w) => [
          w.id,
          w.hostname,
          w.connected ? 'connected' : 'away',
          w.tasks,
          `${w.used.cores}/${w.resources.cores} cores`,
          `${gib(w.used.memoryBytes)}/${gib(w.resources.memoryBytes)}`,
          `${w.used.gpus}/${w.resources.gpus}`,
          `${ago(w.lastHeartbeatMsAgo)} ago`,
          w.taskTypes.join(','),
        ]),
      ),
    );
  return 0;
}
