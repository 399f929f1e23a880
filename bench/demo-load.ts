// bench/demo-load: `distminer demo` (what `npm start` runs) for --minutes (default 20) while a
// real compile runs beside it, started as from another terminal: in a session of its own
// (setsid) at nice 19 — `cargo build --release --offline` of native/ into a scratch target
// directory, cleaned and started again until the time is up. The figure is whether the PoSt
// miner mined every round it won: rounds won, blocks mined and rounds abandoned, read from the
// running miner's `distminer status --json` (the same counts the demo's view prints), and the
// Window PoSt deadlines proven, the smallest margin a proof landed with (epochs before its
// window closed) and the faults the chain shows.
// Usage: node dist/bench/demo-load.js [--minutes 20] [--no-compile]
// Prints the counts and writes bench/results/demo-load.json.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { machine, repoRoot, table, writeResult } from './common.js';

const { values: flags } = parseArgs({ options: { minutes: { type: 'string', default: '20' }, 'no-compile': { type: 'boolean', default: false } } });
const minutes = Number(flags.minutes);
if (!(minutes > 0)) throw new Error(`--minutes must be a positive number, got "${flags.minutes}"`);
const MAIN = join(repoRoot, 'dist', 'main.js');
const scratch = mkdtempSync(join(tmpdir(), 'distminer-demo-load-'));
const demoDir = join(scratch, 'demo');

// The compile: its own session (detached → setsid), nice 19, one build after another.
const target = join(scratch, 'cargo-target');
const compileCmd = `cargo build --release --offline --manifest-path ${join(repoRoot, 'native', 'Cargo.toml')}`;
const compile = flags['no-compile']
  ? undefined
  : spawn('nice', ['-n', '19', 'sh', '-c', `while :; do ${compileCmd} >> ${join(scratch, 'compile.log')} 2>&1 && echo built; rm -rf ${target}; done`], {
      env: { ...process.env, CARGO_TARGET_DIR: target },
      stdio: ['ignore', 'pipe', 'inherit'],
      detached: true,
    });
let builds = 0;
compile?.stdout!.on(
  'data',
  (d: Buffer) =>
    (builds += d
      .toString()
      .split('\n')
      .filter((l) => l === 'built').length),
);

const demo = spawn(process.execPath, [MAIN, 'demo', '--dir', demoDir], { stdio: ['ignore', 'pipe', 'pipe'], detached: true, env: { ...process.env, DISTMINER_LOG_LEVEL: 'info' } });
let view = '';
let apiInfo: string | undefined; // the devnet's, as the demo prints it for another terminal
demo.stdout!.on('data', (d: Buffer) => {
  view = (view + d.toString()).slice(-8000);
  apiInfo ??= /FULLNODE_API_INFO=(\S+)/.exec(view)?.[1];
});
demo.stderr!.on('data', (d: Buffer) => process.stderr.write(d));
let demoExit: string | undefined;
demo.on('exit', (code, sig) => (demoExit = String(sig ?? code)));

const stopAll = () => {
  for (const p of [compile, demo]) {
    try {
      if (p?.pid) process.kill(-p.pid, 'SIGKILL');
    } catch {
      // gone already
    }
  }
};
process.on('SIGINT', () => {
  stopAll();
  process.exit(130);
});

interface Actor {
  id: string;
  detail: string;
  context?: { data?: Record<string, unknown> };
}
function status(): Actor[] | undefined {
  const r = spawnSync(process.execPath, [MAIN, 'status', '--repo', join(demoDir, 'post'), '--json'], { encoding: 'utf8', timeout: 30_000 });
  if (r.status !== 0) return undefined;
  try {
    return (JSON.parse(r.stdout) as { actors: Actor[] }).actors;
  } catch {
    return undefined;
  }
}

const started = Date.now();
const endAt = started + minutes * 60_000;
let lastProgress = 0;
while (Date.now() < endAt && demoExit === undefined) {
  await new Promise((r) => setTimeout(r, 5000));
  if (Date.now() - lastProgress >= 60_000) {
    lastProgress = Date.now();
    const w = status()?.find((a) => a.id === 'winning-post');
    process.stderr.write(`demo-load: ${Math.round((Date.now() - started) / 60_000)}/${minutes} min; compiles finished ${builds}; winning-post: ${w?.detail ?? '(starting)'}\n`);
  }
}
const actors = status();
const data = (id: string) => actors?.find((a) => a.id === id)?.context?.data ?? {};
const w = data('winning-post');
const { proven, minMarginEpochs } = data('window-post');
const faults = spawnSync(process.execPath, [MAIN, 'proving', 'faults', '--miner', 't01000'], {
  encoding: 'utf8',
  env: { ...process.env, FULLNODE_API_INFO: apiInfo ?? '' },
});
stopAll();
rmSync(scratch, { recursive: true, force: true });

const num = (v: unknown) => (typeof v === 'number' ? v : 0);
const result = {
  machine: machine(),
  minutes,
  compile: flags['no-compile'] ? null : { command: compileCmd, nice: 19, ownSession: true, buildsFinished: builds },
  demoExitedEarly: demoExit ?? null,
  winning: { roundsWon: num(w.roundsWon), blocksMined: num(w.blocksMined), roundsAbandoned: num(w.roundsAbandoned) },
  window: {
    deadlinesProven: num(proven),
    smallestMarginEpochs: minMarginEpochs ?? null,
    faults: faults.status === 0 ? faults.stdout.trim() : `(could not read: ${faults.stderr.trim().split('\n').pop()})`,
  },
  goal: 'every won round mined (roundsAbandoned 0)',
  met: demoExit === undefined && num(w.roundsWon) > 0 && num(w.roundsAbandoned) === 0,
  lastView: view.split('\n').slice(-12).join('\n'),
};
process.stdout.write(
  table(
    ['minutes', 'compiles', 'won', 'mined', 'abandoned', 'deadlines proven', 'smallest margin (epochs)', 'met'],
    [
      [
        minutes,
        builds,
        result.winning.roundsWon,
        result.winning.blocksMined,
        result.winning.roundsAbandoned,
        result.window.deadlinesProven,
        String(result.window.smallestMarginEpochs ?? '-'),
        String(result.met),
      ],
    ],
  ) + '\n',
);
process.stdout.write(`wrote ${writeResult('demo-load', result)}\n`);
process.exit(demoExit === undefined ? 0 : 1);
