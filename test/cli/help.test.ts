// The command line as a user meets it (src/cli/program.ts): every command and subcommand of
// the commander tree answers --help, --version, usage errors exit 2 and name the flag,
// --json is accepted before or after the subcommand, help does not load the proofs addon,
// and the bash completion script completes from the same tree. Spawns the built CLI.
import test from 'ava';
import { execFile, spawnSync } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { buildProgram } from '../../src/cli/program.js';
import { TEST_POLICY, startDevnet } from '../devnet/_harness.js';

const MAIN = fileURLToPath(new URL('../../main.js', import.meta.url));
const PKG = fileURLToPath(new URL('../../../package.json', import.meta.url));
const env = { ...process.env, DISTMINER_LOG_LEVEL: 'warn' };

// Records every native addon the process loads (the proofs addon goes through process.dlopen).
const TRACE_DLOPEN = `data:text/javascript,${encodeURIComponent("const o = process.dlopen; process.dlopen = function (m, f, ...r) { process.stderr.write('DLOPEN ' + f + '\\n'); return o.call(this, m, f, ...r); };")}`;

function cli(args: string[], nodeArgs: string[] = []): { code: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, [...nodeArgs, MAIN, ...args], { encoding: 'utf8', env, timeout: 60_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/** The async form, for a command that talks to a server in this process. */
function cliAsync(args: string[]): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [MAIN, ...args], { env, timeout: 60_000 }, (e, out, err) => resolve({ code: e ? Number((e as { code?: number }).code ?? 1) : 0, out, err }));
  });
}

/** Every command path of the tree, hidden ones included (each must answer --help). */
function paths(cmd: Command, prefix: string[] = []): string[][] {
  return cmd.commands.flatMap((c) => [[...prefix, c.name()], ...paths(c, [...prefix, c.name()])]);
}

test('every command and subcommand of the tree answers --help with its usage, exit 0', (t) => {
  const all = paths(buildProgram());
  t.true(all.length >= 40, `${all.length} commands`);
  for (const p of [[], ...all]) {
    const r = cli([...p, '--help']);
    t.is(r.code, 0, `${p.join(' ')} --help: ${r.err}`);
    t.true(r.out.startsWith(`Usage: distminer${p.length ? ' ' + p.join(' ') : ''}`), `${p.join(' ')} --help: ${r.out.slice(0, 200)}`);
  }
  // The ones that failed before commander: `help` as a word too.
  for (const c of ['deals', 'client', 'worker', 'info', 'post', 'params']) t.is(cli(['help', c]).code, 0, c);
});

test("--version prints package.json's version", (t) => {
  const { version } = JSON.parse(readFileSync(PKG, 'utf8')) as { version: string };
  for (const f of ['--version', '-v']) {
    const r = cli([f]);
    t.is(r.code, 0);
    t.is(r.out.trim(), version);
  }
});

test('usage errors exit 2 and name what is wrong; no command is usage too', (t) => {
  const cases: [string[], RegExp][] = [
    [['run', '--winning'], /unknown option '--winning'/],
    [['run', '--window-post=maybe'], /--window-post must be true or false/],
    [['sectors', 'list', '--bogus'], /unknown option '--bogus'/],
    [['deals', 'list', '--nope=1'], /unknown option '--nope=1'/],
    [['status', '--repo'], /option '--repo <dir>' argument missing/],
    [['deals', 'status'], /missing required argument 'uuid'/],
    [['auth', 'create-token'], /required option '--perm <level>' not specified/],
    [['store', 'check', 'a', 'b'], /too many arguments/],
    [['no-such-command'], /unknown command 'no-such-command'/],
    [['sectors', 'nope'], /unknown command 'nope'/],
  ];
  for (const [args, msg] of cases) {
    const r = cli(args);
    t.is(r.code, 2, `${args.join(' ')}: ${r.err}`);
    t.regex(r.err, msg, args.join(' '));
  }
  const none = cli([]);
  t.is(none.code, 2);
  t.regex(none.err, /Usage: distminer/);
});

test('help, and a command that does not prove, do not load the proofs addon', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'distminer-help-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  for (const args of [['--help'], ['status', '--help'], ['params', '--help'], ['init', '--help'], ['status', '--repo', join(dir, 'none')]]) {
    const r = cli(args, ['--import', TRACE_DLOPEN]);
    t.notRegex(r.err, /DLOPEN/, args.join(' '));
  }
  // The trace sees the addon when it is loaded.
  const proofs = fileURLToPath(new URL('../../src/proofs/index.js', import.meta.url));
  const r = spawnSync(process.execPath, ['--import', TRACE_DLOPEN, '--input-type=module', '-e', `const p = await import(${JSON.stringify(proofs)}); p.nativeInfo();`], { encoding: 'utf8', env });
  t.is(r.status, 0, r.stderr);
  t.regex(r.stderr, /DLOPEN .*distminer_proofs\.node/);
});

