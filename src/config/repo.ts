// The miner repository: a directory holding `config.toml`, the API secret
// (`keystore/MF2XI2BNNJ3XILLQOJUXMYLUMU`, as lotus-miner) and its admin `token`, the `api` file
// (the address the running miner's API actually listens on), `actors/` (persisted actor
// snapshots) and what other components keep there (`sectorid`, sector metadata).
//
// Path: --repo, else $DISTMINER_PATH, else $LOTUS_MINER_PATH (a migrated Lotus miner repo).
import { randomBytes } from 'node:crypto';
import { type Auth, TOKEN_FILE, ensureRepoAuth } from '../auth/index.js';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fsyncDir, writeFileAtomic } from '../util/durable.js';
import { ConfigError, formatApiMultiaddr, parseApiMultiaddr } from './multiaddr.js';
import { DEFAULT_API_LISTEN, type FileConfig, parseConfigToml } from './settings.js';

export const CONFIG_FILE = 'config.toml';
export const API_FILE = 'api';
/** A token of the sector-number server's repository (write), for a `--sctype=get` host. */
export const SECTORID_TOKEN_FILE = 'sectorid-token';

export function resolveRepoPath(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  const p = flag ?? env.DISTMINER_PATH ?? env.LOTUS_MINER_PATH;
  if (!p) throw new ConfigError('no repository given', 'pass --repo=DIR, or set DISTMINER_PATH (LOTUS_MINER_PATH is also read)');
  return resolve(p);
}

export interface Repo {
  path: string;
  config: FileConfig;
  /** The admin token (`<repo>/token`). */
  token: string;
  /** Verifies tokens of this repository's secret; every server of the repository uses it. */
  auth: Auth;
  /** `<repo>/sectorid-token`, when the operator gave this host one (see SECTORID_TOKEN_FILE). */
  sectorIdToken?: string;
}

/** Opens an existing repository, checking that what it holds is usable. */
export function openRepo(path: string): Repo {
  if (!existsSync(path)) throw new ConfigError(`repository ${path} does not exist`, `create it with \`distminer init --miner f0… --repo ${path}\``);
  if (!statSync(path).isDirectory()) throw new ConfigError(`repository ${path} is not a directory`);
  const cfgPath = join(path, CONFIG_FILE);
  if (!existsSync(cfgPath)) throw new ConfigError(`${cfgPath} is missing`, `create the repository with \`distminer init --miner f0… --repo ${path}\``);
  const config = parseConfigToml(readFileSync(cfgPath, 'utf8'));
  // The admin token is checked (and rewritten when not one of this secret) by ensureRepoAuth.
  const { auth, token } = ensureRepoAuth(path);
  const sectorIdToken = existsSync(join(path, SECTORID_TOKEN_FILE)) ? readToken(path, SECTORID_TOKEN_FILE) : undefined;
  return { path, config, token, auth, sectorIdToken };
}

export function readToken(path: string, file = TOKEN_FILE): string {
  const tp = join(path, file);
  if (!existsSync(tp)) throw new ConfigError(`${tp} is missing`, `run \`distminer init --miner f0… --repo ${path}\` to create a token`);
  const token = readFileSync(tp, 'utf8').trim();
  const fix =
    file === TOKEN_FILE
      ? 'delete it and run `distminer init` on the repository again to write a new one'
      : `write a token of the sector-number server's repository there: distminer auth create-token --perm write --repo SERVER_REPO --output ${tp}`;
  if (token.length < 16) throw new ConfigError(`${tp} holds no usable token (${token.length} characters)`, fix);
  return token;
}

function configText(minerId: string, apiListen: string): string {
  return `[API]
  # The miner's local JSON-RPC API (bearer JWT; ./token is an admin one). Rewrite the IP per host when
  # copying a repository to another machine.
  ListenAddress = "${apiListen}"

[Distminer]
  Miner = "${minerId}"
  # Roles, as the seed's flags (command-line flags win):
  # WindowPoSt = true
  # WinningPoSt = true
  # P2P = true
  # Seal = true        # default: on when P2P is on or both PoSt roles are off
  # Roles = ["winning-post", "window-post", "seal", "deal"]   # instead of the four above
  # SectorIdType = "alloce"            # or "get"
  # SectorIdListen = "192.168.1.50:1357"

# [Distminer.Mailbox]
  # Devices = 1
  # WinningLanes = 1
  # PoStLanes = 1
  # SealLanes = 1
  # AgingSeconds = 600
  # Throttle = "auto"   # stop | nice | none (auto: stop on a CPU build, nice with CUDA)

# [Distminer.Supervisor]
  # MaxRestarts = 5
  # WithinSeconds = 60
  # BackoffInitialMs = 200
  # BackoffMaxMs = 30000
  # ShutdownSeconds = 10
`;
}

