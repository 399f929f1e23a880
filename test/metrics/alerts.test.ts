// The shipped Prometheus rules (alerts/): `promtool check rules` and `promtool test rules`
// pass (scripts/promtool.sh installs promtool when missing; it never skips), every alert has a
// test case where it fires, and every distminer_ metric a rule uses is either registered by
// this code or listed below as one the PoSt/chain/storage code is to export.
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { registry } from '../../src/metrics/index.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const ALERTS = join(ROOT, 'alerts');
const RULES = join(ALERTS, 'distminer.rules.yml');
const RULES_TEST = join(ALERTS, 'distminer.rules.test.yml');

/** Metrics the rules use that other code exports (not registered by the modules loaded here). */
const ELSEWHERE: Record<string, string> = {};

function promtool(args: string[], cwd = ROOT): { code: number | null; out: string } {
  const r = spawnSync(join(ROOT, 'scripts/promtool.sh'), args, { cwd, encoding: 'utf8', timeout: 300_000 });
  return { code: r.status, out: `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? String(r.error) : ''}` };
}

test.before(() => {
  // Fails (not skips) the whole file when promtool cannot be had: the script says why.
  const r = promtool([]);
  if (r.code !== 0) throw new Error(`promtool is not available and could not be installed (scripts/promtool.sh exited ${r.code}):\n${r.out}`);
});

const alertNames = () => [...readFileSync(RULES, 'utf8').matchAll(/^\s*- alert: (\S+)$/gm)].map((m) => m[1]);

test('promtool check rules: the rules file is valid', (t) => {
  const r = promtool(['check', 'rules', RULES]);
  t.is(r.code, 0, r.out);
  t.regex(r.out, new RegExp(`SUCCESS: ${alertNames().length} rules found`));
});

test('promtool test rules: every alert fires where it should and not where it should not', (t) => {
  const r = promtool(['test', 'rules', RULES_TEST], ALERTS);
  t.is(r.code, 0, r.out);
  t.regex(r.out, /SUCCESS/);
});

test('the checks can fail: a broken expression and a wrong expectation are caught', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'distminer-rules-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const bad = join(dir, 'bad.rules.yml');
  writeFileSync(bad, readFileSync(RULES, 'utf8').replace('expr: distminer_actor_up == 0', 'expr: distminer_actor_up == ('));
  t.not(promtool(['check', 'rules', bad]).code, 0);
  cpSync(RULES, join(dir, 'distminer.rules.yml'));
  writeFileSync(join(dir, 't.yml'), readFileSync(RULES_TEST, 'utf8').replace('"window-post on a:2345 is not running"', '"window-post on a:2345 is fine"'));
  const r = promtool(['test', 'rules', 't.yml'], dir);
  t.not(r.code, 0);
  t.regex(r.out, /FAILED/);
});

test('every alert has a test case in which it fires', (t) => {
  const tests = readFileSync(RULES_TEST, 'utf8');
  for (const name of alertNames()) {
    t.regex(tests, new RegExp(`alertname: ${name}\\n\\s+exp_alerts:\\n\\s+- exp_labels:`), `${name} has no firing case`);
  }
});

test('every distminer_ metric the rules use is registered by this code or named as exported elsewhere', async (t) => {
  // Loading the modules registers their metrics in this thread's registry.
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
  ]);
  const registered = new Set((await registry.getMetricsAsJSON()).map((m) => m.name));
  const used = new Set([...readFileSync(RULES, 'utf8').matchAll(/\b(distminer_[a-z0-9_]+)/g)].map((m) => m[1].replace(/_(bucket|sum|count)$/, '')));
  t.true(used.size > 10);
  for (const name of used) {
    if (name in ELSEWHERE) t.false(registered.has(name), `${name} is registered here now: take it off ELSEWHERE`);
    else t.true(registered.has(name), `${name} is used by a rule but no code registers it`);
  }
});
