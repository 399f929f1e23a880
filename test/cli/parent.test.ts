// A process the demo starts stops itself when the demo is killed with SIGKILL (which the demo
// cannot handle): it notices being re-parented (src/main.ts, DISTMINER_EXIT_WITH_PARENT).
// Real processes: a parent node process starting `distminer devnet` the way the demo does.
import test from 'ava';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { alive } from '../helpers/cluster.js';
import { MAIN, Proc, killAll, until } from '../helpers/procs.js';

test.after.always(killAll);

/** A parent process that starts `distminer devnet` and prints the child's pid. */
function parent(dir: string, exitWithParent: boolean): Proc {
  const script = `
    const { spawn } = require('node:child_process');
    const env = { ...process.env };
    if (${exitWithParent}) env.DISTMINER_EXIT_WITH_PARENT = String(process.pid);
    const c = spawn(process.execPath, [${JSON.stringify(MAIN)}, 'devnet', '--dir', ${JSON.stringify(dir)}, '--listen', '127.0.0.1:0'], { env, stdio: ['ignore', 'inherit', 'inherit'] });
    console.log('CHILD ' + c.pid);
    setInterval(() => {}, 1000);`;
  return new Proc('parent', ['-e', script]);
}

test.serial('children started for the demo stop when it is SIGKILLed; others are left alone', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'distminer-parent-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  const pids: number[] = [];
  t.teardown(() => {
    for (const p of pids) if (alive(p)) process.kill(p, 'SIGKILL');
  });
  for (const withFlag of [true, false]) {
    const p = parent(join(root, String(withFlag)), withFlag);
    const pid = Number((await p.waitFor(/^CHILD \d+/)).split(' ')[1]);
    pids.push(pid);
    await p.waitFor(/^FULLNODE_API_INFO=/, 60_000);
    await p.kill9();
    if (withFlag) {
      await until(async () => !alive(pid), 15_000, `devnet ${pid} to stop after its parent was killed`);
      t.true(
        p.lines.some((l) => /parent process \d+ is gone; stopping/.test(l)),
        'it says why it stops',
      );
    } else {
      await new Promise((r) => setTimeout(r, 3000));
      t.true(alive(pid), 'without the flag a process outlives its parent (as a service should)');
      process.kill(pid, 'SIGTERM');
      await until(async () => !alive(pid), 15_000, `devnet ${pid} to stop on SIGTERM`);
    }
  }
});
