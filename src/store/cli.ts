// `distminer store check DIR` and `distminer store repair DIR`: the journal store's operator
// commands (DIR is a store directory, e.g. <repo>/sealing). `check` reads only; `repair` is for
// a journal that open refuses: it copies the whole journal aside, then cuts it at the last good
// frame, and says what it dropped. Run it only with the miner stopped (it takes the store's lock).
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { repairJournal, scanJournal } from './kv.js';

/** `distminer store check DIR`: exit 1 when the journal is damaged. */
export async function check(dirArg: string): Promise<number> {
  return run('check', dirArg);
}

/** `distminer store repair DIR` */
export async function repair(dirArg: string): Promise<number> {
  return run('repair', dirArg);
}

async function run(sub: 'check' | 'repair', dirArg: string): Promise<number> {
  const dir = resolve(dirArg);
  const journal = join(dir, 'journal');
  if (!existsSync(journal)) {
    process.stderr.write(`store: ${journal} does not exist\n`);
    return 1;
  }
  if (sub === 'check') {
    const buf = readFileSync(journal);
    const s = scanJournal(buf);
    if (s.damage) {
      process.stdout.write(
        `store: ${journal}: format ${s.version}, ${s.batches.length} good frame(s), then frame ${s.damage.frame} at byte ${s.damage.offset} ${s.damage.why}; ` +
          `${s.damage.bytesFrom} bytes from there. \`distminer store repair ${dirArg}\` would keep the ${s.batches.length} good frame(s).\n`,
      );
      return 1;
    }
    process.stdout.write(
      `store: ${journal}: format ${s.version}, ${s.batches.length} frame(s), ${buf.length} bytes${s.tornBytes ? `, an unfinished last write of ${s.tornBytes} bytes (cut on open)` : ''}: ok\n`,
    );
    return 0;
  }
  const r = repairJournal(dir);
  if (r.clean) {
    process.stdout.write(`store: ${journal} is whole (${r.framesKept} frame(s)); nothing to repair\n`);
    return 0;
  }
  process.stdout.write(
    `store: ${journal}: copied to ${r.aside}; kept ${r.framesKept} frame(s), cut at byte ${r.cutAt}: frame ${r.firstBadFrame} ${r.why}; ` + `dropped ${r.bytesDropped} bytes (still in the copy)\n`,
  );
  return 0;
}
