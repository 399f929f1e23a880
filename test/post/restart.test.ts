// The Window PoSt scheduler as a real process (`distminer post window`) against the devnet on
// a real-time epoch clock: kill -9 inside a deadline's window, restart, and the deadline is
// still proven in time. Then the proving commands read the same chain.
import test from 'ava';
import { execFile } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { MAIN, Proc, killAll, until } from '../helpers/procs.js';
import { MINER, setupPoSt } from './_setup.js';

const run = promisify(execFile);

async function cli(args: string[]): Promise<{ code: number; out: string }> {
  try {
    const r = await run(process.execPath, [MAIN, ...args], { env: { ...process.env, DISTMINER_LOG_LEVEL: 'warn' } });
    return { code: 0, out: r.stdout };
  } catch (e) {
    const x = e as { code?: number; stdout?: string; stderr?: string };
    return { code: x.code ?? 1, out: `${x.stdout ?? ''}${x.stderr ?? ''}` };
  }
}

test.after.always(() => killAll());

test.serial('killed inside the window and restarted, the scheduler still proves the deadline; proving commands', async (t) => {
  const s = await setupPoSt(2, { autoAdvance: true, blockDelayMs: 2500 });
  const { h } = s;
  const c = h.client;
  t.teardown(async () => {
    await killAll();
    await h.close();
    rmSync(s.storage, { recursive: true, force: true });
  });
  const args = [MAIN, 'post', 'window', '--chain-api', h.apiInfo, '--miner', MINER, '--storage', s.storage, '--confidence', '2'];
  const env = { DISTMINER_LOG_LEVEL: 'info' };
  const a = new Proc('window-post A', args, env);
  // confidence 2 = the lookback: proving starts when the window opens.
  const line = await a.waitFor(/"msg":"proving deadline"/, 90_000);
  const { open, close } = JSON.parse(line) as { open: number; close: number };
  t.true(h.devnet.head().Height >= open && h.devnet.head().Height < close, 'killed inside the window');
  await a.kill9();
  t.false(
    a.lines.some((l) => l.includes('SubmitWindowedPoSt pushed')),
    'A was killed before it submitted',
  );
  const b = new Proc('window-post B', args, env);
  const accepted = JSON.parse(await b.waitFor(/"msg":"Window PoSt accepted"/, 60_000)) as { deadline: number; epoch: number };
  t.is(accepted.deadline, s.deadline);
  t.true(accepted.epoch < close, `accepted at ${accepted.epoch}, window closes at ${close}`);
  await until(async () => h.devnet.head().Height >= close, 30_000, 'the window to close');
  t.deepEqual(await c.stateMinerFaults(MINER), []);
  t.is((await c.stateMinerPower(MINER)).MinerPower.RawBytePower, '4096');
  await b.stop();

  // ---- proving commands against the same chain (no sector database anywhere)
  const api = ['--chain-api', h.apiInfo, '--miner', MINER];
  const info = await cli(['info', ...api]);
  t.is(info.code, 0, info.out);
  t.regex(info.out, /Power: 4 KiB \/ 4 KiB \(100\.00%\)/);
  t.regex(info.out, /Total: 2/);
  t.regex(info.out, /Active: 2/);
  t.regex(info.out, /Faulty: 0/);
  const pinfo = await cli(['proving', 'info', ...api]);
  t.is(pinfo.code, 0, pinfo.out);
  t.regex(pinfo.out, /Deadline Index: +\d+/);
  t.regex(pinfo.out, /Faults: +0/);
  const dls = await cli(['proving', 'deadlines', ...api]);
  t.is(dls.code, 0, dls.out);
  t.regex(dls.out, new RegExp(`^${s.deadline}( \\(current\\))? +\\d+ +1 +2 \\(0\\)`, 'm'));
  const one = await cli(['proving', 'deadline', String(s.deadline), ...api]);
  t.is(one.code, 0, one.out);
  t.regex(one.out, /^0 +2 +2 +0 +0 +\S+ +1,2$/m);
  const faults = await cli(['proving', 'faults', ...api]);
  t.regex(faults.out, /no faulty sectors/);
  const ok = await cli(['proving', 'check', String(s.deadline), ...api, '--storage', s.storage]);
  t.is(ok.code, 0, ok.out);
  t.regex(ok.out, /2 ok, 0 bad/);
  rmSync(join(s.storage, 'cache', 's-t01000-1', 'p_aux'));
  const bad = await cli(['proving', 'check', String(s.deadline), ...api, '--storage', s.storage]);
  t.is(bad.code, 1, bad.out);
  t.regex(bad.out, /1 +bad +.*p_aux is missing/);
  t.regex(bad.out, /1 ok, 1 bad/);
  const usage = await cli(['proving', 'check', String(s.deadline), ...api]);
  t.is(usage.code, 2);
  t.regex(usage.out, /--storage DIR is required/);
});
