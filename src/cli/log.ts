// `distminer log list | set-level [--system COMPONENT] LEVEL [--repo DIR]`, as lotus-miner's
// `log list` / `log set-level`: the running miner's loggers (its main thread and every actor
// thread, each with its own), listed by component, or their level changed without a restart.
// A level set for all components also applies to actors restarted later and to proof
// processes; one set for a single component lasts until that actor restarts.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { callApi } from '../api/client.js';
import { parseApiMultiaddr } from '../config/multiaddr.js';
import { API_FILE, openRepo, resolveRepoPath } from '../config/repo.js';
import { DEFAULT_API_LISTEN } from '../config/settings.js';
import { checkLogLevel } from '../log.js';

interface LogOptions {
  repo?: string;
  json?: boolean;
  system?: string;
}

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

function apiOf(flags: LogOptions): { addr: ReturnType<typeof parseApiMultiaddr>; token: string } {
  const path = resolveRepoPath(flags.repo);
  const repo = openRepo(path);
  const apiFile = join(path, API_FILE);
  const addrText = existsSync(apiFile) ? readFileSync(apiFile, 'utf8').trim() : (repo.config.apiListen ?? DEFAULT_API_LISTEN);
  return { addr: parseApiMultiaddr(addrText, existsSync(apiFile) ? apiFile : 'config.toml [API] ListenAddress'), token: repo.token };
}

/** `distminer log list` */
export async function list(flags: LogOptions): Promise<number> {
  const { addr, token } = apiOf(flags);
  const r = await callApi<{ main: Levels; actors: Record<string, ThreadLevels> }>(addr, token, 'Distminer.LogList');
  process.stdout.write(flags.json ? JSON.stringify(r, null, 2) + '\n' : format(r.main, r.actors));
  return 0;
}

/** `distminer log set-level [--system COMPONENT] LEVEL` */
export async function setLevel(flags: LogOptions, levelArg: string): Promise<number> {
  let level: string;
  try {
    level = checkLogLevel(levelArg);
  } catch (e) {
    process.stderr.write(`distminer log set-level: ${(e as Error).message}\n`);
    return 2;
  }
  const { addr, token } = apiOf(flags);
  const params = flags.system === undefined ? [level] : [level, flags.system];
  const r = await callApi<{ main: ThreadLevels; actors: Record<string, ThreadLevels> }>(addr, token, 'Distminer.LogSetLevel', params);
  const changed = r.main.changed! + Object.values(r.actors).reduce((a, t) => a + (t.changed ?? 0), 0);
  process.stdout.write(flags.json ? JSON.stringify(r, null, 2) + '\n' : format(r.main.components, r.actors, changed));
  if (flags.system !== undefined && changed === 0) {
    process.stderr.write(`distminer log set-level: no logger of component ${JSON.stringify(flags.system)} (see \`distminer log list\`)\n`);
    return 1;
  }
  return Object.values(r.actors).some((t) => t.error) ? 1 : 0;
}
