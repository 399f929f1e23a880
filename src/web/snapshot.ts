// What the web status page shows, built from what the miner already has: `Distminer.Status`
// (the supervisor's status: actors, their state and degraded reason, the mailbox) and the
// metrics (every thread's registry, as /debug/metrics serves them). The alerts are the
// conditions of alerts/distminer.rules.yml that the miner can evaluate on its own (no history:
// a counter rule "increase over 1h > 0" becomes "since this process started").
import { hostname } from 'node:os';
import type { MetricsJson } from '../metrics/index.js';

export interface Sample {
  labels: Record<string, string>;
  value: number;
}

export interface Alert {
  /** The alert rule's name (alerts/distminer.rules.yml). */
  name: string;
  severity: 'critical' | 'warning';
  summary: string;
}

export interface ActorRow {
  id: string;
  status: string;
  state: string;
  detail: string;
  degraded?: string;
  /** Its thread has not answered the supervisor's heartbeat for this long (ms): stuck or starved. */
  unansweredMs?: number;
  restarts: number;
  uptimeMs: number;
  lastExit?: { at: number; reason: string; abnormal: boolean };
  data?: Record<string, unknown>;
}

/** Another host of the cluster, as its own page's snapshot showed it (or why it did not answer). */
export interface PeerView {
  /** The peer's API address as configured (no token). */
  endpoint: string;
  ok: boolean;
  error?: string;
  host?: string;
  miner?: string;
  roles?: string[];
  uptimeMs?: number;
  actors?: ActorRow[];
  alerts?: Alert[];
}

export interface Snapshot {
  at: number;
  /** The other hosts of the cluster ([Distminer] ClusterPeers), when this is the whole-cluster view. */
  peers?: PeerView[];
  /** This host's name (each host of a cluster serves its own page). */
  host?: string;
  miner?: string;
  roles?: string[];
  uptimeMs?: number;
  escalated?: boolean;
  actors: ActorRow[];
  mailbox?: unknown;
  alerts: Alert[];
  /** Metric families the page shows, by name: their samples (histograms left out). */
  metrics: Record<string, Sample[]>;
  /** What could not be read for this snapshot. */
  errors: string[];
}

/** The families the page shows (and the alerts read). */
export const PAGE_METRICS = [
  'distminer_windowpost_deadline_margin_seconds',
  'distminer_windowpost_deadline_window_seconds',
  'distminer_windowpost_deadlines_proven_total',
  'distminer_windowpost_deadlines_missed_total',
  'distminer_windowpost_submitted_total',
  'distminer_windowpost_next_deadline_gas_attofil',
  'distminer_faults_declared_total',
  'distminer_recoveries_declared_total',
  'distminer_winningpost_rounds_total',
  'distminer_winningpost_blocks_abandoned_total',
  'distminer_seal_workers_connected',
  'distminer_sectors',
  'distminer_deals',
  'distminer_deal_uploads_total',
  'distminer_sectorid_numbers_handed_out_total',
  'distminer_sectorid_server_reachable',
  'distminer_chain_head_lag_seconds',
  'distminer_chain_failovers_total',
  'distminer_wallet_balance_attofil',
  'distminer_storage_free_bytes',
  'distminer_storage_capacity_bytes',
  'distminer_mailbox_queued_jobs',
  'distminer_mailbox_lane_busy',
  'distminer_post_priority_raised',
  'distminer_actor_metrics_timeouts_total',
] as const;

type StatusLike = {
  miner?: unknown;
  roles?: unknown;
  uptimeMs?: unknown;
  escalated?: unknown;
  mailbox?: unknown;
  actors?: Array<{ id?: unknown; status?: unknown; state?: unknown; detail?: unknown; degraded?: unknown; unansweredMs?: unknown; restarts?: unknown; uptimeMs?: unknown; lastExit?: unknown; context?: { data?: unknown } }>;
};

export const UNRESPONSIVE_HOLD_MS = 60_000;

/** Remembers counters between snapshots: whether one went up within the last `holdMs`. */
export class CounterMemory {
  private readonly seen = new Map<string, { value: number; movedAt: number | null }>();
  constructor(private readonly holdMs = UNRESPONSIVE_HOLD_MS) {}
  moved(key: string, value: number, now: number): boolean {
    const prev = this.seen.get(key);
    // A counter already above 0 when first seen counts as moved now (when is not known).
    const movedAt = prev === undefined ? (value > 0 ? now : null) : value > prev.value ? now : value < prev.value ? null : prev.movedAt;
    this.seen.set(key, { value, movedAt });
    return movedAt !== null && now - movedAt < this.holdMs;
  }
}

