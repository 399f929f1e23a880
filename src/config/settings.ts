// Run settings: `config.toml` in the repository, overridden by command-line flags, resolved
// into the set of roles this miner runs.
//
// Role resolution (the seed's flags, mapped onto roles):
//   --winning-post (default true)  -> winning-post role
//   --window-post  (default true)  -> window-post role
//   --p2p          (default true)  -> deal role (takes deals, seals its deal sectors)
//   seal role: on when p2p is on, or when both PoSt flags are off; i.e. a dedicated PoSt
//     miner (either PoSt flag on, p2p off) does not seal. `--seal=true|false` overrides;
//     the seed's "fallback to one miner" is `--seal=true` (or --roles=…,seal) on a miner that
//     also has PoSt on.
//   --roles=winning-post,window-post,seal,deal lists them explicitly instead; given together
//     with a seed flag that disagrees, it is an error.
//   --sctype=alloce|get with --sclisten=IP:PORT: sector-number server or client. Without
//     --sctype a sealing miner numbers its sectors from its own repository (a single-miner
//     deployment): the sector-id actor runs in "local" mode.
// Precedence: flags > config.toml [Distminer] > defaults.
import { parse as parseToml } from 'smol-toml';
import { ConfigError, type HostPort, type PeerApi, parseApiMultiaddr, parseHostPort, parsePeerApiInfo } from './multiaddr.js';
import { DEFAULT_FEE_CAPS, type FeeCaps, parseFil } from '../chain/fees.js';

export { ConfigError };

export const ROLES = ['winning-post', 'window-post', 'seal', 'deal'] as const;
export type Role = (typeof ROLES)[number];

export type SectorIdMode = 'alloce' | 'get' | 'local';
export type ThrottleMode = 'stop' | 'nice' | 'none' | 'auto';

export interface MailboxSettings {
  devices: number;
  winningLanes: number;
  postLanes: number;
  sealLanes: number;
  /** A queued sealing job gains one priority class per this many ms of waiting (never above Window PoSt). */
  agingMs: number;
  /** How running sealing proofs are held back while a PoSt runs. */
  throttle: ThrottleMode;
}

export interface SupervisorSettings {
  maxRestarts: number;
  withinMs: number;
  backoffInitialMs: number;
  backoffMaxMs: number;
  shutdownMs: number;
}

export interface RunSettings {
  minerId: string;
  apiListen: HostPort;
  roles: Role[];
  sectorId: { mode: SectorIdMode; listen?: HostPort };
  /** Lotus full-node API info: [Distminer] ChainApi, else $FULLNODE_API_INFO. */
  chainApi?: string;
  /** [Distminer] StoragePaths (run defaults it to <repo>/storage). */
  storagePaths?: string[];
  /** [Distminer] SealListenAddress, else the API's host on a free port. */
  sealListen: HostPort;
  /** [Distminer] DealListenAddress (deal intake and piece retrieval; the deal miner's seal workers fetch pieces there), else the API's host on a free port. */
  dealListen: HostPort;
  /** [Distminer] WaitDealsSeconds: how long a deal sector that is not full waits for more deals (default 600). */
  waitDealsMs: number;
  mailbox: MailboxSettings;
  supervisor: SupervisorSettings;
  /** [Fees]: the most each message kind may cost (lotus-miner's keys and defaults). */
  fees: FeeCaps;
  /** [Fees] MaximizeWindowPoStFeeCap (default true, as lotus-miner). */
  maximizeWindowPoStFeeCap: boolean;
  /** [Distminer] ClusterPeers, else $DISTMINER_CLUSTER_PEERS (comma-separated): the other hosts the web page shows. */
  clusterPeers: PeerApi[];
  /**
   * [Distminer] SlashFilter, else $DISTMINER_SLASH_FILTER: a postgres:// URL that every Winning
   * PoSt host of this miner id names (src/post/slash-filter.ts); absent: this repo's file only.
   */
  slashFilter?: string;
  /** The seed's log lines for the roles that are off, in the seed's order. */
  disabledLines: string[];
}

export const DISABLED_LINES = {
  deal: 'This miner will be disable p2p',
  'winning-post': 'This miner will be disable minning block',
  'window-post': 'This miner will be disable windowPoSt',
} as const;

