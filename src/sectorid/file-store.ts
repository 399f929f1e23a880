// The default store: files in the miner's repo.
//
//   sectorid                    the NEXT sector number to hand out, as a plain decimal (the
//                               seed's file; our reading of it: the counter's value is never
//                               handed out before it is stored, so "next" is the safe meaning)
//   sectorid.requests           journal of recent allocations, one JSON line each:
//                               {"id":REQUEST_ID,"n":N,"s":[[lo,hi],...]}
//   sectorid.reservations.json  {"version":1,"reservations":{NAME:[[lo,hi],...]}}
//   .sectorid-created           written when the counter is first made: if `sectorid` is ever
//                               missing beside it, the counter was lost and start is refused
//                               (only `sectors numbers set-floor N` writes it again)
//
// A commit (one group of concurrent requests) appends the group's lines to the journal and
// fdatasyncs it, then rewrites `sectorid` (temp, fsync, rename, fsync dir); only then are the
// answers sent. On start next = max(sectorid, highest journal number + 1), so a crash between
// the two writes loses nothing, and request ids in the journal are answered again with the
// same numbers after a restart. The journal keeps the last `remember` entries (rewritten
// crash-safely when it grows to twice that).
import { open, readFile, readdir, stat, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { logger } from '../log.js';
import { ErrorCode, SectorIdError } from './protocol.js';
import { type Ranges, MAX_SECTOR_NUMBER, maxOf, normalize, overlaps, takeNumbers, formatRanges } from './ranges.js';
import type { AllocOutcome, AllocRequest, OpenOptions, SectorIdStore, StoreState } from './store.js';
import { writeFileAtomicAsync as writeFileDurable } from '../util/durable.js';

export const COUNTER_FILE = 'sectorid';
export const JOURNAL_FILE = 'sectorid.requests';
export const RESERVATIONS_FILE = 'sectorid.reservations.json';
/**
 * Written once the counter exists and never removed: a missing counter beside it was lost,
 * not never made. A dot file, so `rm sectorid*` does not take it along.
 */
export const CREATED_FILE = '.sectorid-created';

const log = logger('sectorid');

interface Remembered {
  n: number;
  numbers: Ranges;
}

async function readOptional(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new Error(`cannot read ${path}: ${(e as Error).message}. Check the file's permissions and the disk.`, { cause: e });
  }
}

/** Parse the counter file strictly. Throws an operator-facing message. */
export function parseCounter(path: string, text: string): number {
  const m = /^\s*(\d{1,16})\s*$/.exec(text);
  const n = m ? Number(m[1]) : NaN;
  if (!m || n > MAX_SECTOR_NUMBER) {
    const shown = text.length === 0 ? 'it is empty' : `it holds ${JSON.stringify(text.slice(0, 40))}`;
    throw new Error(
      `the sector-number counter ${path} is unusable: ${shown}. It must hold the next sector number as a decimal. ` +
        'Refusing to start rather than reissue numbers. Check the disk, restore the file from a backup, or write a number ' +
        "above every sector number this miner ever used (the chain's allocated set, `lotus state miner-info` / `sectors list`).",
    );
  }
  return n;
}

export async function readCounterFile(repo: string): Promise<number | undefined> {
  const path = join(repo, COUNTER_FILE);
  const text = await readOptional(path);
  return text === undefined ? undefined : parseCounter(path, text);
}

export class FileStore implements SectorIdStore {
  readonly description: string;
  private next = 0;
  private reservations = new Map<string, Ranges>();
  private reservedUnion: Ranges = [];
  private remembered = new Map<string, Remembered>();
  private journal: FileHandle | undefined;
  private journalLines = 0;
  private journalBroken = false;

  constructor(
    readonly repo: string,
    private readonly remember = 10_000,
  ) {
    this.description = `file:${repo}`;
  }

  private p(name: string): string {
    return join(this.repo, name);
  }

