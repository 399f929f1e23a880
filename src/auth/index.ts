// API permissions as Lotus has them: HS256 JWTs whose payload is `{"Allow": [...]}`, signed with
// one secret per repository, four levels (read < write < sign < admin). A token made here is
// accepted by Lotus's tools (`MINER_API_INFO=TOKEN:/ip4/…`) and the other way round, because the
// secret lives where lotus-miner keeps it: `<repo>/keystore/MF2XI2BNNJ3XILLQOJUXMYLUMU` (the
// base32 of "auth-jwt-private"), a KeyInfo `{"Type":"jwt-hmac-secret","PrivateKey":base64}`,
// mode 0600. `<repo>/token` holds an admin token, as lotus-miner's does.
//
// Every server of a repository verifies with that secret (the seed copies one repository to
// each host, so they all hold it); clients send whatever token they were given. An operator
// gives each host only the level it needs (`distminer auth create-token --perm write` for a
// seal worker), not a copy of the admin token.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { chmodSync, existsSync, linkSync, mkdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../util/durable.js';

export type Permission = 'read' | 'write' | 'sign' | 'admin';
/** In order: each level includes the ones before it (`create-token --perm` semantics). */
export const PERMISSIONS: readonly Permission[] = ['read', 'write', 'sign', 'admin'];

export function isPermission(s: unknown): s is Permission {
  return typeof s === 'string' && (PERMISSIONS as readonly string[]).includes(s);
}

/** `perm` and every level below it, as `lotus auth create-token --perm` issues. */
export function allowUpTo(perm: Permission): Permission[] {
  return PERMISSIONS.slice(0, PERMISSIONS.indexOf(perm) + 1);
}

/** Shortest secret accepted: Lotus makes 32 bytes; an empty or tiny one is a broken repo. */
export const MIN_SECRET_BYTES = 16;
/** A token longer than this is refused before any work (a JWT of ours is ~150 characters). */
export const MAX_TOKEN_LENGTH = 4096;

const b64url = (b: Uint8Array | string) => Buffer.from(b).toString('base64url');
const JWT_HEAD = b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));

export class AuthError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AuthError';
  }
}

/** Issues and checks the tokens of one secret. */
export class Auth {
  private readonly secret: Buffer;

  constructor(secret: Uint8Array) {
    if (secret.length < MIN_SECRET_BYTES) throw new AuthError(`the API secret has ${secret.length} bytes; at least ${MIN_SECRET_BYTES} are needed (an empty secret would let anyone sign tokens)`);
    this.secret = Buffer.from(secret);
  }

  static random(): Auth {
    return new Auth(randomBytes(32));
  }

  /** A token allowing exactly `allow` (Lotus's `AuthNew`). */
  sign(allow: readonly Permission[]): string {
    const body = b64url(JSON.stringify({ Allow: allow }));
    return `${JWT_HEAD}.${body}.${this.mac(`${JWT_HEAD}.${body}`)}`;
  }

  /** A token for `perm` and every level below it. */
  issue(perm: Permission): string {
    return this.sign(allowUpTo(perm));
  }

  /** The permissions a token grants, or null when it is not a valid token of this secret. */
  verify(token: unknown): Permission[] | null {
    if (typeof token !== 'string' || token.length === 0 || token.length > MAX_TOKEN_LENGTH) return null;
    const parts = token.split('.');
    if (parts.length !== 3) return null;
    const want = Buffer.from(this.mac(`${parts[0]}.${parts[1]}`));
    const got = Buffer.from(parts[2]);
    // Compared in constant time (lengths are public: every signature of ours has the same).
    if (want.length !== got.length || !timingSafeEqual(want, got)) return null;
    try {
      const head = JSON.parse(Buffer.from(parts[0], 'base64url').toString('utf8')) as { alg?: unknown };
      if (head.alg !== 'HS256') return null;
      const body = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8')) as { Allow?: unknown };
      if (!Array.isArray(body.Allow)) return null;
      return body.Allow.filter(isPermission);
    } catch {
      return null;
    }
  }

  /** Whether `token` grants `perm`. */
  allows(token: unknown, perm: Permission): boolean {
    return this.verify(token)?.includes(perm) ?? false;
  }

