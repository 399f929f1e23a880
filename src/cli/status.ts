// `distminer status [--repo DIR] [--json]`: asks the running miner (its local API, address from
// the repo's `api` file, token from `token`) for the supervisor's status and prints it.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type PriorityReport, describePriority } from '../../actors/priority.js';
import type { SupervisorStatus } from '../../actors/supervisor.js';
import type { WindowLeaseStatus } from '../post/window.js';
import { callApi } from '../api/client.js';
import { parseApiMultiaddr } from '../config/multiaddr.js';
import { API_FILE, openRepo, resolveRepoPath } from '../config/repo.js';
import { DEFAULT_API_LISTEN } from '../config/settings.js';

type Status = SupervisorStatus & { miner: string; roles: string[]; sectorId: { mode: string; listen?: string }; throttle: string; priority?: PriorityReport };

const secs = (ms: number) => `${(ms / 1000).toFixed(1)}s`;

export function formatStatus(s: Status): string {
  const out: string[] = [];
  out.push(
    `miner ${s.miner}  roles: ${s.roles.join(', ')}  sector numbers: ${s.sectorId.mode}${s.sectorId.listen ? ` ${s.sectorId.listen}` : ''}  up ${secs(s.uptimeMs)}${s.escalated ? '  ESCALATED' : ''}`,
  );
  out.push('');
  const rows = [['ACTOR', 'STATUS', 'STATE', 'UPTIME', 'RESTARTS', 'DETAIL']];
  for (const a of s.actors) {
    const last = a.lastExit ? `  (last exit: ${a.lastExit.reason})` : '';
    const silent = a.unansweredMs !== undefined ? `UNRESPONSIVE: no heartbeat answer for ${secs(a.unansweredMs)}; ` : '';
    const word = a.unansweredMs !== undefined ? ' UNRESPONSIVE' : a.degraded ? ' DEGRADED' : '';
    rows.push([a.id, `${a.status}${word}`, a.state, secs(a.uptimeMs), String(a.restarts), `${silent}${a.degraded ? `DEGRADED: ${a.degraded}; ` : ''}${a.detail}${last}`]);
  }
  const w = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  for (const r of rows) out.push(r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(w[i]))).join('  '));
  for (const a of s.actors) {
    const l = (a.context as { leases?: WindowLeaseStatus } | undefined)?.leases;
    if (!l) continue;
    out.push('');
    out.push(`${a.id} deadline leases (this host: ${l.host}): ${l.held.length} held, ${l.others.length} held by other hosts`);
    for (const h of l.held) out.push(`  ${h.name}: held by this host until head ${h.untilHead}, last renewed ${new Date(h.renewedAt).toISOString()}`);
    for (const o of l.others) out.push(`  ${o.name}: ${o.holder ?? 'another host'}${o.done ? ' (done: its proof landed)' : ''}`);
  }
  if (s.priority) {
    out.push('');
    out.push(`PoSt CPU priority (nice ${s.priority.target}): ${s.priority.ok ? 'raised' : 'NOT raised in every layer — a load from outside distminer can delay a Winning PoSt'}`);
    for (const l of describePriority(s.priority)) out.push(`  ${l}`);
  }
  const m = s.mailbox;
  if (m) {
    out.push('');
    const q = Object.entries(m.queued)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ');
    out.push(`mailbox (throttle: ${s.throttle}): queued ${q}; running ${m.running.length}; done ${m.totals.done}, failed ${m.totals.failed}, cancelled ${m.totals.cancelled}`);
    for (const j of m.running)
      out.push(
        `  job ${j.id} ${j.kind} on ${j.lane}: running ${secs(j.runMs)}, waited ${secs(j.waitMs)}, throttled ${secs(j.throttledMs)}${j.pid ? `, pid ${j.pid}` : ''}${j.submitter ? `, from ${j.submitter}` : ''}`,
      );
    for (const j of m.queue) out.push(`  job ${j.id} ${j.kind} queued ${secs(j.waitMs)}${j.submitter ? `, from ${j.submitter}` : ''}`);
    for (const j of m.recent.slice(-5)) out.push(`  job ${j.id} ${j.kind} ${j.state}: waited ${secs(j.waitMs)}, ran ${secs(j.runMs)}${j.error ? ` — ${j.error}` : ''}`);
  }
  return out.join('\n') + '\n';
}

export async function main(flags: { repo?: string; json?: boolean }): Promise<number> {
  const path = resolveRepoPath(flags.repo);
  const repo = openRepo(path);
  const apiFile = join(path, API_FILE);
  // The running miner writes the address it really listens on; the config's is the fallback.
  const addrText = existsSync(apiFile) ? readFileSync(apiFile, 'utf8').trim() : (repo.config.apiListen ?? DEFAULT_API_LISTEN);
  const st = await callApi<Status>(parseApiMultiaddr(addrText, existsSync(apiFile) ? apiFile : 'config.toml [API] ListenAddress'), repo.token, 'Distminer.Status');
  process.stdout.write(flags.json ? JSON.stringify(st, null, 2) + '\n' : formatStatus(st));
  return 0;
}