export const DEFAULT_API_LISTEN = '/ip4/127.0.0.1/tcp/2345/http';

export const DEFAULT_MAILBOX: MailboxSettings = { devices: 1, winningLanes: 1, postLanes: 1, sealLanes: 1, agingMs: 10 * 60_000, throttle: 'auto' };
export const DEFAULT_SUPERVISOR: SupervisorSettings = { maxRestarts: 5, withinMs: 60_000, backoffInitialMs: 200, backoffMaxMs: 30_000, shutdownMs: 10_000 };

/** What config.toml says (only the parts distminer reads; other Lotus sections are ignored). */
export interface FileConfig {
  apiListen?: string;
  minerId?: string;
  windowPost?: boolean;
  winningPost?: boolean;
  p2p?: boolean;
  seal?: boolean;
  roles?: string[];
  sctype?: string;
  sclisten?: string;
  /** Lotus full-node API info (TOKEN:/ip4/…/http, comma-separated for failover). */
  chainApi?: string;
  /** Long-term storage roots (sealed/ and cache/ below each); the first one receives new sectors. */
  storagePaths?: string[];
  /** Where the seal service listens for seal workers and `sectors …` commands. */
  sealListen?: string;
  /** Where the deal role's HTTP server listens (clients, retrieval, this miner's workers). */
  dealListen?: string;
  waitDealsMs?: number;
  mailbox: Partial<MailboxSettings>;
  supervisor: Partial<SupervisorSettings>;
  fees?: Partial<FeeCaps>;
  maximizeWindowPoStFeeCap?: boolean;
  /** Other hosts of this miner id whose status the web page shows beside this one's. */
  clusterPeers?: string[];
  slashFilter?: string;
}

/** What the command line says. */
export interface FlagConfig {
  windowPost?: boolean;
  winningPost?: boolean;
  p2p?: boolean;
  seal?: boolean;
  roles?: string[];
  sctype?: string;
  sclisten?: string;
}

type Table = Record<string, unknown>;

function table(v: unknown, where: string): Table {
  if (v === undefined) return {};
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new ConfigError(`config.toml: [${where}] must be a table`);
  return v as Table;
}

function checkKeys(t: Table, allowed: string[], where: string, subtables: string[] = []): void {
  for (const k of Object.keys(t)) {
    if (!allowed.includes(k) && !subtables.includes(k)) {
      throw new ConfigError(`config.toml: unknown key ${k} in [${where}] (known: ${allowed.join(', ')})`);
    }
  }
}

function opt<T>(t: Table, key: string, where: string, kind: 'string' | 'boolean' | 'number'): T | undefined {
  const v = t[key];
  if (v === undefined) return undefined;
  if (typeof v !== kind) throw new ConfigError(`config.toml: ${key} in [${where}] must be a ${kind}, got ${JSON.stringify(v)}`);
  return v as T;
}

function positiveInt(v: number | undefined, key: string, where: string, min = 1): number | undefined {
  if (v === undefined) return undefined;
  if (!Number.isInteger(v) || v < min) throw new ConfigError(`config.toml: ${key} in [${where}] must be an integer ≥ ${min}, got ${v}`);
  return v;
}

