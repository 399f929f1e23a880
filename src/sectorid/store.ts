// The durable part of the allocator. A store keeps the next number, the operator's
// reservations and a bounded table of recent request ids with their answers. Every method
// is called by the Allocator one at a time (never concurrently), so a store needs no locking
// of its own against itself; the PostgreSQL store still locks its row against other servers.
import type { Ranges } from './ranges.js';
import type { SectorIdError } from './protocol.js';

export interface AllocRequest {
  requestId: string;
  n: number;
}

export type AllocOutcome = { numbers: Ranges; replayed: boolean } | { error: SectorIdError };

export interface StoreState {
  next: number;
  reservations: Record<string, Ranges>;
}

export interface OpenOptions {
  /** Where a brand-new counter starts (one above the chain's highest allocated number). */
  initialNext: number;
  /**
   * False when the chain's allocated set could not be read: a brand-new counter must then not
   * be created (it could start below numbers already used). `whyNot` says what failed.
   */
  mayCreate: boolean;
  whyNot?: string;
  /**
   * The operator's `set-floor N`: `initialNext` is their word for where numbering resumes, so
   * a counter that was lost (the repo records that it had one) may be written again.
   */
  operatorFloor?: boolean;
}

export interface SectorIdStore {
  /** Short description for logs and `info` (never includes a password). */
  readonly description: string;
  /** Load and check the durable state; throws with an operator-facing message if unusable. */
  open(opts: OpenOptions): Promise<void>;
  /**
   * Allocate for every request in one durable commit (group commit). Request ids in `batch`
   * are distinct. A request id seen before with the same n returns the remembered numbers
   * (replayed); with another n it is an error. `chainAllocated` numbers are never returned.
   * Throws only when nothing could be made durable (then no number of the batch was answered).
   */
  allocate(batch: AllocRequest[], chainAllocated: Ranges): Promise<AllocOutcome[]>;
  state(): Promise<StoreState>;
  /** Refuses (SectorIdError) a taken name, an overlap with another reservation, or numbers below next. */
  reserve(name: string, ranges: Ranges): Promise<void>;
  free(name: string): Promise<void>;
  /** Operator's set-floor: next := floor; refuses to go down (FLOOR_DOWN). Returns the new next. */
  setFloor(floor: number): Promise<number>;
  /** Chain floor: next := max(next, floor). Never errors for a lower floor. */
  raiseFloor(floor: number): Promise<void>;
  close(): Promise<void>;
}
