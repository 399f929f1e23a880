// CPU priority for a PoSt host. A queue inside distminer cannot give a Winning PoSt the CPU
// when something outside it (a Lotus daemon, a compile, another tenant) loads the host, so a
// process running a PoSt role raises its priority in every scheduler layer it can reach:
//
//   - autogroup: with `kernel.sched_autogroup_enabled=1` the kernel first shares the CPU
//     between sessions (a terminal, a service), and nice only orders processes within one. A
//     nice-19 compile from another terminal still takes half the CPU unless this session's
//     autogroup is favoured (`/proc/self/autogroup`).
//   - nice, per thread: Linux keeps nice per thread (setpriority on a thread id); every thread
//     that exists now is raised, and threads created later inherit it from their creator.
//   - cgroup: cpu.shares (v1) / cpu.weight (v2) of the group the process runs in. That weight is
//     relative to its sibling groups, so only the one who set the group up (systemd: the
//     unit's CPUWeight=) can raise it; it is reported, not changed.
//
// The Winning PoSt goes one step further: its proof process (executors.ts, `winning`) leads a
// session of its own whose autogroup and threads run at WINNING_NICE (-20). It computes a few
// seconds per won round and idles otherwise, so the top priority costs the host nothing the
// rest of the time, while the miner process (Window PoSt included) stays at -10 beside a
// chain node. Measured (bench/post, external load, 2 cores): busy processes in another
// session took the proof's p95 to 1.22× the idle raw proof at -10, 1.08× at -20.
//
// Sealing proof processes are started in a session of their own (executors.ts) so that they
// do not share this session's raised autogroup. Lowering nice needs CAP_SYS_NICE or an
// RLIMIT_NICE that allows it (systemd: `Nice=` / `LimitNICE=` in the unit, see
// scripts/systemd/distminer.service); without it the miner still runs, and says what to fix.
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';
import { gauge } from '../src/metrics/index.js';

const raisedGauge = gauge({
  name: 'distminer_post_priority_raised',
  help: '1 when the PoSt CPU priority layer is raised (or already high), 0 when it could not be; layers that do not apply are absent (actors/priority.ts)',
  labelNames: ['layer'],
});

export interface PriorityLayer {
  layer: 'autogroup' | 'nice' | 'cgroup' | 'winning';
  /** raised: set to the target now; kept: already at or above it; off: the layer does not apply here; failed: could not. */
  state: 'raised' | 'kept' | 'off' | 'failed';
  /** What it is now (nice value, or cgroup weight). */
  value?: number;
  detail: string;
  /** What an operator does about a failed layer. */
  fix?: string;
}

export interface PriorityReport {
  target: number;
  layers: PriorityLayer[];
  /** False when a layer that applies could not be raised. */
  ok: boolean;
}

const UNIT_FIX = 'run the miner under scripts/systemd/distminer.service (Nice=-10, LimitNICE=40, CPUWeight=1000), or grant CAP_SYS_NICE (setcap cap_sys_nice+ep on the node binary)';

/** The nice value of the Winning PoSt's proof process, its autogroup and every thread (see the top). */
export const WINNING_NICE = -20;

/**
 * Whether this process may lower a nice value to `target` (setpriority, an autogroup's nice):
 * CAP_SYS_NICE in its effective set, or an RLIMIT_NICE soft limit of at least 20 - target.
 */
