#!/usr/bin/env node
// distminer entry point: `node dist/main.js <command> [args]`. Each command lives in its own
// module, loaded only when used so that `distminer status` does not pay for the proofs addon.
import { commands, findCommand, usage } from './cli/commands.js';

/**
 * A process started by `distminer demo` (DISTMINER_EXIT_WITH_PARENT=<the demo's pid>) stops
 * itself, gracefully (SIGTERM), once that parent is gone: a demo killed with SIGKILL cannot
 * stop its children, so they notice being re-parented instead. Read once and removed from the
 * environment, so this process's own children (proof workers) do not inherit it.
 */
function exitWithParent(): void {
  const want = Number(process.env.DISTMINER_EXIT_WITH_PARENT);
  delete process.env.DISTMINER_EXIT_WITH_PARENT;
  if (!Number.isInteger(want) || want <= 1 || process.ppid !== want) return;
  const t = setInterval(() => {
    if (process.ppid === want) return;
    clearInterval(t);
    process.stderr.write(`distminer: parent process ${want} is gone; stopping\n`);
    process.kill(process.pid, 'SIGTERM');
  }, 1000);
  t.unref();
}

async function main(argv: string[]): Promise<number> {
  exitWithParent();
  if (argv.length === 0 || argv[0] === '--help' || argv[0] === '-h' || argv[0] === 'help') {
    process.stdout.write(usage());
    return argv.length === 0 ? 2 : 0;
  }
  const found = findCommand(argv);
  if (!found) {
    process.stderr.write(`distminer: unknown command "${argv.join(' ')}"\n\n${usage()}`);
    return 2;
  }
  const mod = await found.command.load();
  return mod.main(argv.slice(found.words));
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    const e = err as Error & { hint?: string };
    process.stderr.write(`distminer: ${e?.message ?? String(err)}\n`);
    if (e?.hint) process.stderr.write(`hint: ${e.hint}\n`);
    if (process.env.DISTMINER_DEBUG) process.stderr.write(`${e?.stack}\n`);
    process.exitCode = 1;
  },
);

export { commands };