test('--json before or after the subcommand: `sectors --json list` as `sectors list --json`', async (t) => {
  // A seal service that knows one sector (the JSON-RPC answer `sectors list` asks for).
  const sector = { number: 7, state: 'Proving', onChain: true, active: true, expiration: 1000, deals: [] };
  const srv = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      const m = JSON.parse(body) as { id: number; method: string };
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(m.method === 'SectorsList' ? { jsonrpc: '2.0', id: m.id, result: [sector] } : { jsonrpc: '2.0', id: m.id, error: { code: 1, message: 'no' } }));
    });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  t.teardown(() => srv.close());
  const api = `TOKEN:/ip4/127.0.0.1/tcp/${(srv.address() as AddressInfo).port}/http`;
  for (const args of [
    ['sectors', '--json', 'list', '--api', api],
    ['sectors', 'list', '--json', '--api', api],
    ['sectors', '--api', api, 'list', '--json'],
  ]) {
    const r = await cliAsync(args);
    t.is(r.code, 0, `${args.join(' ')}: ${r.err}`);
    t.deepEqual(JSON.parse(r.out), [sector], args.join(' '));
  }
  const text = await cliAsync(['sectors', 'list', '--api', api]);
  t.regex(text.out, /^ID +State/);

  // Offline, on a repository's file store: `sectors numbers` with --json on either side.
  const repo = mkdtempSync(join(tmpdir(), 'distminer-numbers-'));
  t.teardown(() => rmSync(repo, { recursive: true, force: true }));
  t.is((await cliAsync(['sectors', 'numbers', 'set-floor', '42', '--repo', repo])).code, 0);
  for (const args of [
    ['sectors', '--json', 'numbers', 'info', '--repo', repo],
    ['sectors', 'numbers', '--json', 'info', '--repo', repo],
    ['sectors', 'numbers', 'info', '--repo', repo, '--json'],
  ]) {
    const r = await cliAsync(args);
    t.is(r.code, 0, `${args.join(' ')}: ${r.err}`);
    t.is((JSON.parse(r.out) as { next: number }).next, 42, args.join(' '));
  }
});

test('`info` and `proving` print JSON with --json (from the chain)', async (t) => {
  // 48 deadlines, as on mainnet: `proving` asks for every deadline's partitions at once, and
  // the devnet's server refuses more than 32 new connections from one peer at a time
  // (src/net/http-server.ts); the chain client keeps at most 16 calls in flight.
  const h = await startDevnet({ miners: 1, policy: { ...TEST_POLICY, wpostPeriodDeadlines: 48 } });
  t.teardown(() => h.close());
  const miner = [...h.devnet.miners.keys()][0]!;
  const api = ['--miner', miner, '--chain-api', h.apiInfo];
  const info = await cliAsync(['info', ...api, '--json']);
  t.is(info.code, 0, info.err);
  t.is((JSON.parse(info.out) as { miner: string }).miner, miner);
  const dls = await cliAsync(['proving', '--json', 'deadlines', ...api]);
  t.is(dls.code, 0, dls.err);
  t.is((JSON.parse(dls.out) as { deadlines: unknown[] }).deadlines.length, 48);
  const pinfo = await cliAsync(['proving', 'info', ...api, '--json']);
  t.is(pinfo.code, 0, pinfo.err);
  t.is(typeof (JSON.parse(pinfo.out) as { currentEpoch: number }).currentEpoch, 'number');
  const faults = await cliAsync(['proving', 'faults', '--json', ...api]);
  t.deepEqual(JSON.parse(faults.out), []);
  // Without --json: the text, unchanged.
  t.regex((await cliAsync(['proving', 'faults', ...api])).out, /no faulty sectors/);
});

test('`completion` prints a bash script that completes commands and flags from the tree', (t) => {
  const r = cli(['completion']);
  t.is(r.code, 0, r.err);
  const script = join(mkdtempSync(join(tmpdir(), 'distminer-completion-')), 'c.bash');
  t.teardown(() => rmSync(join(script, '..'), { recursive: true, force: true }));
  writeFileSync(script, r.out);
  const complete = (words: string[]) => {
    const b = spawnSync('bash', ['-c', `source ${script}; COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _distminer; echo "\${COMPREPLY[@]}"`], {
      encoding: 'utf8',
    });
    t.is(b.status, 0, b.stderr);
    return b.stdout.trim().split(/\s+/).filter(Boolean).sort();
  };
  t.deepEqual(complete(['distminer', 'sec']), ['sectorid', 'sectors']);
  t.deepEqual(complete(['distminer', 'sectors', 'numbers', 's']), ['set-floor']);
  t.deepEqual(complete(['distminer', 'run', '--repo', '/r', '--win']), ['--window-post', '--winning-post']);
  t.deepEqual(complete(['distminer', 'sectors', 'list', '--js']), ['--json'], "a group's flag after its subcommand");
  t.false(complete(['distminer', '']).includes('proof-worker'), 'hidden commands are not offered');
});
