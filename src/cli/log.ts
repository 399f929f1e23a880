// `distminer log list | set-level [--system COMPONENT] LEVEL [--repo DIR]`, as lotus-miner's
// `log list` / `log set-level`: the running miner's loggers (its main thread and every actor
// thread, each with its own), listed by component, or their level changed without a restart.
// A level set for all components also applies to actors restarted later and to proof
// processes; one set for a single component lasts until that actor restarts.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { callApi } from '../api/client.js';
import { type FlagSpec, flagsHelp, parseFlags } from '../config/flags.js';
import { parseApiMultiaddr } from '../config/multiaddr.js';
import { API_FILE, openRepo, resolveRepoPath } from '../config/repo.js';
import { DEFAULT_API_LISTEN } from '../config/settings.js';
import { LOG_LEVELS, checkLogLevel } from '../log.js';

const FLAGS: Record<string, FlagSpec> = {
  repo: { type: 'string', help: 'repository directory (default $DISTMINER_PATH, then $LOTUS_MINER_PATH)' },
  system: { type: 'string', help: 'set-level: only this component (the `component` field of its log lines; see `log list`)' },
  json: { type: 'boolean', help: 'print the miner\'s answer as JSON' },
};

const USAGE = `usage: distminer log list [--repo DIR] [--json]
       distminer log set-level [--system COMPONENT] LEVEL [--repo DIR] [--json]
LEVEL: ${LOG_LEVELS.join(', ')}
`;

type Levels = Record<string, string[]>;
interface ThreadLevels {
  changed?: number;
  components: Levels;
  error?: string;
}

function format(main: Levels, actors: Record<string, ThreadLevels>, changed?: number): string {
  const rows: string[][] = [['THREAD', 'COMPONENT', 'LEVEL']];
  for (const [c, l] of Object.entries(main)) rows.push(['main', c, l.join(',')]);
  for (const [a, t] of Object.entries(actors)) {
    if (t.error) rows.push([a, '-', `(${t.error})`]);
    for (const [c, l] of Object.entries(t.components)) rows.push([a, c, l.join(',')]);
  }
  const w = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  const lines = rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(w[i]))).join('  '));
  if (changed !== undefined) lines.unshift(`${changed} logger(s) changed`);
  return lines.join('\n') + '\n';
}

export async function main(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  if (!sub || sub === '--help' || sub === '-h' || args.includes('--help') || args.includes('-h')) {
    process.stdout.write(`${USAGE}\n${flagsHelp(FLAGS)}\n`);
    return sub ? 0 : 2;
  }
  if (sub !== 'list' && sub !== 'set-level') {
    process.stderr.write(`distminer log: unknown subcommand ${JSON.stringify(sub)}\n${USAGE}`);
    return 2;
  }
  const { flags, positional } = parseFlags(rest, FLAGS, `log ${sub}`);
  let level: string | undefined;
  if (sub === 'set-level') {
    if (positional.length !== 1) {
      process.stderr.write(`distminer log set-level: give exactly one LEVEL\n${USAGE}`);
      return 2;
    }
    try {
      level = checkLogLevel(positional[0]);
    } catch (e) {
      process.stderr.write(`distminer log set-level: ${(e as Error).message}\n`);
      return 2;
    }
  } else if (positional.length > 0) {
    process.stderr.write(`distminer log list: takes no arguments\n${USAGE}`);
    return 2;
  }
  const path = resolveRepoPath(flags.repo as string | undefined);
  const repo = openRepo(path);
  const apiFile = join(path, API_FILE);
  const addrText = existsSync(apiFile) ? readFileSync(apiFile, 'utf8').trim() : repo.config.apiListen ?? DEFAULT_API_LISTEN;
  const addr = parseApiMultiaddr(addrText, existsSync(apiFile) ? apiFile : 'config.toml [API] ListenAddress');
  if (sub === 'list') {
    const r = await callApi<{ main: Levels; actors: Record<string, ThreadLevels> }>(addr, repo.token, 'Distminer.LogList');
    process.stdout.write(flags.json ? JSON.stringify(r, null, 2) + '\n' : format(r.main, r.actors));
    return 0;
  }
  const params = flags.system === undefined ? [level] : [level, flags.system];
  const r = await callApi<{ main: ThreadLevels; actors: Record<string, ThreadLevels> }>(addr, repo.token, 'Distminer.LogSetLevel', params);
  const changed = r.main.changed! + Object.values(r.actors).reduce((a, t) => a + (t.changed ?? 0), 0);
  process.stdout.write(flags.json ? JSON.stringify(r, null, 2) + '\n' : format(r.main.components, r.actors, changed));
  if (flags.system !== undefined && changed === 0) {
    process.stderr.write(`distminer log set-level: no logger of component ${JSON.stringify(flags.system)} (see \`distminer log list\`)\n`);
    return 1;
  }
  return Object.values(r.actors).some((t) => t.error) ? 1 : 0;
}