const str = (x: unknown, d = ''): string => (typeof x === 'string' ? x : d);
const num = (x: unknown): number => (typeof x === 'number' && Number.isFinite(x) ? x : 0);

export function buildSnapshot(status: unknown, metricsJson: MetricsJson, errors: string[] = [], memory?: CounterMemory): Snapshot {
  const st = (status && typeof status === 'object' ? status : {}) as StatusLike;
  const actors: ActorRow[] = (Array.isArray(st.actors) ? st.actors : []).map((a) => ({
    id: str(a.id, '?'),
    status: str(a.status, '?'),
    state: str(a.state),
    detail: str(a.detail),
    ...(typeof a.degraded === 'string' ? { degraded: a.degraded } : {}),
    ...(num(a.unansweredMs) > 0 ? { unansweredMs: num(a.unansweredMs) } : {}),
    restarts: num(a.restarts),
    uptimeMs: num(a.uptimeMs),
    ...(a.lastExit && typeof a.lastExit === 'object' ? { lastExit: a.lastExit as ActorRow['lastExit'] } : {}),
    ...(a.context?.data && typeof a.context.data === 'object' ? { data: a.context.data as Record<string, unknown> } : {}),
  }));
  const wanted = new Set<string>(PAGE_METRICS);
  const metrics: Record<string, Sample[]> = {};
  for (const m of metricsJson) {
    if (!wanted.has(m.name) || String(m.type) === 'histogram' || String(m.type) === 'summary') continue;
    const list = (metrics[m.name] ??= []);
    for (const v of m.values) list.push({ labels: Object.fromEntries(Object.entries(v.labels ?? {}).map(([k, x]) => [k, String(x)])), value: Number(v.value) });
  }
  const snap: Snapshot = {
    at: Date.now(),
    host: hostname(),
    ...(typeof st.miner === 'string' ? { miner: st.miner } : {}),
    ...(Array.isArray(st.roles) ? { roles: st.roles.map(String) } : {}),
    ...(typeof st.uptimeMs === 'number' ? { uptimeMs: st.uptimeMs } : {}),
    escalated: st.escalated === true,
    actors,
    ...(st.mailbox !== undefined ? { mailbox: st.mailbox } : {}),
    alerts: [],
    metrics,
    errors,
  };
  snap.alerts = evaluateAlerts(snap, memory);
  return snap;
}

const fmtLabels = (l: Record<string, string>, skip: string[] = []) =>
  Object.entries(l)
    .filter(([k]) => !skip.includes(k))
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');

