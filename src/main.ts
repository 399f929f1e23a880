#!/usr/bin/env node
// distminer entry point: `node dist/main.js <command> [args]`. The command tree is one
// commander program (src/cli/program.ts); each command's module is loaded only when it runs,
// so that `distminer status` does not pay for the proofs addon.
// Exit codes: 0 ok, 1 failure, 2 usage error (unknown command or flag, missing argument).
import { CommanderError } from 'commander';
import { runCli } from './cli/program.js';
import { UsageError } from './cli/usage.js';

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
  try {
    return await runCli(argv);
  } catch (e) {
    // commander has printed its message (or the help) already. --help and --version end
    // here with code 0; every other error of commander's is a usage error.
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : 2;
    if (e instanceof UsageError) {
      process.stderr.write(`distminer: ${e.message} (see --help)\n`);
      return 2;
    }
    throw e;
  }
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
