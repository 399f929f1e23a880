// The shipped Grafana dashboard (dashboards/distminer.json): every panel has queries, every
// query is valid PromQL (Grafana's variables filled in, then checked by `promtool check rules`
// as recording rules; scripts/promtool.sh installs promtool when missing, never skips), and
// every distminer_ / Node metric a query uses is one this code registers. The checks are shown
// to fail for a misspelled metric and a broken expression.
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { enableDefaultMetrics, registry } from '../../src/metrics/index.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const DASHBOARD = join(ROOT, 'dashboards/distminer.json');

interface Panel {
  id: number;
  type: string;
  title: string;
  targets?: Array<{ expr: string; refId: string }>;
  panels?: Panel[];
}

function promtool(args: string[]): { code: number | null; out: string } {
  const r = spawnSync(join(ROOT, 'scripts/promtool.sh'), args, { cwd: ROOT, encoding: 'utf8', timeout: 300_000 });
  return { code: r.status, out: `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? String(r.error) : ''}` };
}

test.before(() => {
  const r = promtool([]);
  if (r.code !== 0) throw new Error(`promtool is not available and could not be installed (scripts/promtool.sh exited ${r.code}):\n${r.out}`);
});

/** The dashboard's panels (rows' nested ones too), rows left out. */
function panelsOf(text: string): Panel[] {
  const d = JSON.parse(text) as { panels: Panel[] };
  const out: Panel[] = [];
  const walk = (ps: Panel[]) => {
    for (const p of ps) {
      if (p.type !== 'row') out.push(p);
      if (p.panels) walk(p.panels);
    }
  };
  walk(d.panels);
  return out;
}

/** A query with Grafana's variables replaced as Grafana would (All = `.*`, intervals). */
function fill(expr: string): string {
  return expr.replaceAll('$__rate_interval', '5m').replaceAll('$__interval', '1m').replaceAll('$__range', '1h').replaceAll('$instance', '.*');
}

const queries = (ps: Panel[]) => ps.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p, refId: t.refId, expr: fill(t.expr) })));

/** `promtool check rules` on every query as a recording rule. */
function checkSyntax(ps: Panel[]): { code: number | null; out: string; n: number } {
  const dir = mkdtempSync(join(tmpdir(), 'distminer-dashboard-'));
  try {
    const qs = queries(ps);
    // JSON strings are valid YAML double-quoted scalars.
    const rules = qs.map((q) => `      - record: dashboard:panel_${q.panel.id}_${q.refId}\n        expr: ${JSON.stringify(q.expr)}\n`).join('');
    const file = join(dir, 'dashboard.rules.yml');
    writeFileSync(file, `groups:\n  - name: dashboard\n    rules:\n${rules}`);
    return { ...promtool(['check', 'rules', file]), n: qs.length };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Metric names the queries use (histogram series folded to their family) and those not registered. */
function unknownMetrics(ps: Panel[], registered: Set<string>): { used: Set<string>; unknown: string[] } {
  const used = new Set<string>();
  for (const q of queries(ps)) {
    for (const m of q.expr.matchAll(/\b((?:distminer|nodejs|process)_[a-z0-9_]+)/g)) used.add(m[1].replace(/_(bucket|sum|count)$/, ''));
  }
  return { used, unknown: [...used].filter((n) => !registered.has(n)) };
}

async function registeredNames(): Promise<Set<string>> {
  // Loading the modules registers their metrics in this thread's registry (as alerts.test.ts).
  await Promise.all([
    import('../../actors/supervisor.js'),
    import('../../actors/mailbox.js'),
    import('../../actors/priority.js'),
    import('../../actors/roles/sector-id.js'),
    import('../../actors/roles/window-post.js'),
    import('../../actors/roles/winning-post.js'),
    import('../../src/net/http-server.js'),
    import('../../src/sectorid/server.js'),
    import('../../src/store/kv.js'),
    import('../../src/deals/store.js'),
    import('../../src/deals/server.js'),
    import('../../src/chain/client.js'),
    import('../../src/sealing/scheduler.js'),
    import('../../src/sealing/pipeline.js'),
  ]);
  enableDefaultMetrics();
  return new Set((await registry.getMetricsAsJSON()).map((m) => m.name));
}

const text = () => readFileSync(DASHBOARD, 'utf8');

test('every panel has a title, a unique id and at least one query; only Grafana variables the test knows are used', (t) => {
  const ps = panelsOf(text());
  t.true(ps.length >= 20, `${ps.length} panels`);
  t.is(new Set(ps.map((p) => p.id)).size, ps.length, 'panel ids are unique');
  for (const p of ps) {
    t.truthy(p.title, `panel ${p.id} has a title`);
    t.true((p.targets ?? []).length > 0, `${p.title} has a query`);
    for (const q of p.targets ?? []) t.notRegex(fill(q.expr), /\$/, `${p.title}: a variable left after filling: ${q.expr}`);
  }
});

test('promtool check rules: every panel query is valid PromQL', (t) => {
  const r = checkSyntax(panelsOf(text()));
  t.is(r.code, 0, r.out);
  t.regex(r.out, new RegExp(`SUCCESS: ${r.n} rules found`));
});

test("every metric a panel uses is registered by this code; the panels cover the issue's list", async (t) => {
  const { used, unknown } = unknownMetrics(panelsOf(text()), await registeredNames());
  t.deepEqual(unknown, []);
  for (const m of [
    'distminer_windowpost_deadlines_proven_total',
    'distminer_windowpost_deadlines_missed_total',
    'distminer_windowpost_deadline_margin_seconds',
    'distminer_winningpost_phase_seconds',
    'distminer_winningpost_rounds_total',
    'distminer_winningpost_blocks_abandoned_total',
    'distminer_faults_declared_total',
    'distminer_mailbox_wait_seconds',
    'distminer_mailbox_run_seconds',
    'distminer_seal_workers_connected',
    'distminer_sectorid_numbers_handed_out_total',
    'distminer_deals',
    'distminer_sectors',
    'distminer_seal_state_seconds',
    'distminer_chain_head_lag_seconds',
    'distminer_chain_failovers_total',
    'distminer_wallet_balance_attofil',
    'distminer_storage_free_bytes',
    'nodejs_heap_size_used_bytes',
    'nodejs_eventloop_lag_p99_seconds',
  ]) {
    t.true(used.has(m), `no panel shows ${m}`);
  }
});

test('the checks can fail: a misspelled metric and a broken expression are caught', async (t) => {
  const registered = await registeredNames();
  const misspelled = text().replace('distminer_windowpost_deadline_margin_seconds{', 'distminer_windowpost_deadline_margins_seconds{');
  t.not(misspelled, text());
  t.deepEqual(unknownMetrics(panelsOf(misspelled), registered).unknown, ['distminer_windowpost_deadline_margins_seconds']);
  const broken = text().replace('increase(distminer_windowpost_deadlines_missed_total{', 'increase(distminer_windowpost_deadlines_missed_total{{');
  t.not(broken, text());
  t.not(checkSyntax(panelsOf(broken)).code, 0);
});
