// config.toml parsing, flags → roles, repository creation and adoption.
import test from 'ava';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Auth, secretPath } from '../../src/auth/index.js';
import { parseApiMultiaddr, parseHostPort } from '../../src/config/multiaddr.js';
import { initRepo, openRepo, resolveRepoPath } from '../../src/config/repo.js';
import { type FileConfig, type FlagConfig, parseConfigToml, resolveSettings, rolesFromFlags } from '../../src/config/settings.js';

const file = (o: Partial<FileConfig> = {}): FileConfig => ({ minerId: 'f01000', mailbox: {}, supervisor: {}, ...o });
const roles = (f: FlagConfig, c: Partial<FileConfig> = {}) => resolveSettings(file(c), f).roles;

test('the seed flags map onto roles', (t) => {
  t.deepEqual(roles({}), ['winning-post', 'window-post', 'seal', 'deal'], 'defaults: a single miner doing everything');
  t.deepEqual(roles({ windowPost: true, winningPost: true, p2p: false }), ['winning-post', 'window-post'], 'PoSt miner: no sealing');
  t.deepEqual(roles({ windowPost: true, winningPost: false, p2p: false }), ['window-post']);
  t.deepEqual(roles({ windowPost: false, winningPost: true, p2p: false }), ['winning-post']);
  t.deepEqual(roles({ windowPost: false, winningPost: false, p2p: true }), ['seal', 'deal'], 'deal miner seals its deal sectors');
  t.deepEqual(roles({ windowPost: false, winningPost: false, p2p: false }), ['seal'], 'seal miner');
  t.deepEqual(roles({ windowPost: true, winningPost: true, p2p: false, seal: true }), ['winning-post', 'window-post', 'seal'], 'fallback to one miner');
  t.deepEqual(rolesFromFlags({ windowPost: false, winningPost: false, p2p: true, seal: false }), ['deal']);
});

test('the seed log lines are listed for the roles that are off', (t) => {
  const s = resolveSettings(file(), { windowPost: true, winningPost: true, p2p: false });
  t.deepEqual(s.disabledLines, ['This miner will be disable p2p']);
  const seal = resolveSettings(file(), { windowPost: false, winningPost: false, p2p: false });
  t.deepEqual(seal.disabledLines, ['This miner will be disable p2p', 'This miner will be disable minning block', 'This miner will be disable windowPoSt']);
});

test('--roles, and its agreement with seed flags', (t) => {
  t.deepEqual(roles({ roles: ['deal', 'winning-post'] }), ['winning-post', 'deal']);
  t.deepEqual(roles({ roles: ['seal'], p2p: false }), ['seal']);
  t.throws(() => roles({ roles: ['seal'], windowPost: true }), { message: /--window-post=true contradicts the role list \(seal\), which omits window-post/ });
  t.throws(() => roles({ roles: ['sealer'] }), { message: /unknown role "sealer"/ });
  t.throws(() => roles({ roles: [''] }), { message: /no roles given/ });
});

test('config.toml settings apply; flags win', (t) => {
  t.deepEqual(roles({}, { windowPost: false, winningPost: false, p2p: false }), ['seal']);
  t.deepEqual(roles({ p2p: true }, { windowPost: false, winningPost: false, p2p: false }), ['seal', 'deal']);
  t.deepEqual(roles({}, { roles: ['winning-post'] }), ['winning-post']);
  t.deepEqual(roles({ roles: ['seal'] }, { roles: ['winning-post'] }), ['seal']);
  t.throws(() => roles({}, { roles: ['winning-post'], p2p: true }), { message: /P2P=true contradicts/ });
  const s = resolveSettings(file({ sctype: 'alloce', sclisten: '10.0.0.1:1357' }), {});
  t.deepEqual(s.sectorId, { mode: 'alloce', listen: { host: '10.0.0.1', port: 1357 } });
  const f = resolveSettings(file({ sctype: 'alloce', sclisten: '10.0.0.1:1357' }), { sctype: 'get', sclisten: '10.0.0.2:1357' });
  t.deepEqual(f.sectorId, { mode: 'get', listen: { host: '10.0.0.2', port: 1357 } });
  t.is(resolveSettings(file(), {}).sectorId.mode, 'local');
});

test('sector-number flags are checked', (t) => {
  t.throws(() => resolveSettings(file(), { sctype: 'alloce' }), { message: /--sctype=alloce needs --sclisten/ });
  t.throws(() => resolveSettings(file(), { sclisten: '1.2.3.4:5' }), { message: /without --sctype/ });
  t.throws(() => resolveSettings(file(), { sctype: 'get', sclisten: '1.2.3.4:0' }), { message: /real port/ });
  t.throws(() => resolveSettings(file(), { sctype: 'get', sclisten: '1.2.3.4:70000' }), { message: /port "70000"/ });
  t.throws(() => resolveSettings(file(), { sctype: 'get', sclisten: 'host:1' }), { message: /not an IP address/ });
  t.deepEqual(parseHostPort('[::1]:1357', 'x'), { host: '::1', port: 1357 });
});

