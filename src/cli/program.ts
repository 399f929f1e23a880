// The command tree: one commander program for every command, shaped like lotus-miner's CLI.
// Every command and subcommand has --help; `--json` sits on the command groups that print data
// so that it is accepted before or after the subcommand (`sectors --json list`, `sectors list
// --json`). Action handlers import their module only when run, so `distminer status` or
// `--help` never loads the proofs addon. A handler returns the exit code: 0 ok, 1 failure;
// commander's own errors (unknown command or flag, missing argument) exit 2 (see main.ts).
import { readFileSync } from 'node:fs';
import { Command, InvalidArgumentError, Option } from 'commander';

/** The exit code of the action that ran (commander's action handlers return nothing). */
let exitCode = 0;

type Opts = Record<string, unknown>;

/**
 * An action that loads its module lazily and gets the options of its command and of every
 * command above it (optsWithGlobals: a group's --json or --repo given before the subcommand).
 */
function act(f: (o: Opts, args: string[]) => Promise<number>): (this: Command) => Promise<void> {
  return async function (this: Command) {
    const args = this.processedArgs.map((a) => (a === undefined ? a : String(a))) as string[];
    exitCode = await f(this.optsWithGlobals(), args);
  };
}

/** The seed's booleans: bare `--p2p`, `--p2p=true|false`, `--p2p true|false` (also 1|0). */
function bool(flag: string) {
  return (v: string): boolean => {
    if (v === 'true' || v === '1') return true;
    if (v === 'false' || v === '0') return false;
    throw new InvalidArgumentError(`${flag} must be true or false, got "${v}" (write ${flag}=true or ${flag}=false)`);
  };
}

function boolOption(flag: string, help: string): Option {
  return new Option(`${flag} [bool]`, help).preset('true').argParser(bool(flag));
}

const REPO_HELP = 'miner repository (default $DISTMINER_PATH, then $LOTUS_MINER_PATH)';
const JSON_HELP = 'print the data as JSON';
const CHAIN_API = ['--chain-api <info>', 'chain API TOKEN:/ip4/…/tcp/…/http (default $FULLNODE_API_INFO; comma-separated for failover)'] as const;

