// Whether a process may lower its nice value to a target (actors/priority.ts mayLowerNiceTo),
// read from a /proc/<pid> directory as the kernel writes it: CAP_SYS_NICE in CapEff, or the
// RLIMIT_NICE soft limit (20 - limit is the lowest nice allowed). Fake directories; pure logic.
import test from 'ava';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WINNING_NICE, mayLowerNiceTo } from '../../actors/priority.js';

function procDir(t: { teardown(f: () => void): void }, capEff: string, niceSoft: string | null): string {
  const dir = mkdtempSync(join(tmpdir(), 'distminer-proc-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'status'), `Name:\tnode\nCapInh:\t0000000000000000\nCapPrm:\t${capEff}\nCapEff:\t${capEff}\n`);
  if (niceSoft !== null)
    writeFileSync(
      join(dir, 'limits'),
      `Limit                     Soft Limit           Hard Limit           Units     \nMax open files            1024                 1048576              files     \nMax nice priority         ${niceSoft}                    ${niceSoft}                    \n`,
    );
  return dir;
}

test('CAP_SYS_NICE (bit 23 of CapEff) allows any nice value', (t) => {
  const r = mayLowerNiceTo(WINNING_NICE, procDir(t, '000001fffeffffff', '0'));
  t.true(r.ok);
  t.is(r.why, 'CAP_SYS_NICE');
  // Every capability but CAP_SYS_NICE: not from the capability.
  t.false(mayLowerNiceTo(WINNING_NICE, procDir(t, '000001ffff7fffff', '0')).ok);
});

test("without the capability, RLIMIT_NICE decides: 40 allows -20, systemd's LimitNICE=30 only -10", (t) => {
  t.true(mayLowerNiceTo(-20, procDir(t, '0000000000000000', '40')).ok);
  const thirty = mayLowerNiceTo(-20, procDir(t, '0000000000000000', '30'));
  t.false(thirty.ok);
  t.regex(thirty.why, /allows nice -10 at the lowest, not -20/);
  t.true(mayLowerNiceTo(-10, procDir(t, '0000000000000000', '30')).ok);
  t.true(mayLowerNiceTo(-20, procDir(t, '0000000000000000', 'unlimited')).ok);
  t.false(mayLowerNiceTo(-1, procDir(t, '0000000000000000', '0')).ok, 'the default limit 0 allows no lowering');
});

test('unreadable limits and no capability: not allowed, and said why', (t) => {
  const r = mayLowerNiceTo(-20, procDir(t, '0000000000000000', null));
  t.false(r.ok);
  t.regex(r.why, /limits is not readable/);
});