/** Parses config.toml text. A Lotus miner config.toml (all other sections) is accepted as is. */
export function parseConfigToml(text: string): FileConfig {
  let doc: Table;
  try {
    doc = parseToml(text) as Table;
  } catch (e) {
    throw new ConfigError(`config.toml does not parse: ${(e as Error).message.split('\n')[0]}`, 'fix the TOML syntax at the line named');
  }
  const api = table(doc.API, 'API');
  const dm = table(doc.Distminer, 'Distminer');
  checkKeys(
    dm,
    [
      'Miner',
      'WindowPoSt',
      'WinningPoSt',
      'P2P',
      'Seal',
      'Roles',
      'SectorIdType',
      'SectorIdListen',
      'ChainApi',
      'StoragePaths',
      'SealListenAddress',
      'DealListenAddress',
      'WaitDealsSeconds',
      'ClusterPeers',
      'SlashFilter',
    ],
    'Distminer',
    ['Mailbox', 'Supervisor'],
  );
  const mb = table(dm.Mailbox, 'Distminer.Mailbox');
  checkKeys(mb, ['Devices', 'WinningLanes', 'PoStLanes', 'SealLanes', 'AgingSeconds', 'Throttle'], 'Distminer.Mailbox');
  const sv = table(dm.Supervisor, 'Distminer.Supervisor');
  checkKeys(sv, ['MaxRestarts', 'WithinSeconds', 'BackoffInitialMs', 'BackoffMaxMs', 'ShutdownSeconds'], 'Distminer.Supervisor');
  let roles: string[] | undefined;
  if (dm.Roles !== undefined) {
    if (!Array.isArray(dm.Roles) || !dm.Roles.every((r) => typeof r === 'string')) throw new ConfigError('config.toml: Roles in [Distminer] must be an array of strings');
    roles = dm.Roles as string[];
  }
  let storagePaths: string[] | undefined;
  if (dm.StoragePaths !== undefined) {
    if (!Array.isArray(dm.StoragePaths) || !dm.StoragePaths.every((r) => typeof r === 'string' && r.length > 0))
      throw new ConfigError('config.toml: StoragePaths in [Distminer] must be an array of directory paths');
    storagePaths = dm.StoragePaths as string[];
  }
  let clusterPeers: string[] | undefined;
  if (dm.ClusterPeers !== undefined) {
    if (!Array.isArray(dm.ClusterPeers) || !dm.ClusterPeers.every((r) => typeof r === 'string'))
      throw new ConfigError('config.toml: ClusterPeers in [Distminer] must be an array of "TOKEN:/ip4/HOST/tcp/PORT/http" strings');
    clusterPeers = dm.ClusterPeers as string[];
  }
  const throttle = opt<string>(mb, 'Throttle', 'Distminer.Mailbox', 'string');
  if (throttle !== undefined && !['stop', 'nice', 'none', 'auto'].includes(throttle)) {
    throw new ConfigError(`config.toml: Throttle in [Distminer.Mailbox] must be "stop", "nice", "none" or "auto", got "${throttle}"`);
  }
  const secs = (v: number | undefined) => (v === undefined ? undefined : Math.round(v * 1000));
  const W = 'Distminer.Mailbox';
  const S = 'Distminer.Supervisor';
  return {
    ...parseFees(doc),
    apiListen: opt(api, 'ListenAddress', 'API', 'string'),
    minerId: opt(dm, 'Miner', 'Distminer', 'string'),
    windowPost: opt(dm, 'WindowPoSt', 'Distminer', 'boolean'),
    winningPost: opt(dm, 'WinningPoSt', 'Distminer', 'boolean'),
    p2p: opt(dm, 'P2P', 'Distminer', 'boolean'),
    seal: opt(dm, 'Seal', 'Distminer', 'boolean'),
    roles,
    sctype: opt(dm, 'SectorIdType', 'Distminer', 'string'),
    sclisten: opt(dm, 'SectorIdListen', 'Distminer', 'string'),
    chainApi: opt(dm, 'ChainApi', 'Distminer', 'string'),
    storagePaths,
    clusterPeers,
    slashFilter: opt(dm, 'SlashFilter', 'Distminer', 'string'),
    sealListen: opt(dm, 'SealListenAddress', 'Distminer', 'string'),
    dealListen: opt(dm, 'DealListenAddress', 'Distminer', 'string'),
    waitDealsMs: secs(positiveInt(opt(dm, 'WaitDealsSeconds', 'Distminer', 'number'), 'WaitDealsSeconds', 'Distminer', 0)),
    mailbox: stripUndefined({
      devices: positiveInt(opt(mb, 'Devices', W, 'number'), 'Devices', W),
      winningLanes: positiveInt(opt(mb, 'WinningLanes', W, 'number'), 'WinningLanes', W),
      postLanes: positiveInt(opt(mb, 'PoStLanes', W, 'number'), 'PoStLanes', W, 0),
      sealLanes: positiveInt(opt(mb, 'SealLanes', W, 'number'), 'SealLanes', W),
      agingMs: secs(opt(mb, 'AgingSeconds', W, 'number')),
      throttle: throttle as ThrottleMode | undefined,
    }),
    supervisor: stripUndefined({
      maxRestarts: positiveInt(opt(sv, 'MaxRestarts', S, 'number'), 'MaxRestarts', S, 0),
      withinMs: secs(opt(sv, 'WithinSeconds', S, 'number')),
      backoffInitialMs: positiveInt(opt(sv, 'BackoffInitialMs', S, 'number'), 'BackoffInitialMs', S),
      backoffMaxMs: positiveInt(opt(sv, 'BackoffMaxMs', S, 'number'), 'BackoffMaxMs', S),
      shutdownMs: secs(opt(sv, 'ShutdownSeconds', S, 'number')),
    }),
  };
}