test('miner id and API address are checked', (t) => {
  t.throws(() => resolveSettings(file({ minerId: undefined }), {}), { message: /no miner id/ });
  t.throws(() => resolveSettings(file({ minerId: 'f3abc' }), {}), { message: /not an ID address/ });
  t.throws(() => resolveSettings(file({ apiListen: '127.0.0.1:2345' }), {}), { message: /not a multiaddr/ });
  t.deepEqual(parseApiMultiaddr('/ip4/10.0.99.12/tcp/2345/http'), { host: '10.0.99.12', port: 2345 });
  t.throws(() => parseApiMultiaddr('/ip4/::1/tcp/1/http'), { message: /not an ip4 address/ });
});

test('config.toml: a Lotus config is accepted, our sections are checked', (t) => {
  const lotus = `[API]\n  ListenAddress = "/ip4/10.0.99.12/tcp/2345/http"\n  RemoteListenAddress = "10.0.99.12:2345"\n  #Timeout = "30s"\n[Sealing]\n  MaxWaitDealsSectors = 2\n[Storage]\n  AllowAddPiece = true\n`;
  const c = parseConfigToml(lotus + '[Distminer]\n  Miner = "f01000"\n  P2P = false\n[Distminer.Mailbox]\n  SealLanes = 2\n  AgingSeconds = 30\n[Distminer.Supervisor]\n  MaxRestarts = 3\n');
  t.is(c.apiListen, '/ip4/10.0.99.12/tcp/2345/http');
  t.is(c.p2p, false);
  t.deepEqual(c.mailbox, { sealLanes: 2, agingMs: 30_000 });
  t.deepEqual(c.supervisor, { maxRestarts: 3 });
  t.throws(() => parseConfigToml('[Distminer]\n  P2p = false\n'), { message: /unknown key P2p in \[Distminer\]/ });
  t.throws(() => parseConfigToml('[Distminer]\n  P2P = "no"\n'), { message: /P2P in \[Distminer\] must be a boolean/ });
  t.throws(() => parseConfigToml('[Distminer.Mailbox]\n  SealLanes = 0\n'), { message: /SealLanes .* must be an integer ≥ 1/ });
  t.throws(() => parseConfigToml('[Distminer.Mailbox]\n  Throttle = "pause"\n'), { message: /Throttle/ });
  t.throws(() => parseConfigToml('[API\n'), { message: /does not parse/ });
});

test('cluster peers: [Distminer] ClusterPeers, else DISTMINER_CLUSTER_PEERS; each TOKEN:/ip4/HOST/tcp/PORT/http, checked', (t) => {
  const c = parseConfigToml('[Distminer]\n  Miner = "f01000"\n  ClusterPeers = ["tok1:/ip4/10.0.0.2/tcp/2345/http", "tok2:/ip6/::1/tcp/2346/http"]\n');
  const s = resolveSettings({ ...c, mailbox: {}, supervisor: {} }, {}, {});
  t.deepEqual(s.clusterPeers, [
    { endpoint: '/ip4/10.0.0.2/tcp/2345/http', url: 'http://10.0.0.2:2345', token: 'tok1' },
    { endpoint: '/ip6/::1/tcp/2346/http', url: 'http://[::1]:2346', token: 'tok2' },
  ]);
  t.deepEqual(
    resolveSettings(file(), {}, { DISTMINER_CLUSTER_PEERS: 'a:/ip4/10.0.0.3/tcp/1/http,b:/ip4/10.0.0.4/tcp/2/http' }).clusterPeers.map((p) => p.token),
    ['a', 'b'],
  );
  t.deepEqual(resolveSettings(file(), {}, {}).clusterPeers, []);
  t.throws(() => resolveSettings(file({ clusterPeers: ['/ip4/10.0.0.2/tcp/2345/http'] }), {}, {}), { message: /ClusterPeers entry 1: .* is not TOKEN:\/ip4\/HOST\/tcp\/PORT\/http/ });
  t.throws(() => resolveSettings(file({ clusterPeers: ['t:/ip4/10.0.0.2/tcp/0/http'] }), {}, {}), { message: /real API port/ });
  t.throws(() => resolveSettings(file(), {}, { DISTMINER_CLUSTER_PEERS: 't:10.0.0.2:2345' }), { message: /DISTMINER_CLUSTER_PEERS entry 1/ });
  t.throws(() => parseConfigToml('[Distminer]\n  ClusterPeers = "t:/ip4/10.0.0.2/tcp/2345/http"\n'), { message: /ClusterPeers in \[Distminer\] must be an array/ });
});

