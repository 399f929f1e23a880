// `distminer sectors numbers info|reserve|free|set-floor` — the operator's view of the
// sector-number allocator (like lotus-miner's `sectors numbers`).
//
// With --connect HOST:PORT (or --sclisten) and a token of the miner (a JWT: `info` needs read,
// `reserve`, `free` and `set-floor` need admin), the command talks to the running server over
// the wire protocol: the server applies it between commits. Without it,
// the command works on the store directly: --repo DIR opens the repo's files under the repo
// lock (refused while a server holds it), --store postgres://… opens the database (a
// transaction on the locked counter row, safe beside running servers).
import { Allocator } from './allocator.js';
import { SectorIdClient } from './client.js';
import { FileStore } from './file-store.js';
import { lockRepo } from './lock.js';
import type { InfoReply } from './protocol.js';
import { PostgresStore } from './pg-store.js';
import { formatRanges, parseRanges, isSectorNumber } from './ranges.js';
import { tokenFrom } from './token.js';

/** The options of `sectors numbers …`, parsed by commander (src/cli/program.ts). */
export interface NumbersOptions {
  json?: boolean;
  connect?: string;
  sclisten?: string;
  token?: string;
  tokenFile?: string;
  repo?: string;
  store?: string;
  scStore?: string;
  miner?: string;
}

export type NumbersCommand = 'info' | 'reserve' | 'free' | 'set-floor';

function printInfo(info: InfoReply, json: boolean): void {
  if (json) {
    process.stdout.write(`${JSON.stringify(info)}\n`);
    return;
  }
  const lines = [
    `miner:        ${info.minerId}`,
    `store:        ${info.store}`,
    `next number:  ${info.next}`,
    `chain floor:  ${info.chainFloor === null ? '(no chain source)' : `${info.chainFloor} (one above the highest allocated on chain)`}`,
    'reservations:',
    ...Object.entries(info.reservations).map(([n, r]) => `  ${n}: ${formatRanges(r)}`),
  ];
  if (Object.keys(info.reservations).length === 0) lines.push('  (none)');
  process.stdout.write(`${lines.join('\n')}\n`);
}

/** `distminer sectors numbers info | reserve NAME RANGES | free NAME | set-floor N` (commander checks the arguments). */
export async function main(p: NumbersOptions, sub: NumbersCommand, [a1, a2]: string[]): Promise<number> {
  const json = p.json === true;
  const ranges = sub === 'reserve' ? parseRanges(a2!) : undefined;
  const floor = sub === 'set-floor' ? Number(a1) : undefined;
  if (sub === 'set-floor' && !isSectorNumber(floor)) throw new Error(`"${a1}" is not a sector number`);

  const address = p.connect ?? p.sclisten;
  if (address) {
    const token = tokenFrom(p);
    if (!token) throw new Error('--connect needs the miner API token (--token, --token-file or DISTMINER_SECTORID_TOKEN)');
    const c = new SectorIdClient({ address, token, deadlineMs: 10_000 });
    try {
      if (sub === 'info') printInfo(await c.info(), json);
      else if (sub === 'reserve') await c.reserve(a1!, ranges!);
      else if (sub === 'free') await c.free(a1!);
      else printInfo(await c.setFloor(floor!), json);
    } finally {
      await c.close();
    }
    if (sub === 'reserve' || sub === 'free') process.stdout.write(`${sub === 'reserve' ? `reserved ${a1}: ${formatRanges(ranges!)}` : `freed ${a1}`}\n`);
    return 0;
  }

  const repo = p.repo ?? process.env.DISTMINER_REPO;
  const storeUrl = p.store ?? p.scStore;
  const minerId = p.miner ?? 'f01000';
  const pgUrl = storeUrl && storeUrl !== 'file' ? storeUrl : undefined;
  if (!pgUrl && !repo) {
    process.stderr.write('sectors numbers: give --connect HOST:PORT, --repo DIR or --store postgres://... (see --help)\n');
    return 2;
  }
  const store = pgUrl ? new PostgresStore(pgUrl, minerId) : new FileStore(repo!);
  const lock = pgUrl ? undefined : await lockRepo(repo!, `distminer sectors numbers ${sub}`);
  // Offline, only set-floor may create a counter (it is the operator saying where to start).
  const alloc = new Allocator({ store, minerId });
  try {
    await alloc.open(
      sub === 'set-floor'
        ? { extraFloor: floor, operatorFloor: true }
        : { noCreate: 'this command does not create one; start the server, or run `sectors numbers set-floor N` to say where numbering starts' },
    );
  } catch (e) {
    await lock?.release();
    throw e;
  }
  try {
    if (sub === 'info') printInfo(await alloc.info(), json);
    else if (sub === 'reserve') {
      await alloc.reserve(a1!, ranges!);
      process.stdout.write(`reserved ${a1}: ${formatRanges(ranges!)}\n`);
    } else if (sub === 'free') {
      await alloc.free(a1!);
      process.stdout.write(`freed ${a1}\n`);
    } else {
      await alloc.setFloor(floor!);
      printInfo(await alloc.info(), json);
    }
  } finally {
    await alloc.close();
    await lock?.release();
  }
  return 0;
}
