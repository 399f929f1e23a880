import test from 'ava';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Auth, allowUpTo, bearerToken, ensureRepoAuth, repoAuth, secretPath } from '../../src/auth/index.js';
import { initRepo, openRepo } from '../../src/config/repo.js';

test('tokens carry exactly their Allow list; other secrets, edits and junk are refused', (t) => {
  const a = Auth.random();
  const w = a.issue('write');
  t.deepEqual(a.verify(w), ['read', 'write']);
  t.true(a.allows(w, 'write'));
  t.false(a.allows(w, 'admin'));
  t.deepEqual(allowUpTo('admin'), ['read', 'write', 'sign', 'admin']);
  t.is(Auth.random().verify(w), null, 'another secret');
  // A token whose payload was changed to claim admin keeps its old signature: refused.
  const [h, , s] = w.split('.');
  const forged = `${h}.${Buffer.from(JSON.stringify({ Allow: ['admin'] })).toString('base64url')}.${s}`;
  t.is(a.verify(forged), null);
  for (const junk of ['', 'x', 'a.b', 'a.b.c', `${w}x`, 'x'.repeat(10_000), null, 42, undefined]) t.is(a.verify(junk), null);
  // alg "none" with our payload is not accepted.
  const none = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${w.split('.')[1]}.`;
  t.is(a.verify(none), null);
});

test('an empty or short secret is refused', (t) => {
  t.throws(() => new Auth(Buffer.alloc(0)), { message: /0 bytes/ });
  t.throws(() => new Auth(Buffer.alloc(8, 1)), { message: /at least 16/ });
});

test('a Lotus-signed token (same HS256 layout) verifies with the same secret', (t) => {
  // go-jsonrpc/auth: jwt.Sign(&JwtPayload{Allow}, jwt.NewHS256(secret)) → header {"alg":"HS256","typ":"JWT"}.
  const secret = Buffer.alloc(32, 7);
  const a = new Auth(secret);
  const tok = a.sign(['read', 'write', 'sign', 'admin']);
  t.is(tok.split('.')[0], 'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9');
  t.deepEqual(a.verify(tok), ['read', 'write', 'sign', 'admin']);
});

test('bearer header parsing', (t) => {
  t.is(bearerToken('Bearer abc.def.ghi'), 'abc.def.ghi');
  t.is(bearerToken('bearer  abc '), 'abc');
  t.is(bearerToken('Basic abc'), undefined);
  t.is(bearerToken(undefined), undefined);
  t.is(bearerToken(`Bearer ${'x'.repeat(100_000)}`), undefined);
});

test('a repository gets a 0600 secret where lotus-miner keeps it and an admin token; an old random token is replaced', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'distminer-auth-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const repo = join(dir, 'r');
  initRepo(repo, 'f01000');
  t.is(statSync(secretPath(repo)).mode & 0o777, 0o600);
  t.is(statSync(join(repo, 'keystore')).mode & 0o777, 0o700);
  t.is(statSync(join(repo, 'token')).mode & 0o777, 0o600);
  const r = openRepo(repo);
  t.deepEqual(r.auth.verify(r.token), ['read', 'write', 'sign', 'admin']);
  // A pre-JWT repository: a random hex token, no secret.
  const old = join(dir, 'old');
  mkdirSync(old);
  writeFileSync(join(old, 'token'), 'ab'.repeat(32) + '\n', { mode: 0o644 });
  const e = ensureRepoAuth(old);
  t.true(e.createdSecret && e.rewroteToken);
  t.true(repoAuth(old).allows(readFileSync(join(old, 'token'), 'utf8').trim(), 'admin'));
  t.is(statSync(join(old, 'token')).mode & 0o777, 0o600);
  // A second call changes nothing.
  const again = ensureRepoAuth(old);
  t.false(again.createdSecret || again.rewroteToken);
});

test('an empty or cut secret file is refused, never replaced', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'distminer-auth-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  initRepo(join(dir, 'r'), 'f01000');
  const p = secretPath(join(dir, 'r'));
  writeFileSync(p, JSON.stringify({ Type: 'jwt-hmac-secret', PrivateKey: '' }));
  t.throws(() => openRepo(join(dir, 'r')), { message: /0 bytes/ });
  writeFileSync(p, '');
  t.throws(() => openRepo(join(dir, 'r')), { message: /not a KeyInfo/ });
  t.is(readFileSync(p, 'utf8'), '', 'left for the operator to restore');
});

test('many processes creating one repository secret at once agree on one', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'distminer-auth-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const { spawn } = await import('node:child_process');
  const mod = new URL('../../src/auth/index.js', import.meta.url).href;
  const code = `import(${JSON.stringify(mod)}).then(m => { const { auth } = m.ensureRepoAuth(process.argv[1]); process.stdout.write(auth.issue('read')); })`;
  const outs = await Promise.all(
    Array.from(
      { length: 12 },
      () =>
        new Promise<string>((resolve, reject) => {
          const p = spawn(process.execPath, ['-e', code, dir]);
          let out = '';
          p.stdout.on('data', (d) => (out += d));
          p.on('close', (c) => (c === 0 ? resolve(out) : reject(new Error(`exit ${c}`))));
        }),
    ),
  );
  t.is(new Set(outs).size, 1, 'every process signs with the same secret');
  t.true(repoAuth(dir).allows(outs[0], 'read'));
});