test('slash filter: [Distminer] SlashFilter, else DISTMINER_SLASH_FILTER; "file" or absent is the repo file alone; anything but a postgres URL is refused without its password', (t) => {
  const c = parseConfigToml('[Distminer]\n  Miner = "f01000"\n  SlashFilter = "postgres://u:pw@db:5432/slash"\n');
  t.is(resolveSettings({ ...c, mailbox: {}, supervisor: {} }, {}, { DISTMINER_SLASH_FILTER: 'postgres://other' }).slashFilter, 'postgres://u:pw@db:5432/slash');
  t.is(resolveSettings(file(), {}, { DISTMINER_SLASH_FILTER: 'postgresql://db/x' }).slashFilter, 'postgresql://db/x');
  t.is(resolveSettings(file(), {}, {}).slashFilter, undefined);
  t.is(resolveSettings(file({ slashFilter: 'file' }), {}, { DISTMINER_SLASH_FILTER: 'postgres://db/x' }).slashFilter, undefined, 'the file says the repo file alone');
  const e = t.throws(() => resolveSettings(file({ slashFilter: 'mysql://u:secret@db/x' }), {}, {}));
  t.regex(e.message, /config\.toml \[Distminer\] SlashFilter must be "file" or a postgres:\/\/ URL/);
  t.notRegex(e.message, /secret/);
  t.throws(() => resolveSettings(file(), {}, { DISTMINER_SLASH_FILTER: 'db:5432' }), { message: /DISTMINER_SLASH_FILTER must be/ });
});

test('repository path: --repo, then DISTMINER_PATH, then LOTUS_MINER_PATH', (t) => {
  t.is(resolveRepoPath('/a', { DISTMINER_PATH: '/b', LOTUS_MINER_PATH: '/c' }), '/a');
  t.is(resolveRepoPath(undefined, { DISTMINER_PATH: '/b', LOTUS_MINER_PATH: '/c' }), '/b');
  t.is(resolveRepoPath(undefined, { LOTUS_MINER_PATH: '/c' }), '/c');
  t.throws(() => resolveRepoPath(undefined, {}), { message: /no repository given/ });
});

test('init creates a complete repository atomically, and refuses to clobber', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'distminer-init-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const repo = join(dir, 'r');
  t.true(initRepo(repo, 'f01234', '/ip4/127.0.0.1/tcp/2345/http').created);
  const r = openRepo(repo);
  t.is(r.config.minerId, 'f01234');
  t.is(r.config.apiListen, '/ip4/127.0.0.1/tcp/2345/http');
  t.deepEqual(r.auth.verify(r.token), ['read', 'write', 'sign', 'admin'], 'an admin JWT of the repository secret');
  t.is(statSync(join(repo, 'token')).mode & 0o777, 0o600);
  t.deepEqual(readdirSync(dir), ['r'], 'no temporary directory left behind');
  t.throws(() => initRepo(repo, 'f01234'), { message: /already initialised/ });
  t.throws(() => initRepo(repo, 'f09999'), { message: /already a repository of miner f01234/ });
  const junk = join(dir, 'junk');
  mkdirSync(junk);
  writeFileSync(join(junk, 'x'), 'x');
  t.throws(() => initRepo(junk, 'f01000'), { message: /not empty and has no config.toml/ });
  t.throws(() => initRepo(join(dir, 'z'), 'miner1'), { message: /not an ID address/ });
  const empty = join(dir, 'empty');
  mkdirSync(empty);
  t.true(initRepo(empty, 'f01000').created, 'an empty directory is used');
  t.true(existsSync(join(empty, 'token')));
});

test('init adopts a copied Lotus repository, keeping its config text', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'distminer-adopt-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const lotusCfg = '[API]\n  ListenAddress = "/ip4/10.0.99.12/tcp/2345/http"\n  # a comment the operator wrote\n[Sealing]\n  MaxWaitDealsSectors = 2\n';
  writeFileSync(join(dir, 'config.toml'), lotusCfg);
  // lotus-miner's layout: the JWT secret in keystore/, an admin token beside it.
  const lotusSecret = randomBytes(32);
  const lotusAuth = new Auth(lotusSecret);
  const lotusToken = lotusAuth.issue('admin');
  mkdirSync(join(dir, 'keystore'), { mode: 0o700 });
  writeFileSync(secretPath(dir), JSON.stringify({ Type: 'jwt-hmac-secret', PrivateKey: lotusSecret.toString('base64') }), { mode: 0o600 });
  writeFileSync(join(dir, 'token'), lotusToken + '\n');
  const r = initRepo(dir, 'f01000');
  t.true(r.adopted);
  const text = readFileSync(join(dir, 'config.toml'), 'utf8');
  t.true(text.startsWith(lotusCfg), 'the Lotus config is kept byte for byte');
  const repo = openRepo(dir);
  t.is(repo.config.minerId, 'f01000');
  t.is(repo.token, lotusToken, "lotus-miner's token is kept");
  t.true(repo.auth.allows(lotusAuth.issue('write'), 'write'), 'tokens lotus-miner issued keep working');
});