/** The package version (`--version`, Distminer.Version, the Lotus API's Version). */
export function packageVersion(): string {
  // dist/src/cli/program.js → package.json at the root.
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

export function buildProgram(): Command {
  const program = new Command('distminer')
    .description('distributed Filecoin storage-provider miner: one miner id, roles split across hosts')
    .version(packageVersion(), '-v, --version', 'print the version')
    .configureHelp({ showGlobalOptions: true, sortSubcommands: false })
    .showSuggestionAfterError()
    .exitOverride();

  // --- miner process and repository -------------------------------------------------------
  program
    .command('init')
    .description("create a miner repository (--miner f0… --repo DIR); --create-miner makes the miner actor on chain first; --from-lotus-miner DIR takes over a lotus-miner's")
    .option('--miner <id>', 'the miner actor id, e.g. f01000 (required unless --create-miner)')
    .option('--repo <dir>', REPO_HELP)
    .option('--api <multiaddr>', 'API listen multiaddr (default /ip4/127.0.0.1/tcp/2345/http)')
    .addOption(boolOption('--create-miner', 'create a new miner actor on chain first (like lotus-miner init)'))
    .option('--chain-api <info>', 'Lotus full-node API info (default $FULLNODE_API_INFO); --create-miner only')
    .option('--from <addr>', "wallet address that funds the new owner and worker (default: the node's default wallet)")
    .option('--sector-size <size>', 'sector size of the new miner (default 2KiB)')
    .option('--owner-funds <fil>', 'FIL for the owner beyond the creation deposit, for gas (default 1)')
    .option('--worker-funds <fil>', 'FIL for the worker: pre-commit deposits, pledges and gas (default 10)')
    .option(
      '--from-lotus-miner <dir>',
      'take over the miner of a stopped lotus-miner repository (left unchanged): config, storage paths, sector numbers, keys, last mined epoch (--api replaces its API address)',
    )
    .addOption(boolOption('--abandon-sealing', '--from-lotus-miner: adopt although lotus-miner is still sealing sectors (they are not continued; their numbers stay used)'))
    .action(act(async (o) => (await import('./init.js')).main(o)));

  program
    .command('run')
    .description("run this host's miner: --roles=… or the seed flags --window-post --winning-post --p2p --sctype --sclisten")
    .option('--repo <dir>', REPO_HELP)
    .option('--roles <list>', 'roles to run, comma-separated: winning-post,window-post,seal,deal (instead of the seed flags)')
    .addOption(boolOption('--window-post', 'run Window PoSt (default true)'))
    .addOption(boolOption('--winning-post', 'run Winning PoSt, i.e. mine blocks (default true)'))
    .addOption(boolOption('--p2p', 'take deals over p2p: the deal role (default true)'))
    .addOption(boolOption('--seal', 'seal sectors (default: on when --p2p is on or both PoSt flags are off)'))
    .option('--sctype <type>', 'sector numbers: alloce (serve them on --sclisten) or get (ask --sclisten)')
    .option('--sclisten <ip:port>', 'IP:PORT of the sector-number server')
    .addOption(boolOption('--exit-after-start', 'start every actor, then stop cleanly (a start-up check)'))
    .addOption(boolOption('--drill-crashes', 'accept crash drills over the API (Distminer.ActorCrashDrill; for tests)'))
    .action(act(async (o) => (await import('./run.js')).main(o)));

  program
    .command('status')
    .description("the running miner's actors and GPU mailbox")
    .option('--repo <dir>', REPO_HELP)
    .option('--json', 'print the raw status as JSON')
    .action(act(async (o) => (await import('./status.js')).main(o)));

  const log = program
    .command('log')
    .description("the running miner's loggers, as lotus-miner's `log` (levels change without a restart)")
    .option('--repo <dir>', REPO_HELP)
    .option('--json', "print the miner's answer as JSON");
  log
    .command('list')
    .description('list the loggers of the main thread and every actor thread, by component')
    .action(act(async (o) => (await import('./log.js')).list(o)));
  log
    .command('set-level')
    .description('set the log level of every logger, or of one component (--system)')
    .argument('<level>', 'trace, debug, info, warn, error, fatal or silent')
    .option('--system <component>', 'only this component (the `component` field of its log lines; see `log list`)')
    .action(act(async (o, [level]) => (await import('./log.js')).setLevel(o, level)));

  const auth = program.command('auth').description("API tokens of this repository's secret, as lotus-miner's `auth`");
  auth
    .command('create-token')
    .description('print (or --output) a token with the given permission')
    .requiredOption('--perm <level>', 'permission level: read | write | sign | admin (each includes the ones before it)')
    .option('--repo <dir>', REPO_HELP)
    .option('--output <file>', "write the token to this file (mode 0600, atomically) instead of stdout, e.g. another host's <repo>/sectorid-token")
    .action(act(async (o) => (await import('../auth/cli.js')).createToken(o)));
  auth
    .command('api-info')
    .description('print MINER_API_INFO=TOKEN:MULTIADDR of the running miner')
    .requiredOption('--perm <level>', 'permission level: read | write | sign | admin')
    .option('--repo <dir>', REPO_HELP)
    .action(act(async (o) => (await import('../auth/cli.js')).apiInfo(o)));

  // --- chain and PoSt (answered from the chain alone) ---------------------------------------
  program
    .command('info')
    .description('miner id, power, sectors by state, deadlines (from the chain)')
    .option('--miner <id>', 'miner ID address, e.g. f01000 (default $DISTMINER_MINER)')
    .option(...CHAIN_API)
    .option('--json', JSON_HELP)
    .action(act(async (o) => (await import('../post/cli.js')).info(o)));

  const proving = program
    .command('proving')
    .description("Window PoSt state from the chain, readability of a deadline's files")
    .option('--miner <id>', 'miner ID address, e.g. f01000 (default $DISTMINER_MINER)')
    .option(...CHAIN_API)
    .option('--json', JSON_HELP);
  proving
    .command('info')
    .description('the current proving period and deadline')
    .action(act(async (o) => (await import('../post/cli.js')).provingInfo(o)));
  proving
    .command('deadlines')
    .description('every deadline: partitions, sectors, faults, proofs')
    .action(act(async (o) => (await import('../post/cli.js')).provingDeadlines(o)));
  proving
    .command('deadline')
    .description("one deadline's partitions")
    .argument('<index>', 'deadline index')
    .action(act(async (o, [n]) => (await import('../post/cli.js')).provingDeadline(o, n)));
  proving
    .command('faults')
    .description('the faulty sectors')
    .action(act(async (o) => (await import('../post/cli.js')).provingFaults(o)));
  proving
    .command('check')
    .description('can every sector of a deadline be read from storage? (exit 1 if not)')
    .argument('<index>', 'deadline index')
    .option('--storage <dir>', 'storage path (repeat, or comma-separate, for several)', collect, [])
    .option('--timeout <duration>', 'per-sector read timeout (default 10s)')
    .action(act(async (o, [n]) => (await import('../post/cli.js')).provingCheck(o, n)));

  program
    .command('post')
    .description('run the PoSt loops alone (split hosts, debugging) until SIGINT/SIGTERM')
    .argument('<which>', 'window, winning or all')
    .option('--miner <id>', 'miner ID address, e.g. f01000 (default $DISTMINER_MINER)')
    .option(...CHAIN_API)
    .option('--storage <dir>', 'storage path (repeat, or comma-separate, for several)', collect, [])
    .option('--state-file <file>', 'Winning PoSt: where the last mined epoch is kept (default <storage>/.distminer-last-mined-…json)')
    .option('--confidence <n>', 'Window PoSt: epochs to wait after a deadline opens')
    .option('--check-timeout <duration>', 'Window PoSt: per-sector read timeout (default 10s)')
    .option('--expected-leaders <n>', 'Winning PoSt: blocks expected per epoch')
    .option('--propagation-delay <duration>', 'Winning PoSt: wait this long into the epoch for other blocks (e.g. 1s)')
    .option('--shared-db <url>', "the PoSt hosts' shared PostgreSQL (postgres://…): Winning PoSt slash filter, Window PoSt deadline leases (default $DISTMINER_SLASH_FILTER)")
    .option('--window-lease <duration>', 'Window PoSt with --shared-db: time to live of a deadline lease (default 3 epochs)')
    .option('--config <file>', "config.toml whose [Fees] (lotus-miner's keys) cap the PoSt messages' fees")
    .action(act(async (o, [which]) => (await import('../post/cli.js')).post(o, which)));

  program
    .command('params')
    .description('generate (or check) the 2KiB Groth16 parameters')
    .option('--verify', 'check every parameter file against native/params-2k.json')
    .option('--circuit <name>', 'only this circuit: porep, winning-post or window-post')
    .action(act(async (o) => (await import('../proofs/params-cli.js')).main(o)));

  // --- sealing and sector numbers -----------------------------------------------------------
  const sealApi = (c: Command) => c.option('--repo <dir>', REPO_HELP).option('--api <info>', "the seal service as TOKEN:/ip4/…/tcp/…/http (default: <repo>/sealing-api and the repo's token)");

  const sectors = sealApi(program.command('sectors').description('sectors of this seal miner, and the sector-number allocator').option('--json', JSON_HELP));
  const sealing = () => import('../sealing/cli.js');
  sectors
    .command('pledge')
    .description('create committed-capacity sectors')
    .argument('[count]', 'how many (1..1000, default 1)')
    .action(act(async (o, [n]) => (await sealing()).pledge(o, n)));
  sectors
    .command('list')
    .description('the sectors and their states')
    .action(act(async (o) => (await sealing()).list(o)));
  sectors
    .command('status')
    .description('one sector: state, CIDs, epochs, messages, event log')
    .argument('<sector>', 'sector number')
    .action(act(async (o, [n]) => (await sealing()).status(o, n)));
  sectors
    .command('retry')
    .description('retry a failed sector from where it failed')
    .argument('<sector>', 'sector number')
    .action(act(async (o, [n]) => (await sealing()).retry(o, n)));
  sectors
    .command('remove')
    .description('remove a sector from the pipeline')
    .argument('<sector>', 'sector number')
    .option('--really-do-it', 'confirm: a proving sector loses its power')
    .action(act(async (o, [n]) => (await sealing()).remove(o, n)));

  const numbers = sectors
    .command('numbers')
    .description('the sector-number allocator, over the wire (--connect) or on its store (--repo, --store)')
    .option('--connect <host:port>', 'talk to the running allocator (alias --sclisten)')
    .addOption(new Option('--sclisten <host:port>').hideHelp())
    .option('--token <token>', 'miner API token (info: read; reserve, free, set-floor: admin)')
    .option('--token-file <file>', 'file holding the token (default $DISTMINER_SECTORID_TOKEN)')
    .option('--store <url>', "work on this store: file (the repo's) or postgres://… (alias --sc-store)")
    .addOption(new Option('--sc-store <url>').hideHelp())
    .option('--miner <id>', 'the miner id of a postgres store (default f01000)');
  const nums = () => import('../sectorid/numbers-cli.js');
  numbers
    .command('info')
    .description('next number, chain floor, reservations')
    .action(act(async (o) => (await nums()).main(o, 'info', [])));
  numbers
    .command('reserve')
    .description('reserve ranges of numbers under a name')
    .argument('<name>', 'reservation name')
    .argument('<ranges>', 'e.g. 1-10,15')
    .action(act(async (o, a) => (await nums()).main(o, 'reserve', a)));
  numbers
    .command('free')
    .description('free a reservation')
    .argument('<name>', 'reservation name')
    .action(act(async (o, a) => (await nums()).main(o, 'free', a)));
  numbers
    .command('set-floor')
    .description('never hand out numbers below N (creates the counter if there is none)')
    .argument('<n>', 'sector number')
    .action(act(async (o, a) => (await nums()).main(o, 'set-floor', a)));

  const sealingCmd = sealApi(program.command('sealing').description('seal work of this miner').option('--json', JSON_HELP));
  sealingCmd
    .command('jobs')
    .description('running and queued seal tasks')
    .action(act(async (o) => (await sealing()).jobs(o)));
  sealingCmd
    .command('workers')
    .description('connected seal workers and their resources')
    .action(act(async (o) => (await sealing()).workers(o)));

  const sectorid = program.command('sectorid').description('the sector-number server: serve (run it) | alloc (ask it for numbers)');
  sectorid
    .command('serve')
    .description('run the sector-number server in the foreground')
    .option('--repo <dir>', 'repository whose API secret verifies tokens (default $DISTMINER_REPO)')
    .option('--listen <host:port>', 'address to listen on (alias --sclisten)')
    .addOption(new Option('--sclisten <host:port>').hideHelp())
    .option('--miner <id>', 'miner id (default f01000)')
    .option('--store <url>', 'file (default) or postgres://… (alias --sc-store)')
    .addOption(new Option('--sc-store <url>').hideHelp())
    .option('--chain-floor-file <file>', "JSON file with the chain's highest allocated number")
    .option('--ready-file <file>', 'write the address here once listening')
    .option('--max-connections <n>', 'connections in all')
    .option('--max-connections-per-peer <n>', 'connections from one address')
    .option('--idle-ms <ms>', 'close a connection idle this long')
    .option('--max-frame-bytes <n>', 'largest request frame')
    .option('--chain-refresh-ms <ms>', 'how often the chain floor is re-read')
    // Refused with a message: tokens are verified with the repository's secret now.
    .addOption(new Option('--token <token>').hideHelp())
    .addOption(new Option('--token-file <file>').hideHelp())
    .action(act(async (o) => (await import('../sectorid/serve-cli.js')).serve(o)));
  sectorid
    .command('alloc')
    .description('ask a server for new sector numbers (needs a write token)')
    .option('--connect <host:port>', 'the server (alias --sclisten)')
    .addOption(new Option('--sclisten <host:port>').hideHelp())
    .option('--token <token>', 'token with the write permission (distminer auth create-token --perm write)')
    .option('--token-file <file>', 'file holding the token (default $DISTMINER_SECTORID_TOKEN)')
    .option('--count <n>', 'how many numbers (default 1)')
    .option('--deadline-ms <ms>', 'give up after this long (default 10000)')
    .action(act(async (o) => (await import('../sectorid/serve-cli.js')).alloc(o)));

  program
    .command('worker')
    .description('run a seal worker for one miner until SIGINT/SIGTERM')
    .option('--miner-api <info>', 'the miner as TOKEN:/ip4/…/tcp/…/http (default $MINER_API_INFO)')
    .option('--dir <dir>', 'sealing directory (default $DISTMINER_WORKER_PATH)')
    .option('--tasks <list>', 'task types it accepts, comma-separated (default: all)')
    .option('--cores <n>', "CPU cores it offers (default: this machine's)")
    .option('--memory <size>', "memory it offers, e.g. 64GiB (default: this machine's)")
    .option('--gpus <n>', 'GPUs it offers (default 0)')
    .option('--storage <dir>', 'root for relative Finalize destinations (shared storage)')
    .option('--nice <n>', 'CPU priority of its proofs (default 19)')
    .action(act(async (o) => (await import('../sealing/worker-cli.js')).main(o)));

  const store = program.command('store').description('the journal store of a component (DIR e.g. <repo>/sealing)');
  store
    .command('check')
    .description('read the journal and say whether it is whole (exit 1 if not)')
    .argument('<dir>', 'store directory')
    .action(act(async (_o, [dir]) => (await import('../store/cli.js')).check(dir)));
  store
    .command('repair')
    .description('copy the journal aside, then cut it at the last good frame (miner stopped)')
    .argument('<dir>', 'store directory')
    .action(act(async (_o, [dir]) => (await import('../store/cli.js')).repair(dir)));

  // --- deals ---------------------------------------------------------------------------------
  const dealConn = (c: Command) =>
    c
      .option('--repo <dir>', 'miner repository (default $DISTMINER_PATH): its deals/api and token')
      .option('--api <url>', 'deal server URL (default: <repo>/deals/api)')
      .option('--token <token>', 'miner API token (admin)')
      .option('--token-file <file>', 'file holding the miner API token');
  const deals = program.command('deals').description('the deal miner: serve (intake + retrieval) | list | status UUID').option('--json', JSON_HELP);
  deals
    .command('serve')
    .description('run the deal server until SIGINT/SIGTERM (state in <repo>/deals)')
    .option('--repo <dir>', 'miner repository (token, config.toml; default $DISTMINER_PATH)')
    .option('--miner <id>', 'miner id (default: [Distminer] Miner of config.toml)')
    .option('--listen <host:port>', 'address to listen on (default 127.0.0.1:0)')
    .option('--sector-size <size>', 'deal sector size (default 2KiB)')
    .option('--shared <dir>', 'shared storage path holding the deal-miner lease (default <repo>/deals)')
    .option('--max-transfers <n>', 'concurrent uploads (default 4)')
    .option('--max-transfers-per-peer <n>', 'concurrent uploads from one address (default 2)')
    .option('--stall-ms <ms>', 'cut an upload with no data for this long (default 60000)')
    .option('--proposal-ttl-ms <ms>', 'expire an accepted deal whose data has not come within this (default 1800000)')
    .option('--max-pending <n>', 'deals waiting for their data or kept after failing, in all (default 128)')
    .option('--kept-piece-retention-ms <ms>', "delete a failed deal's kept piece this long after the failure (default 604800000: 7 days)")
    .option('--lease-ms <ms>', 'deal-miner lease time (default 30000)')
    .option('--ready-file <file>', 'write the URL here once listening')
    .action(act(async (o) => (await import('../deals/cli.js')).serve(o)));
  dealConn(deals.command('list').description('the deals and their states')).action(act(async (o) => (await import('../deals/cli.js')).list(o)));
  dealConn(deals.command('status').description('one deal, as JSON').argument('<uuid>', 'deal UUID (from `deals list`)')).action(
    act(async (o, [id]) => (await import('../deals/cli.js')).status(o, id)),
  );

  const client = program.command('client').description('a storage client, to try the deal miner by hand');
  const key = client.command('key').description('client keys (Lotus KeyInfo JSON files)');
  key
    .command('new')
    .description('create a key and print its address')
    .requiredOption('--out <file>', 'where to write the new key')
    .option('--type <type>', 'secp256k1 (default) or bls')
    .option('--network <net>', 'testnet (t… addresses, default) or mainnet (f…)')
    .action(act(async (o) => (await import('../deals/client-cli.js')).keyNew(o)));
  key
    .command('show')
    .description("print a key's address")
    .requiredOption('--key <file>', 'the client key file')
    .option('--network <net>', 'testnet (t… addresses, default) or mainnet (f…)')
    .action(act(async (o) => (await import('../deals/client-cli.js')).keyShow(o)));
  client
    .command('deal')
    .description('propose a deal for FILE and upload it')
    .argument('<file>', 'the data')
    .requiredOption('--miner <id>', 'the storage provider (f0…)')
    .requiredOption('--api <url>', 'its deal server URL')
    .requiredOption('--key <file>', 'the client key file')
    .option('--start-epoch <n>', 'deal start epoch (default 10000; with --chain-api the head + 960)')
    .option('--chain-api <info>', "a real chain's node TOKEN:/ip4/…/tcp/…/http: the terms are checked against its market actor (escrow, collateral bounds, duration) before proposing")
    .option('--duration <epochs>', "deal duration in epochs (default 518400, 180 days, the market's minimum)")
    .option('--price <attofil>', 'price per epoch in attoFIL (default 0)')
    .option('--provider-collateral <attofil>', "the provider collateral in attoFIL (default: with --chain-api the market's minimum, else 0)")
    .option('--verified', 'a verified (DataCap) deal')
    .option('--label <text>', 'deal label')
    .action(act(async (o, [file]) => (await import('../deals/client-cli.js')).deal(o, file)));
  const market = client
    .command('market')
    .description("the client's escrow in the storage market actor (what a deal locks): Lotus's `lotus wallet market`, signed by the client's key")
    .option(...CHAIN_API)
    .option('--network <net>', 'testnet (t… addresses, default) or mainnet (f…)')
    .option('--json', JSON_HELP);
  market
    .command('add')
    .description("add AMOUNT to the client's escrow (AddBalance from its own key, pushed to the node); waits until it is on chain")
    .argument('<amount>', 'FIL, as Lotus writes it: 0.5, "0.5 FIL", "500 milliFIL"')
    .requiredOption('--key <file>', 'the client key file (it pays and signs)')
    .option('--max-fee <amount>', "the most gas may cost (FIL; default the node's)")
    .action(act(async (o, [amount]) => (await import('../deals/client-cli.js')).marketAdd(o, amount)));
  market
    .command('balance')
    .description('escrow, locked and available of a client')
    .option('--key <file>', 'the client key file')
    .option('--address <addr>', 'or its address')
    .action(act(async (o) => (await import('../deals/client-cli.js')).marketBalanceCmd(o)));

  // --- chain and demo ------------------------------------------------------------------------
  program
    .command('devnet')
    .description('run the embedded devnet chain (Lotus API on a local port) until SIGINT/SIGTERM')
    .option('--dir <dir>', 'chain directory (default ~/.distminer/devnet); reused on restart')
    .option('--miners <n>', 'genesis miners t01000… (new directory only; default 1)')
    .option('--block-delay <duration>', 'epoch length: 4s, 500ms, or seconds (default 4s)')
    .option('--listen <host:port>', 'API address (default 127.0.0.1:1234; port 0 = any free port)')
    .option('--network <net>', 'address prefix: testnet (t…, default) or mainnet (f…)')
    .option('--challenge-window <n>', 'epochs per deadline (default 60, as mainnet)')
    .option('--period-deadlines <n>', 'deadlines per proving period (default 48)')
    .option('--challenge-lookback <n>', 'WPoStChallengeLookback (default 20)')
    .option('--fault-cutoff <n>', 'FaultDeclarationCutoff (default 70)')
    .option('--precommit-delay <n>', 'PreCommitChallengeDelay (default 150)')
    .option('--expected-leaders <n>', 'blocks expected per epoch in the election (default 5)')
    .option('--null-rounds <chance>', 'chance 0..1 that a round no miner made a block for is a null round, not a system block (default 0; new directory only)')
    .option('--pinned-randomness <file>', 'JSON [{miner, sector, ticket, seed}] for pre-sealed sectors (new directory only)')
    .action(act(async (o) => (await import('../devnet/cli.js')).main(o)));

  program
    .command('demo')
    .description('the seed topology on this machine: devnet, PoSt miner, seal miner, 2 workers, live view (npm start)')
    .option('--dir <dir>', 'where the devnet, repositories, storage and logs go (default $TMPDIR/distminer-demo; emptied first unless --keep)')
    .option('--keep', 'do not empty --dir first')
    .option('--sectors <n>', 'sectors the seal miner pledges, two at a time (default 4)')
    .option('--deals <n>', 'storage deals a client makes, 2 KiB each, one sector each (default 1; 0: no deal miner)')
    .option('--block-delay <duration>', 'epoch length (default 10s; Winning PoSt needs more than ~6s)')
    .option('--period-deadlines <n>', 'deadlines per proving period, of 4 epochs each (default 12; 3 is the least)')
    .option('--split-post', 'Window PoSt and Winning PoSt on two miners instead of one')
    .addHelpText('after', '\nEach process it starts is named on a line "demo: started NAME pid PID"; Ctrl-C (SIGINT) or\nSIGTERM stops them all (SIGKILL after 30 s) and exits 0.')
    .action(act(async (o) => (await import('./demo.js')).main(o)));

  program
    .command('proof-worker', { hidden: true })
    .description('proof process of the GPU mailbox (started by `run`, not by hand)')
    .action(act(async () => (await import('../../actors/proof-worker.js')).main()));

  program
    .command('completion')
    .description('print a bash completion script: eval "$(distminer completion)" or save it under /etc/bash_completion.d/')
    .action(act(async () => (await import('./completion.js')).main(program)));

  return program;
}

function collect(v: string, prev: string[]): string[] {
  return [...prev, ...v.split(',').filter(Boolean)];
}

/** Parses argv (the words after `distminer`) and runs the command; resolves to the exit code. */
export async function runCli(argv: string[]): Promise<number> {
  exitCode = 0;
  await buildProgram().parseAsync(argv, { from: 'user' });
  return exitCode;
}