const DISTMINER_SECTION = (minerId: string) => `
[Distminer]
  Miner = "${minerId}"
`;

export interface InitResult {
  path: string;
  created: boolean;
  /** An existing (Lotus) repository that got a [Distminer] section and/or a token. */
  adopted: boolean;
}

/**
 * A new repository built in a temporary sibling directory (`dir`, mode 0700) and renamed into
 * place by commit(), so a crash leaves either nothing or a complete repository. `path` must not
 * exist, or be an empty directory (rename(2) replaces an empty directory atomically).
 */
function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export function stageRepo(path: string): { dir: string; commit(): void; abort(): void } {
  const parent = dirname(path);
  mkdirSync(parent, { recursive: true });
  // What a start killed half-way left (it may hold a copy of the API secret): removed once
  // its process is gone.
  const prefix = `.${basename(path)}.init-`;
  for (const f of readdirSync(parent)) {
    const pid = f.startsWith(prefix) ? Number(f.slice(prefix.length).split('-')[0]) : NaN;
    if (Number.isInteger(pid) && pid > 0 && !processAlive(pid)) rmSync(join(parent, f), { recursive: true, force: true });
  }
  const dir = join(parent, `${prefix}${process.pid}-${randomBytes(4).toString('hex')}`);
  mkdirSync(dir, { mode: 0o700 });
  return {
    dir,
    commit() {
      renameSync(dir, path);
      fsyncDir(parent);
    },
    abort() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Creates a repository. A new one is built in a temporary sibling directory and renamed into
 * place, so a crash leaves either nothing or a complete repository. An existing directory
 * with a config.toml but no [Distminer] section (a copied repository) is adopted: the [Distminer] section
 * is appended (the rest of the file is kept as is) and a token written if there is none.
 */
export function initRepo(path: string, minerId: string, apiListen = DEFAULT_API_LISTEN): InitResult {
  if (!/^[ft]0\d+$/.test(minerId)) throw new ConfigError(`--miner "${minerId}" is not an ID address like f01000`);
  const addr = formatApiMultiaddr(parseApiMultiaddr(apiListen, '--api'));
  path = resolve(path);
  if (existsSync(path)) {
    if (!statSync(path).isDirectory()) throw new ConfigError(`${path} exists and is not a directory`);
    const cfgPath = join(path, CONFIG_FILE);
    if (existsSync(cfgPath)) {
      const text = readFileSync(cfgPath, 'utf8');
      const cfg = parseConfigToml(text);
      if (cfg.minerId) {
        if (cfg.minerId !== minerId) throw new ConfigError(`${path} is already a repository of miner ${cfg.minerId}`, 'use another --repo, or pass the same --miner');
        if (existsSync(join(path, TOKEN_FILE))) throw new ConfigError(`${path} is already initialised (miner ${cfg.minerId})`);
      } else {
        if (existsSync(join(path, 'datastore', 'metadata'))) {
          throw new ConfigError(
            `${path} is a lotus-miner repository`,
            `adopt it with \`distminer init --from-lotus-miner ${path} --repo NEW_DIR\`: that also takes its storage paths, sector numbers, keys and last mined epoch, and leaves it as it is`,
          );
        }
        if (/^\s*\[Distminer[\].]/m.test(text)) throw new ConfigError(`${cfgPath} has a [Distminer] section without Miner`, `add Miner = "${minerId}" to it by hand`);
        writeFileAtomic(cfgPath, text.replace(/\s*$/, '\n') + DISTMINER_SECTION(minerId));
      }
      ensureRepoAuth(path);
      return { path, created: false, adopted: true };
    }
    if (readdirSync(path).length > 0) throw new ConfigError(`${path} exists, is not empty and has no config.toml`, 'choose an empty or new directory for --repo');
  }
  const stage = stageRepo(path);
  try {
    mkdirSync(join(stage.dir, 'actors'));
    writeFileAtomic(join(stage.dir, CONFIG_FILE), configText(minerId, addr));
    ensureRepoAuth(stage.dir);
    fsyncDir(join(stage.dir, 'actors'));
    stage.commit();
  } catch (e) {
    stage.abort();
    throw e;
  }
  return { path, created: true, adopted: false };
}
