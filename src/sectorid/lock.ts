// One process at a time may own a repo's sector-number files: the allocator server while it
// runs, or an offline operator command. The lock is a file created with O_EXCL holding the
// owner's pid; a lock whose pid no longer exists (the owner was killed) is taken over.
import { open, readFile, unlink } from 'node:fs/promises';
import { resolve } from 'node:path';
import { pidAlive as alive } from '../util/process.js';

export const LOCK_FILE = 'sectorid.lock';


export interface RepoLock {
  release(): Promise<void>;
}

/** Locks held by this process (a pid check cannot tell them apart from stale ones). */
const heldHere = new Set<string>();

export async function lockRepo(repo: string, what: string): Promise<RepoLock> {
  const path = resolve(repo, LOCK_FILE);
  if (heldHere.has(path)) throw new Error(`${path} is held by process ${process.pid} (this process): another sector-number allocator in this process uses this repo`);
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fh = await open(path, 'wx', 0o644);
      await fh.writeFile(`${process.pid}\n${what}\n`);
      await fh.close();
      let released = false;
      heldHere.add(path);
      return {
        async release() {
          if (released) return;
          released = true;
          heldHere.delete(path);
          await unlink(path).catch(() => {});
        },
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    let text = '';
    try {
      text = await readFile(path, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw e;
    }
    const [pidText, owner] = text.split('\n');
    const pid = Number(pidText);
    if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && alive(pid)) {
      throw new Error(
        `${path} is held by process ${pid} (${owner || 'unknown'}): another sector-number allocator or operator command uses this repo. ` +
          'Stop it, or talk to the running server (--connect HOST:PORT). If no such process exists, remove the lock file.',
      );
    }
    // Stale (owner gone, or unreadable junk left by a crash): remove and retry.
    await unlink(path).catch(() => {});
  }
  throw new Error(`could not take the lock ${path}`);
}
