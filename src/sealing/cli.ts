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
import { SEAL_API_FILE, type SectorView } from './service.js';

function flag(args: string[], name: string): string | undefined {
  const i = args.findIndex((a) => a === `--${name}` || a.startsWith(`--${name}=`));
  if (i < 0) return undefined;
  return args[i].includes('=') ? args[i].slice(args[i].indexOf('=') + 1) : args[i + 1];
}

function positional(args: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i].startsWith('--')) {
      if (!args[i].includes('=')) i++;
      continue;
    }
    out.push(args[i]);
  }
  return out;
}

function endpoint(args: string[]): { url: string; token: string } {
  const api = flag(args, 'api');
  if (api) {
    const i = api.indexOf(':');
    const hp = parseApiMultiaddr(api.slice(i + 1), '--api');
    return { url: `http://${hp.host}:${hp.port}`, token: api.slice(0, i) };
  }
  const repo = resolveRepoPath(flag(args, 'repo'));
  const f = join(repo, SEAL_API_FILE);
  if (!existsSync(f)) {
    throw Object.assign(new Error(`no seal service has run from ${repo} (${f} is missing)`), {
      hint: 'this miner does not seal (a PoSt miner holds no sector list: run this on the seal or deal miner), or it has not started yet',
    });
  }
  const hp = parseApiMultiaddr(readFileSync(f, 'utf8').trim(), SEAL_API_FILE);
  return { url: `http://${hp.host}:${hp.port}`, token: readToken(repo) };
}

async function call<T>(args: string[], method: string, params: unknown[] = []): Promise<T> {
  const { url, token } = endpoint(args);
  let res: Response;
  try {
    res = await fetch(`${url}/rpc/v0`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }), signal: AbortSignal.timeout(30_000) });
  } catch (e) {
    throw Object.assign(new Error(`cannot reach the seal service at ${url}: ${(e as Error).message}`), { hint: 'is the seal miner running?' });
  }
  const body = (await res.json()) as { result?: T; error?: { message: string } };
  if (body.error) throw new Error(body.error.message);
  return body.result as T;
}

function table(headers: string[], rows: (string | number)[][]): string {
  const w = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  return [headers, ...rows].map((r) => r.map((c, i) => String(c).padEnd(w[i])).join('  ').trimEnd()).join('\n') + '\n';
}

function ago(ms: number): string {
  const s = Math.round(ms / 1000);
  return s < 60 ? `${s}s` : s < 3600 ? `${Math.floor(s / 60)}m${s % 60}s` : `${Math.floor(s / 3600)}h${Math.floor((s % 3600) / 60)}m`;
}

const gib = (b: number) => `${(b / 2 ** 30).toFixed(1)}GiB`;

export async function sectors(args: string[]): Promise<number> {
  const [sub, arg] = positional(args);
  const json = args.includes('--json');
  const out = (v: unknown, text: string) => process.stdout.write(json ? JSON.stringify(v, null, 2) + '\n' : text);
  switch (sub) {
    case 'pledge': {
      const n = arg === undefined ? 1 : Number(arg);
      if (!Number.isSafeInteger(n) || n < 1 || n > 1000) throw new Error('sectors pledge [N]: N must be 1..1000');
      const nums = await call<number[]>(args, 'SectorsPledge', [n]);
      out(nums, nums.map((x) => `Created CC sector: ${x}`).join('\n') + '\n');
      return 0;
    }
    case 'list': {
      const l = await call<SectorView[]>(args, 'SectorsList');
      out(l, table(['ID', 'State', 'OnChain', 'Active', 'Expiration', 'Deals'], l.map((s) => [s.number, s.state, s.onChain ? 'YES' : 'NO', s.active ? 'YES' : 'NO', s.expiration ?? '-', s.deals.length ? s.deals.join(',') : 'CC'])));
      return 0;
    }
    case 'status': {
      const n = Number(arg);
      if (!Number.isSafeInteger(n) || n < 0) throw new Error('sectors status N: give a sector number');
      const s = await call<SectorView>(args, 'SectorsStatus', [n]);
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
      out(s, lines.join('\n') + '\n');
      return 0;
    }
    case 'retry': {
      const n = Number(arg);
      if (!Number.isSafeInteger(n) || n < 0) throw new Error('sectors retry N: give a sector number');
      const s = await call<SectorView>(args, 'SectorsRetry', [n]);
      out(s, `sector ${n}: retrying from ${s.state}\n`);
      return 0;
    }
    case 'remove': {
      const n = Number(arg);
      if (!Number.isSafeInteger(n) || n < 0) throw new Error('sectors remove N: give a sector number');
      if (!args.includes('--really-do-it')) throw new Error('removing a sector loses its power if it is proving: pass --really-do-it');
      await call(args, 'SectorsRemove', [n]);
      out(true, `sector ${n} removed from the pipeline\n`);
      return 0;
    }
    default:
      process.stderr.write('usage: distminer sectors pledge [N] | list | status N | retry N | remove N --really-do-it  [--repo DIR | --api TOKEN:MULTIADDR] [--json]\n');
      return 2;
  }
}

export async function sealing(args: string[]): Promise<number> {
  const [sub] = positional(args);
  const json = args.includes('--json');
  switch (sub) {
    case 'jobs': {
      const jobs = await call<JobRow[]>(args, 'SealingJobs');
      process.stdout.write(json ? JSON.stringify(jobs, null, 2) + '\n' : table(['ID', 'Sector', 'Worker', 'Task', 'State', 'Time'], jobs.map((j) => [j.taskId.slice(0, 8), j.sector, j.worker ?? '-', j.task, j.state, ago(j.sinceMs)])));
      return 0;
    }
    case 'workers': {
      const ws = await call<WorkerRow[]>(args, 'SealingWorkers');
      if (json) process.stdout.write(JSON.stringify(ws, null, 2) + '\n');
      else
        process.stdout.write(
          table(
            ['Worker', 'Host', 'State', 'Tasks', 'CPU', 'RAM', 'GPU', 'Heartbeat', 'Accepts'],
            ws.map((w) => [w.id, w.hostname, w.connected ? 'connected' : 'away', w.tasks, `${w.used.cores}/${w.resources.cores} cores`, `${gib(w.used.memoryBytes)}/${gib(w.resources.memoryBytes)}`, `${w.used.gpus}/${w.resources.gpus}`, `${ago(w.lastHeartbeatMsAgo)} ago`, w.taskTypes.join(',')]),
          ),
        );
      return 0;
    }
    default:
      process.stderr.write('usage: distminer sealing jobs | workers  [--repo DIR | --api TOKEN:MULTIADDR] [--json]\n');
      return 2;
  }
}
