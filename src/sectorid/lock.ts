// One process at a time may own a repo's sector-number files: the allocator server while it
// runs, or an offline operator command. The lock is flock(2) on `sectorid.lock` (see
// src/util/durable.ts): the kernel drops it when its holder exits or is killed, so there is
// no stale lock to take over, and two starters racing can never both win. The file holds the
// holder's pid and purpose, for the refusal message.
import { resolve } from 'node:path';
import { LockHeldError, lockFile } from '../util/durable.js';

export const LOCK_FILE = 'sectorid.lock';

export interface RepoLock {
  release(): Promise<void>;
}

export async function lockRepo(repo: string, what: string): Promise<RepoLock> {
  const path = resolve(repo, LOCK_FILE);
  try {
    const lock = lockFile(path, what);
    return {
      async release() {
        lock.release();
      },
    };
  } catch (e) {
    if (!(e instanceof LockHeldError)) throw e;
    throw new Error(`${e.message}: another sector-number allocator or operator command uses this repo. ` + 'Stop it, or talk to the running server (--connect HOST:PORT).', { cause: e });
  }
}