/**
 * lotus-miner's [Fees] section (the same keys, so a Lotus config.toml carries over):
 *   MaxWindowPoStGasFee = "5 FIL"       SubmitWindowedPoSt, DeclareFaults, DeclareFaultsRecovered
 *   MaxPreCommitGasFee = "0.025 FIL"    MaxCommitGasFee = "0.05 FIL"
 *   MaxTerminateGasFee = "0.5 FIL"      MaxPublishDealsFee = "0.05 FIL"
 *   MaxMarketBalanceAddFee = "0.007 FIL"
 *   MaximizeWindowPoStFeeCap = true
 *   [Fees.MaxPreCommitBatchGasFee] Base = "0 FIL", PerSector = "0.02 FIL"
 *   [Fees.MaxCommitBatchGasFee]    Base = "0 FIL", PerSector = "0.03 FIL"
 * Amounts as Lotus writes them ("5 FIL", "25 milliFIL", "1000 attoFIL"). Keys Lotus has and
 * distminer does not use are ignored (the section is Lotus's).
 */
export function parseFees(doc: Table): { fees: Partial<FeeCaps>; maximizeWindowPoStFeeCap?: boolean } {
  const t = table(doc.Fees, 'Fees');
  const amount = (tt: Table, key: string, where: string): bigint | undefined => {
    const v = opt<string>(tt, key, where, 'string');
    if (v === undefined) return undefined;
    try {
      return parseFil(v);
    } catch (e) {
      throw new ConfigError(`config.toml: ${key} in [${where}]: ${(e as Error).message}`);
    }
  };
  const batch = (key: 'MaxPreCommitBatchGasFee' | 'MaxCommitBatchGasFee', d: { base: bigint; perSector: bigint }) => {
    if (t[key] === undefined) return undefined;
    const b = table(t[key], `Fees.${key}`);
    return { base: amount(b, 'Base', `Fees.${key}`) ?? d.base, perSector: amount(b, 'PerSector', `Fees.${key}`) ?? d.perSector };
  };
  const fees = stripUndefined({
    windowPoSt: amount(t, 'MaxWindowPoStGasFee', 'Fees'),
    preCommit: amount(t, 'MaxPreCommitGasFee', 'Fees'),
    commit: amount(t, 'MaxCommitGasFee', 'Fees'),
    terminate: amount(t, 'MaxTerminateGasFee', 'Fees'),
    publishDeals: amount(t, 'MaxPublishDealsFee', 'Fees'),
    marketBalanceAdd: amount(t, 'MaxMarketBalanceAddFee', 'Fees'),
    preCommitBatch: batch('MaxPreCommitBatchGasFee', DEFAULT_FEE_CAPS.preCommitBatch),
    commitBatch: batch('MaxCommitBatchGasFee', DEFAULT_FEE_CAPS.commitBatch),
  });
  return { fees, maximizeWindowPoStFeeCap: opt<boolean>(t, 'MaximizeWindowPoStFeeCap', 'Fees', 'boolean') };
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

export function parseRoles(list: string[], where: string): Role[] {
  const out = new Set<Role>();
  for (const raw of list) {
    const r = raw.trim();
    if (r === '') continue;
    if (!(ROLES as readonly string[]).includes(r)) throw new ConfigError(`${where}: unknown role "${r}" (roles: ${ROLES.join(', ')})`);
    out.add(r as Role);
  }
  if (out.size === 0) throw new ConfigError(`${where}: no roles given (roles: ${ROLES.join(', ')})`);
  return ROLES.filter((r) => out.has(r));
}

/** The seed's flags → roles. */
export function rolesFromFlags(f: { windowPost: boolean; winningPost: boolean; p2p: boolean; seal?: boolean }): Role[] {
  const seal = f.seal ?? (f.p2p || (!f.windowPost && !f.winningPost));
  const on: Record<Role, boolean> = { 'winning-post': f.winningPost, 'window-post': f.windowPost, seal, deal: f.p2p };
  return ROLES.filter((r) => on[r]);
}

const ROLE_FLAG: Record<Role, { flag: string; key: keyof FlagConfig }> = {
  'winning-post': { flag: 'winning-post', key: 'winningPost' },
  'window-post': { flag: 'window-post', key: 'windowPost' },
  deal: { flag: 'p2p', key: 'p2p' },
  seal: { flag: 'seal', key: 'seal' },
};

/** An explicit role list must agree with any seed flag given beside it. */
function checkRolesAgree(roles: Role[], f: FlagConfig, where: string, flagName: (r: Role) => string): void {
  for (const r of ROLES) {
    const v = f[ROLE_FLAG[r].key] as boolean | undefined;
    if (v === undefined) continue;
    if (v !== roles.includes(r)) {
      throw new ConfigError(
        `${where}: ${flagName(r)}=${v} contradicts the role list (${roles.join(',')}), which ${roles.includes(r) ? 'includes' : 'omits'} ${r}`,
        `give either the role list or the seed flags, or make them agree`,
      );
    }
  }
}

/** Merges defaults, config.toml and flags into the settings `run` uses. */
export function resolveSettings(file: FileConfig, flags: FlagConfig, env: NodeJS.ProcessEnv = process.env): RunSettings {
  if (!file.minerId) {
    throw new ConfigError(
      'config.toml has no miner id ([Distminer] Miner)',
      'run `distminer init --miner f0… --repo DIR` (it adds the section to an existing Lotus config.toml), or add Miner = "f0…" under [Distminer]',
    );
  }
  if (!/^[ft]0\d+$/.test(file.minerId)) throw new ConfigError(`config.toml: [Distminer] Miner "${file.minerId}" is not an ID address like f01000`);
  const apiListen = parseApiMultiaddr(file.apiListen ?? DEFAULT_API_LISTEN, 'config.toml [API] ListenAddress');

  let roles: Role[];
  const flagSeed = flags.windowPost !== undefined || flags.winningPost !== undefined || flags.p2p !== undefined || flags.seal !== undefined;
  if (flags.roles) {
    roles = parseRoles(flags.roles, '--roles');
    checkRolesAgree(roles, flags, '--roles', (r) => `--${ROLE_FLAG[r].flag}`);
  } else if (file.roles && !flagSeed) {
    roles = parseRoles(file.roles, 'config.toml [Distminer] Roles');
    const fileFlags: FlagConfig = { windowPost: file.windowPost, winningPost: file.winningPost, p2p: file.p2p, seal: file.seal };
    const keyName: Record<Role, string> = { 'winning-post': 'WinningPoSt', 'window-post': 'WindowPoSt', deal: 'P2P', seal: 'Seal' };
    checkRolesAgree(roles, fileFlags, 'config.toml [Distminer]', (r) => keyName[r]);
  } else {
    // Flags win key by key over config.toml. A config.toml Roles list with seed flags on the
    // command line: the flags describe the roles, unset ones default as the seed does.
    const useFile = !file.roles;
    const pick = (f: boolean | undefined, c: boolean | undefined, d: boolean) => f ?? (useFile ? c : undefined) ?? d;
    const windowPost = pick(flags.windowPost, file.windowPost, true);
    const winningPost = pick(flags.winningPost, file.winningPost, true);
    const p2p = pick(flags.p2p, file.p2p, true);
    const seal = flags.seal ?? (useFile ? file.seal : undefined);
    roles = rolesFromFlags({ windowPost, winningPost, p2p, seal });
    if (roles.length === 0) {
      throw new ConfigError('no role is on: --seal=false with --window-post, --winning-post and --p2p all false leaves nothing to run', 'turn at least one role on');
    }
  }

  // Sector numbers.
  const fromFlag = flags.sctype !== undefined || flags.sclisten !== undefined;
  const sctype = fromFlag ? flags.sctype : file.sctype;
  const sclistenS = fromFlag ? flags.sclisten : file.sclisten;
  const src = fromFlag ? '--sctype/--sclisten' : 'config.toml [Distminer] SectorIdType/SectorIdListen';
  let sectorId: RunSettings['sectorId'];
  if (sctype === undefined) {
    if (sclistenS !== undefined)
      throw new ConfigError(`${src}: --sclisten=${sclistenS} given without --sctype`, 'add --sctype=alloce (serve sector numbers on that address) or --sctype=get (ask the server there)');
    sectorId = { mode: 'local' };
  } else {
    if (sctype !== 'alloce' && sctype !== 'get') throw new ConfigError(`${src}: --sctype must be "alloce" or "get", got "${sctype}"`);
    if (sclistenS === undefined) {
      throw new ConfigError(
        `${src}: --sctype=${sctype} needs --sclisten=IP:PORT`,
        sctype === 'alloce'
          ? 'give the address this miner serves sector numbers on, e.g. --sclisten=192.168.1.50:1357'
          : 'give the address of the miner started with --sctype=alloce, e.g. --sclisten=192.168.1.50:1357',
      );
    }
    const listen = parseHostPort(sclistenS, '--sclisten');
    if (sctype === 'get' && listen.port === 0) throw new ConfigError("--sctype=get needs the server's real port in --sclisten, not 0");
    sectorId = { mode: sctype, listen };
  }

  const mailbox = { ...DEFAULT_MAILBOX, ...file.mailbox };
  const supervisor = { ...DEFAULT_SUPERVISOR, ...file.supervisor };
  if (supervisor.backoffMaxMs < supervisor.backoffInitialMs) throw new ConfigError('config.toml [Distminer.Supervisor]: BackoffMaxMs must be ≥ BackoffInitialMs');

  const disabledLines: string[] = [];
  if (!roles.includes('deal')) disabledLines.push(DISABLED_LINES.deal);
  if (!roles.includes('winning-post')) disabledLines.push(DISABLED_LINES['winning-post']);
  if (!roles.includes('window-post')) disabledLines.push(DISABLED_LINES['window-post']);
  const chainApi = file.chainApi ?? env.FULLNODE_API_INFO;
  const sealListen = file.sealListen ? parseApiMultiaddr(file.sealListen, 'config.toml [Distminer] SealListenAddress') : { host: apiListen.host, port: 0 };
  const dealListen = file.dealListen ? parseApiMultiaddr(file.dealListen, 'config.toml [Distminer] DealListenAddress') : { host: apiListen.host, port: 0 };
  const peerList = file.clusterPeers ?? (env.DISTMINER_CLUSTER_PEERS ? env.DISTMINER_CLUSTER_PEERS.split(',').filter((x) => x.trim() !== '') : []);
  const peerSrc = file.clusterPeers ? 'config.toml [Distminer] ClusterPeers' : 'DISTMINER_CLUSTER_PEERS';
  const clusterPeers = peerList.map((p, i) => parsePeerApiInfo(p, `${peerSrc} entry ${i + 1}`));
  const slashFilter = file.slashFilter ?? (env.DISTMINER_SLASH_FILTER || undefined);
  if (slashFilter !== undefined && slashFilter !== 'file' && !/^postgres(ql)?:\/\//.test(slashFilter)) {
    throw new ConfigError(
      `${file.slashFilter !== undefined ? 'config.toml [Distminer] SlashFilter' : 'DISTMINER_SLASH_FILTER'} must be "file" or a postgres:// URL, got "${slashFilter.replace(/:[^:@/]*@/, ':***@')}"`,
    );
  }
  return {
    minerId: file.minerId,
    apiListen,
    roles,
    sectorId,
    chainApi,
    clusterPeers,
    ...(slashFilter !== undefined && slashFilter !== 'file' ? { slashFilter } : {}),
    storagePaths: file.storagePaths,
    sealListen,
    dealListen,
    waitDealsMs: file.waitDealsMs ?? 600_000,
    mailbox,
    supervisor,
    fees: { ...DEFAULT_FEE_CAPS, ...file.fees },
    maximizeWindowPoStFeeCap: file.maximizeWindowPoStFeeCap ?? true,
    disabledLines,
  };
}