/** The alert rules' conditions, on one snapshot. */
export function evaluateAlerts(s: Snapshot, memory?: CounterMemory): Alert[] {
  const out: Alert[] = [];
  const m = (name: string) => s.metrics[name] ?? [];
  if (s.escalated) out.push({ name: 'DistminerEscalated', severity: 'critical', summary: 'the supervisor gave up restarting a role (restart intensity exceeded); the miner is stopping' });
  for (const a of s.actors) {
    if (a.status !== 'running' && a.status !== 'done') {
      out.push({ name: 'DistminerRoleDown', severity: 'critical', summary: `role ${a.id} is ${a.status}${a.lastExit ? ` (last exit: ${a.lastExit.reason})` : ''}` });
    } else if (a.degraded) {
      out.push({ name: 'DistminerRoleDegraded', severity: 'critical', summary: `role ${a.id} is degraded: ${a.degraded}` });
    }
    const gone = num((a.data?.storageChecks as Record<string, unknown> | undefined)?.gone);
    if (gone > 0) out.push({ name: 'DistminerSectorFileGone', severity: 'critical', summary: `role ${a.id}: ${gone} sector file check(s) since the miner started found a sector's files gone (see the role's storageChecks)` });
  }
  // A role thread that is stuck in a loop or starved of CPU. Seen first by the supervisor's
  // heartbeat (every second: status() reports a thread silent for 3 s), which needs no scrape;
  // a thread that missed a metrics request (2 s) recently, while answering heartbeats again,
  // is shown as well for UNRESPONSIVE_HOLD_MS, so that a short stall is not lost between polls.
  const silent = new Set<string>();
  for (const a of s.actors) {
    if (a.unansweredMs === undefined) continue;
    silent.add(a.id);
    out.push({ name: 'DistminerRoleUnresponsive', severity: 'critical', summary: `role ${a.id} has not answered the supervisor for ${Math.round(a.unansweredMs / 1000)} s (stuck or starved of CPU); it is restarted if it stays silent for 30 s` });
  }
  for (const x of m('distminer_actor_metrics_timeouts_total')) {
    const role = x.labels.role ?? '?';
    if (memory?.moved(`timeouts:${role}`, x.value, s.at) && !silent.has(role)) out.push({ name: 'DistminerRoleUnresponsive', severity: 'critical', summary: `role ${role} did not answer within 2 s (stuck or overloaded); ${x.value} time(s) since the miner started` });
  }
  for (const x of m('distminer_windowpost_deadline_margin_seconds')) {
    // The rule's threshold: the window's last sixth, at most 300 s (alerts/distminer.rules.yml).
    const len = m('distminer_windowpost_deadline_window_seconds').find((w) => w.labels.miner === x.labels.miner && w.labels.deadline === x.labels.deadline)?.value;
    if (x.value < Math.min(300, len !== undefined ? len / 6 : 300)) out.push({ name: 'DistminerDeadlineAtRisk', severity: 'critical', summary: `deadline ${x.labels.deadline ?? '?'} of ${x.labels.miner ?? '?'}: ${Math.round(x.value)} s left with partitions unproven` });
  }
  const counterAlert = (metric: string, name: string, what: string) => {
    for (const x of m(metric)) if (x.value > 0) out.push({ name, severity: 'critical', summary: `${what}: ${x.value} since the miner started (${fmtLabels(x.labels)})` });
  };
  counterAlert('distminer_windowpost_deadlines_missed_total', 'DistminerDeadlineMissed', 'Window PoSt deadlines missed');
  counterAlert('distminer_faults_declared_total', 'DistminerFaultDeclared', 'sectors declared faulty');
  counterAlert('distminer_winningpost_blocks_abandoned_total', 'DistminerBlockAbandoned', 'won blocks abandoned');
  for (const x of m('distminer_chain_failovers_total')) {
    if (x.value > 0) out.push({ name: 'DistminerChainNodeFailedOver', severity: 'warning', summary: `chain node failovers: ${x.value} since start (${fmtLabels(x.labels)})` });
  }
  for (const x of m('distminer_chain_head_lag_seconds')) {
    if (x.value > 120) out.push({ name: 'DistminerChainNodeBehind', severity: 'warning', summary: `the chain head is ${Math.round(x.value)} s behind (${fmtLabels(x.labels)})` });
  }
  for (const x of m('distminer_sectorid_server_reachable')) {
    if (x.value === 0) out.push({ name: 'DistminerSectorNumberServerUnreachable', severity: 'critical', summary: `sector number server ${x.labels.server ?? '?'} is unreachable` });
  }
  for (const x of m('distminer_post_priority_raised')) {
    if (x.value === 0 && x.labels.layer !== 'cgroup') out.push({ name: 'DistminerPoStPriorityNotRaised', severity: 'warning', summary: `PoSt CPU priority not raised (${fmtLabels(x.labels)})` });
  }
  for (const b of m('distminer_wallet_balance_attofil')) {
    const gas = m('distminer_windowpost_next_deadline_gas_attofil').find((g) => g.labels.miner === b.labels.miner);
    if (gas && b.value < gas.value) out.push({ name: 'DistminerWalletBelowDeadlineGas', severity: 'critical', summary: `wallet ${b.labels.address ?? '?'} holds ${b.value} attoFIL, under the next deadline's gas ${gas.value}` });
  }
  for (const f of m('distminer_storage_free_bytes')) {
    const cap = m('distminer_storage_capacity_bytes').find((c) => c.labels.path === f.labels.path && c.labels.role === f.labels.role);
    if (cap && cap.value > 0 && f.value / cap.value < 0.05) out.push({ name: 'DistminerStorageNearlyFull', severity: 'warning', summary: `storage ${f.labels.path ?? '?'}: ${((100 * f.value) / cap.value).toFixed(1)}% free` });
  }
  return out;
}

/**
 * The cluster's alerts beside this host's: a peer that did not answer, a peer of another miner
 * id (a misconfigured ClusterPeers entry), and every alert a peer raised, named by its host.
 */
export function peerAlerts(miner: string | undefined, peers: PeerView[]): Alert[] {
  const out: Alert[] = [];
  for (const p of peers) {
    if (!p.ok) {
      out.push({ name: 'DistminerPeerUnreachable', severity: 'critical', summary: `cluster host ${p.endpoint} did not answer: ${p.error ?? 'no answer'}` });
      continue;
    }
    const who = p.host ?? p.endpoint;
    if (miner && p.miner && p.miner !== miner) out.push({ name: 'DistminerPeerOtherMiner', severity: 'warning', summary: `cluster host ${who} (${p.endpoint}) mines ${p.miner}, not ${miner}: check [Distminer] ClusterPeers` });
    for (const a of p.alerts ?? []) out.push({ name: a.name, severity: a.severity, summary: `${who}: ${a.summary}` });
  }
  return out;
}