  private mac(data: string): string {
    return createHmac('sha256', this.secret).update(data).digest('base64url');
  }
}

/** The bearer token of an `Authorization: Bearer …` header value, if any. */
export function bearerToken(header: string | undefined): string | undefined {
  if (!header || header.length > MAX_TOKEN_LENGTH + 16) return undefined;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return m?.[1];
}

/** Lotus's error text for a call without the permission it needs. */
export function missingPermission(perm: Permission, method?: string): string {
  return method ? `missing permission to invoke '${method}' (need '${perm}')` : `this call needs a token with the '${perm}' permission`;
}

// ------------------------------------------------------------------ repository files

export const KEYSTORE_DIR = 'keystore';
/** base32("auth-jwt-private"): where lotus-miner keeps its API secret. */
export const JWT_KEY_FILE = 'MF2XI2BNNJ3XILLQOJUXMYLUMU';
export const TOKEN_FILE = 'token';

export function secretPath(repo: string): string {
  return join(repo, KEYSTORE_DIR, JWT_KEY_FILE);
}

function readSecret(path: string): Buffer {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new AuthError(`cannot read the API secret ${path}: ${(e as Error).message}`);
  }
  let ki: { Type?: unknown; PrivateKey?: unknown };
  try {
    ki = JSON.parse(text);
  } catch {
    throw new AuthError(`the API secret ${path} is not a KeyInfo JSON; restore it from a backup or another host of this miner`);
  }
  if (ki.Type !== 'jwt-hmac-secret' || typeof ki.PrivateKey !== 'string') throw new AuthError(`the API secret ${path} is not a jwt-hmac-secret KeyInfo`);
  const secret = Buffer.from(ki.PrivateKey, 'base64');
  if (secret.length < MIN_SECRET_BYTES)
    throw new AuthError(`the API secret ${path} has ${secret.length} bytes (empty or cut); restore it from another host of this miner — a new one would invalidate every token handed out`);
  return secret;
}

/** The repository's Auth; the secret must exist (see ensureRepoAuth). */
export function repoAuth(repo: string): Auth {
  const p = secretPath(repo);
  if (!existsSync(p)) throw new AuthError(`${p} is missing: run \`distminer init\` on this repository (or copy it from another host of this miner)`);
  tightenMode(p);
  return new Auth(readSecret(p));
}

function tightenMode(p: string): void {
  // A secret readable by others lets them mint admin tokens: tighten it, as ssh would refuse.
  try {
    if ((statSync(p).mode & 0o077) !== 0) chmodSync(p, 0o600);
  } catch {
    // best effort; reading it still works
  }
}

/**
 * Creates the repository's secret if it has none (atomically: two starters cannot end up with
 * different secrets — the file is linked into place, which fails if it exists) and makes sure
 * `<repo>/token` is an admin token of it (a repository from before JWTs held a random token:
 * it is replaced, and every host then needs a token of the new secret).
 */
export function ensureRepoAuth(repo: string): { auth: Auth; token: string; createdSecret: boolean; rewroteToken: boolean } {
  const p = secretPath(repo);
  let createdSecret = false;
  if (!existsSync(p)) {
    mkdirSync(join(repo, KEYSTORE_DIR), { recursive: true, mode: 0o700 });
    const tmp = `${p}.new-${process.pid}-${randomBytes(4).toString('hex')}`;
    writeFileAtomic(tmp, JSON.stringify({ Type: 'jwt-hmac-secret', PrivateKey: randomBytes(32).toString('base64') }), 0o600);
    try {
      linkSync(tmp, p);
      createdSecret = true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    } finally {
      rmSync(tmp, { force: true });
    }
  }
  const auth = repoAuth(repo);
  const tp = join(repo, TOKEN_FILE);
  let rewroteToken = false;
  let token = existsSync(tp) ? readFileSync(tp, 'utf8').trim() : '';
  if (!auth.allows(token, 'admin')) {
    token = auth.issue('admin');
    writeFileAtomic(tp, token + '\n', 0o600);
    rewroteToken = true;
  } else {
    tightenMode(tp);
  }
  return { auth, token, createdSecret, rewroteToken };
}