  async open(opts: OpenOptions): Promise<void> {
    const st = await stat(this.repo).catch(() => undefined);
    if (!st?.isDirectory()) throw new Error(`the repo directory ${this.repo} does not exist`);
    // Temp files of writes a crash interrupted (never renamed, so never in effect).
    for (const f of await readdir(this.repo)) {
      if (/^\.\.?sectorid.*\.tmp-\d+-\d+$/.test(f)) await unlink(this.p(f)).catch(() => {});
    }
    const counterText = await readOptional(this.p(COUNTER_FILE));
    const journalText = await readOptional(this.p(JOURNAL_FILE));
    const resText = await readOptional(this.p(RESERVATIONS_FILE));

    if (resText !== undefined) this.loadReservations(resText);
    let journalMax = -1;
    if (journalText !== undefined) journalMax = this.loadJournal(journalText);

    const createdText = await readOptional(this.p(CREATED_FILE));

    if (counterText === undefined) {
      // Evidence that this repo had a counter: then it was lost, and starting again from the
      // chain or 0 could reissue numbers (sectors still sealing are not on chain yet).
      const evidence =
        journalText !== undefined
          ? `${JOURNAL_FILE} exists`
          : resText !== undefined
            ? `${RESERVATIONS_FILE} exists`
            : createdText !== undefined
              ? `${CREATED_FILE} records that this repo created one (${createdText.trim()})`
              : undefined;
      if (evidence !== undefined && !opts.operatorFloor) {
        throw new Error(
          `the sector-number counter ${this.p(COUNTER_FILE)} is missing while ${evidence}: the counter was lost. ` +
            'Refusing to start rather than reissue numbers. Restore it from a backup, or, with the server stopped, set where ' +
            `numbering resumes, above every sector number this miner ever used (on chain and still sealing): \`distminer sectors numbers set-floor N --repo ${this.repo}\`.`,
        );
      }
      if (evidence === undefined && !opts.mayCreate) {
        throw new Error(`no sector-number counter in ${this.repo} (${COUNTER_FILE}) yet, and it is not created now: ${opts.whyNot}`);
      }
      this.next = Math.max(opts.initialNext, journalMax + 1);
      if (evidence !== undefined) log.warn({ next: this.next, file: this.p(COUNTER_FILE), evidence }, "writing the lost sector-number counter again at the operator's floor");
      else log.info({ next: this.next, file: this.p(COUNTER_FILE) }, 'creating the sector-number counter');
      await writeFileDurable(this.p(COUNTER_FILE), `${this.next}\n`);
      if (createdText === undefined) await this.writeCreated();
    } else {
      const counter = parseCounter(this.p(COUNTER_FILE), counterText);
      this.next = counter;
      // Repos from before the marker: record now that this repo has a counter.
      if (createdText === undefined) await this.writeCreated();
      if (journalMax + 1 > counter) {
        // The process died after the journal was synced but before the counter was renamed.
        log.warn({ counter, recovered: journalMax + 1 }, 'counter file behind the request journal; recovering from the journal');
        this.next = journalMax + 1;
        await writeFileDurable(this.p(COUNTER_FILE), `${this.next}\n`);
      }
    }
    // Rewrite the journal: drops a torn last line and starts appends on a clean file.
    await this.compactJournal();
  }

  private async writeCreated(): Promise<void> {
    await writeFileDurable(this.p(CREATED_FILE), `counter created ${new Date().toISOString()} at ${this.next}\n`);
  }

  private loadReservations(text: string): void {
    const path = this.p(RESERVATIONS_FILE);
    try {
      const doc = JSON.parse(text) as { version?: unknown; reservations?: unknown };
      if (doc.version !== 1 || typeof doc.reservations !== 'object' || doc.reservations === null || Array.isArray(doc.reservations)) {
        throw new Error('expected {"version":1,"reservations":{...}}');
      }
      for (const [name, rs] of Object.entries(doc.reservations as Record<string, unknown>)) {
        if (!Array.isArray(rs)) throw new Error(`reservation "${name}" is not a list of ranges`);
        this.reservations.set(name, normalize(rs as Ranges));
      }
    } catch (e) {
      throw new Error(`the reservations file ${path} is corrupt (${(e as Error).message}). Refusing to start; restore it from a backup or fix it by hand.`, { cause: e });
    }
    this.recomputeUnion();
  }

  private recomputeUnion(): void {
    this.reservedUnion = normalize([...this.reservations.values()].flat());
  }

  /** Returns the highest number in the journal (-1 if none). */
  private loadJournal(text: string): number {
    const lines = text.split('\n');
    // A torn (unsynced, never answered) last line is expected after a crash: ignore it.
    const complete = text.endsWith('\n') ? lines.slice(0, -1) : lines.slice(0, -1);
    let max = -1;
    complete.forEach((line, i) => {
      if (line.length === 0) return;
      let rec: { id?: unknown; n?: unknown; s?: unknown };
      try {
        rec = JSON.parse(line) as typeof rec;
        if (typeof rec.id !== 'string' || typeof rec.n !== 'number' || !Array.isArray(rec.s)) throw new Error('missing fields');
        const numbers = normalize(rec.s as Ranges);
        this.remember1(rec.id, { n: rec.n, numbers });
        max = Math.max(max, maxOf(numbers) ?? -1);
      } catch (e) {
        if (i === complete.length - 1) return; // torn tail that happened to end at a newline
        throw new Error(
          `the request journal ${this.p(JOURNAL_FILE)} is corrupt at line ${i + 1} (${(e as Error).message}). Refusing to start; ` +
            'check the disk. The journal only speeds up retries: after checking that `sectorid` is above every number used, it may be removed.',
          { cause: e },
        );
      }
    });
    return max;
  }

