// Shared setup for the PoSt role tests: the embedded devnet with a shrunk proving period, the
// run's shared sealed sectors pre-committed and prove-committed on it (pinned seal
// randomness), and a storage path holding private copies of their files in Lotus's layout.
import { cpSync, mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeProveCommitOne } from '../../src/chain/params.js';
import { ExitCode, MinerMethod } from '../../src/chain/builtin-actors.js';
import type { Cid } from '../../src/chain/cid.js';
import { b64 } from '../../src/chain/encoding.js';
import { type Harness, startDevnet } from '../devnet/_harness.js';
import { type SealedSector, TEST_MINER_ID, pieceManifest, preCommitFixture, sealedSectors } from '../helpers/sealed.js';
import type { DevnetOptions } from '../../src/devnet/state.js';

export const MINER = `t0${TEST_MINER_ID}`;

/**
 * 3 deadlines of 4 epochs: only the deadline after next is mutable, so all onboarded sectors
 * land in one deadline; challenge 2 epochs before it opens, fault cutoff 3.
 */
export const POST_POLICY = { wpostChallengeWindow: 4, wpostPeriodDeadlines: 3, wpostChallengeLookback: 2, faultDeclarationCutoff: 3, preCommitChallengeDelay: 2 };

export interface PoStSetup {
  h: Harness;
  fixture: SealedSector[];
  /** A storage path (sealed/ + cache/) with copies of the fixture's files. */
  storage: string;
  worker: string;
  /** The deadline the sectors were assigned to. */
  deadline: number;
}

/** Copies a sealed sector's files into `storage` as `sealed/s-t0M-N` and `cache/s-t0M-N/`. */
export function placeSector(s: SealedSector, storage: string): void {
  const name = `s-t0${s.minerId}-${s.sectorNumber}`;
  mkdirSync(join(storage, 'sealed'), { recursive: true });
  mkdirSync(join(storage, 'cache'), { recursive: true });
  cpSync(s.sealedPath, join(storage, 'sealed', name));
  cpSync(s.cacheDir, join(storage, 'cache', name), { recursive: true });
}

/** A devnet (manual epochs unless told) with `count` fixture sectors active (unproven) on it. */
export async function setupPoSt(count: number, opts: Partial<DevnetOptions> = {}): Promise<PoStSetup> {
  const fixture = await sealedSectors(count);
  const h = await startDevnet({
    policy: POST_POLICY,
    pinnedSealRandomness: fixture.map((s) => ({ miner: s.minerId, sector: s.sectorNumber, ticket: s.ticket.toString('hex'), seed: s.seed.toString('hex') })),
    ...opts,
  });
  const c = h.client;
  const worker = (await c.stateMinerInfo(MINER)).Worker;
  const push = async (method: number, params: Buffer) => (await c.mpoolPushMessage({ To: MINER, From: worker, Method: method, Params: b64(params) })).CID!;
  const wait = async (cid: Cid) => {
    const l = await c.stateWaitMsg(cid, 0, { timeoutMs: 120_000 });
    if (l.Receipt.ExitCode !== ExitCode.Ok) throw new Error(`setup message failed: ${JSON.stringify(l.ReturnDec)}`);
    return l;
  };
  const manual = opts.autoAdvance === false || opts.autoAdvance === undefined;
  const step = async () => {
    if (manual) await h.devnet.advance();
  };
  if (manual) await h.devnet.advanceTo(2);
  else while (h.devnet.head().Height < 2) await new Promise((r) => setTimeout(r, 100));
  const pc = await push(MinerMethod.PreCommitSectorBatch2, preCommitFixture(fixture, 1));
  await step();
  const l = await wait(pc);
  const ready = l.Height + POST_POLICY.preCommitChallengeDelay;
  if (manual) await h.devnet.advanceTo(ready);
  else while (h.devnet.head().Height < ready) await new Promise((r) => setTimeout(r, 100));
  const pcs = await Promise.all(fixture.map((s) => push(MinerMethod.ProveCommitSectors3, encodeProveCommitOne(s.sectorNumber, s.proofBytes, pieceManifest(s)))));
  await step();
  await Promise.all(pcs.map(wait));
  const storage = mkdtempSync(join(tmpdir(), 'distminer-post-storage-'));
  for (const s of fixture) placeSector(s, storage);
  const deadline = (await c.stateSectorPartition(MINER, fixture[0].sectorNumber)).Deadline;
  return { h, fixture, storage, worker, deadline };
}