export function mayLowerNiceTo(target: number, procDir = '/proc/self'): { ok: boolean; why: string } {
  const capEff = /^CapEff:\s*([0-9a-f]+)/im.exec(readText(`${procDir}/status`) ?? '')?.[1];
  const CAP_SYS_NICE = 23n;
  if (capEff && (BigInt(`0x${capEff}`) >> CAP_SYS_NICE) & 1n) return { ok: true, why: 'CAP_SYS_NICE' };
  const soft = /^Max nice priority\s+(\S+)/m.exec(readText(`${procDir}/limits`) ?? '')?.[1];
  const limit = soft === 'unlimited' ? Infinity : Number(soft);
  if (!Number.isNaN(limit)) {
    if (20 - limit <= target) return { ok: true, why: `RLIMIT_NICE ${soft} allows nice ${target}` };
    return { ok: false, why: `RLIMIT_NICE ${soft} allows nice ${20 - limit} at the lowest, not ${target}, and no CAP_SYS_NICE` };
  }
  return { ok: false, why: `${procDir}/limits is not readable, and no CAP_SYS_NICE` };
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

function autogroup(target: number, procDir: string): PriorityLayer {
  if (readText('/proc/sys/kernel/sched_autogroup_enabled')?.trim() !== '1') {
    return { layer: 'autogroup', state: 'off', detail: 'kernel.sched_autogroup_enabled is off: sessions are not weighed against each other' };
  }
  const path = `${procDir}/autogroup`;
  const parse = (t: string | undefined) => {
    const m = /nice (-?\d+)/.exec(t ?? '');
    return m ? Number(m[1]) : undefined;
  };
  const before = parse(readText(path));
  if (before === undefined) return { layer: 'autogroup', state: 'failed', detail: `${path} is not readable`, fix: UNIT_FIX };
  if (before <= target) return { layer: 'autogroup', state: 'kept', value: before, detail: `this session's autogroup already has nice ${before}` };
  try {
    writeFileSync(path, String(target));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return {
      layer: 'autogroup',
      state: 'failed',
      value: before,
      detail: `cannot set this session's autogroup nice to ${target} (${code}): a load from another session takes an equal share`,
      fix: UNIT_FIX,
    };
  }
  const after = parse(readText(path));
  return after === target
    ? { layer: 'autogroup', state: 'raised', value: after, detail: `this session's autogroup nice ${before} → ${after}` }
    : { layer: 'autogroup', state: 'failed', value: after, detail: `wrote ${target} to ${path} but it reads nice ${after}`, fix: UNIT_FIX };
}

function threadNice(target: number, procDir: string): PriorityLayer {
  let tids: number[];
  try {
    tids = readdirSync(`${procDir}/task`)
      .map(Number)
      .filter((n) => n > 0);
  } catch {
    tids = [process.pid];
  }
  const failed: string[] = [];
  let raised = 0;
  for (const tid of tids) {
    try {
      if (getPriority(tid) <= target) continue;
      setPriority(tid, target);
      raised++;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
      // A thread that ended meanwhile is not a failure.
      if (!/ESRCH/.test(String(code))) failed.push(`${tid}: ${code}`);
    }
  }
  const now = getPriority(process.pid);
  if (failed.length > 0) {
    return { layer: 'nice', state: 'failed', value: now, detail: `cannot lower nice to ${target} for ${failed.length} of ${tids.length} threads (${failed.slice(0, 3).join(', ')})`, fix: UNIT_FIX };
  }
  return raised > 0
    ? { layer: 'nice', state: 'raised', value: now, detail: `${raised} of ${tids.length} threads set to nice ${target}` }
    : { layer: 'nice', state: 'kept', value: now, detail: `all ${tids.length} threads already at nice ${now}` };
}

function cgroup(procDir: string): PriorityLayer {
  const lines = (readText(`${procDir}/cgroup`) ?? '').split('\n').filter(Boolean);
  const v1 = lines.map((l) => l.split(':')).find(([, ctrls]) => ctrls.split(',').includes('cpu'));
  const v2 = lines.map((l) => l.split(':')).find(([id]) => id === '0');
  const [file, path] = v1 ? [`/sys/fs/cgroup/cpu${v1[2] === '/' ? '' : v1[2]}/cpu.shares`, v1[2]] : v2 ? [`/sys/fs/cgroup${v2[2] === '/' ? '' : v2[2]}/cpu.weight`, v2[2]] : [undefined, undefined];
  if (!file) return { layer: 'cgroup', state: 'off', detail: 'no cpu cgroup controller' };
  const value = Number(readText(file)?.trim());
  const kind = v1 ? 'cpu.shares' : 'cpu.weight';
  if (path === '/')
    return {
      layer: 'cgroup',
      state: 'off',
      value: Number.isFinite(value) ? value : undefined,
      detail: `in the root cpu cgroup (${kind}); nothing to weigh against (a systemd unit's CPUWeight= would)`,
    };
  if (!Number.isFinite(value)) return { layer: 'cgroup', state: 'off', detail: `cgroup ${path}: ${file} not readable` };
  // The defaults (1024 shares, weight 100) mean nobody raised it; say so, with the fix.
  const dflt = v1 ? 1024 : 100;
  return value > dflt
    ? { layer: 'cgroup', state: 'kept', value, detail: `cgroup ${path} has ${kind} ${value} (above the default ${dflt})` }
    : {
        layer: 'cgroup',
        state: 'failed',
        value,
        detail: `cgroup ${path} has the default ${kind} ${value}: sibling groups get as much CPU`,
        fix: 'set CPUWeight=1000 in the unit (scripts/systemd/distminer.service)',
      };
}

/** What the Winning PoSt's proof process will get (it raises itself when it starts: raiseWinningProcess). */
function winningLayer(procDir: string): PriorityLayer {
  const may = mayLowerNiceTo(WINNING_NICE, procDir);
  return may.ok
    ? { layer: 'winning', state: 'raised', value: WINNING_NICE, detail: `the Winning PoSt proof process runs in a session of its own at nice ${WINNING_NICE} (${may.why})` }
    : {
        layer: 'winning',
        state: 'failed',
        detail: `the Winning PoSt proof process cannot run at nice ${WINNING_NICE} (${may.why}); it shares this session's priority`,
        fix: UNIT_FIX,
      };
}

/**
 * Raises this process's CPU priority in every layer it can (see the top of the file). `target`
 * is the nice value for the autogroup and every thread (default -10); `winning`: this host runs
 * the Winning PoSt, whose proof process is reported as a layer of its own. Never throws.
 */
export function raisePostPriority(target = -10, procDir = '/proc/self', opts: { winning?: boolean } = {}): PriorityReport {
  const layers = [autogroup(target, procDir), threadNice(target, procDir), cgroup(procDir), ...(opts.winning ? [winningLayer(procDir)] : [])];
  // The cgroup layer is advisory (it can only be set from outside); the others decide `ok`.
  return { target, layers, ok: layers.every((l) => l.state !== 'failed' || l.layer === 'cgroup') };
}

/**
 * In the Winning PoSt's proof process, after it has left the miner's session: its new
 * autogroup and every thread at WINNING_NICE. Threads started later inherit it.
 */
export function raiseWinningProcess(procDir = '/proc/self'): PriorityReport {
  const layers = [autogroup(WINNING_NICE, procDir), threadNice(WINNING_NICE, procDir)];
  return { target: WINNING_NICE, layers, ok: layers.every((l) => l.state !== 'failed') };
}

/** One line per layer, for the start-up log and `distminer status`. */
export function describePriority(r: PriorityReport): string[] {
  return r.layers.map((l) => `${l.layer}: ${l.state} — ${l.detail}${l.fix ? ` (fix: ${l.fix})` : ''}`);
}

/** The report as `distminer_post_priority_raised{layer}` (alert: DistminerPoStPriorityNotRaised). */
export function exportPriority(r: PriorityReport): void {
  for (const l of r.layers) if (l.state !== 'off') raisedGauge.set({ layer: l.layer }, l.state === 'failed' ? 0 : 1);
}