  private remember1(id: string, r: Remembered): void {
    this.remembered.delete(id);
    this.remembered.set(id, r);
    while (this.remembered.size > this.remember) {
      const oldest = this.remembered.keys().next().value as string;
      this.remembered.delete(oldest);
    }
  }

  private async compactJournal(): Promise<void> {
    await this.journal?.close().catch(() => {});
    this.journal = undefined;
    let text = '';
    for (const [id, r] of this.remembered) text += `${JSON.stringify({ id, n: r.n, s: r.numbers })}\n`;
    await writeFileDurable(this.p(JOURNAL_FILE), text);
    this.journal = await open(this.p(JOURNAL_FILE), 'a');
    this.journalLines = this.remembered.size;
    this.journalBroken = false;
  }

  async allocate(batch: AllocRequest[], chainAllocated: Ranges): Promise<AllocOutcome[]> {
    const excluded = chainAllocated.length === 0 ? this.reservedUnion : normalize([...this.reservedUnion, ...chainAllocated]);
    const out: AllocOutcome[] = [];
    const fresh: Array<{ id: string; r: Remembered }> = [];
    let next = this.next;
    for (const req of batch) {
      const seen = this.remembered.get(req.requestId);
      if (seen) {
        out.push(
          seen.n === req.n
            ? { numbers: seen.numbers, replayed: true }
            : { error: new SectorIdError(ErrorCode.RequestIdReused, `request id ${req.requestId} was used before for ${seen.n} number(s), not ${req.n}`) },
        );
        continue;
      }
      const t = takeNumbers(next, req.n, excluded);
      next = t.next;
      const r = { n: req.n, numbers: t.taken };
      fresh.push({ id: req.requestId, r });
      out.push({ numbers: t.taken, replayed: false });
    }
    if (fresh.length === 0) return out;
    // From here on the numbers count as used even if the writes fail (a gap, never a reuse).
    this.next = next;
    let lines = '';
    for (const f of fresh) lines += `${JSON.stringify({ id: f.id, n: f.r.n, s: f.r.numbers })}\n`;
    if (this.journalBroken || !this.journal) await this.compactJournal();
    try {
      await this.journal!.appendFile(lines);
      await this.journal!.datasync();
    } catch (e) {
      this.journalBroken = true; // a partial line may be on disk: rewrite before the next append
      throw e;
    }
    this.journalLines += fresh.length;
    await writeFileDurable(this.p(COUNTER_FILE), `${this.next}\n`);
    for (const f of fresh) this.remember1(f.id, f.r);
    if (this.journalLines > 2 * this.remember) await this.compactJournal();
    return out;
  }

  async state(): Promise<StoreState> {
    return { next: this.next, reservations: Object.fromEntries(this.reservations) };
  }

  async reserve(name: string, ranges: Ranges): Promise<void> {
    if (this.reservations.has(name)) {
      throw new SectorIdError(ErrorCode.ReservationConflict, `a reservation named "${name}" exists (${formatRanges(this.reservations.get(name)!)}); free it first`);
    }
    if (ranges[0]![0] < this.next) {
      throw new SectorIdError(ErrorCode.ReservationConflict, `numbers below ${this.next} are already behind the counter and may be in use; reserve only numbers >= ${this.next}`);
    }
    if (overlaps(ranges, this.reservedUnion)) {
      throw new SectorIdError(ErrorCode.ReservationConflict, `${formatRanges(ranges)} overlaps an existing reservation`);
    }
    const nextRes = new Map(this.reservations).set(name, ranges);
    await this.writeReservations(nextRes);
    this.reservations = nextRes;
    this.recomputeUnion();
  }

  async free(name: string): Promise<void> {
    if (!this.reservations.has(name)) throw new SectorIdError(ErrorCode.NotFound, `no reservation named "${name}"`);
    const nextRes = new Map(this.reservations);
    nextRes.delete(name);
    await this.writeReservations(nextRes);
    this.reservations = nextRes;
    this.recomputeUnion();
  }

  private async writeReservations(res: Map<string, Ranges>): Promise<void> {
    await writeFileDurable(this.p(RESERVATIONS_FILE), `${JSON.stringify({ version: 1, reservations: Object.fromEntries(res) })}\n`);
  }

  async setFloor(floor: number): Promise<number> {
    if (floor < this.next) {
      throw new SectorIdError(ErrorCode.FloorDown, `refusing to lower the counter from ${this.next} to ${floor}: numbers below ${this.next} may already be in use`);
    }
    if (floor > this.next) {
      await writeFileDurable(this.p(COUNTER_FILE), `${floor}\n`);
      this.next = floor;
    }
    return this.next;
  }

  async raiseFloor(floor: number): Promise<void> {
    if (floor > this.next) await this.setFloor(floor);
  }

  async close(): Promise<void> {
    await this.journal?.close().catch(() => {});
    this.journal = undefined;
  }
}
