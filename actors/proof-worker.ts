// `distminer proof-worker`: a child process of the supervisor that computes proofs it is sent
// (msgpackr frames on fd 3) through src/proofs. Sealing proofs (and, on a CPU host, Window
// PoSt) run here rather than in the supervisor so the mailbox can pause (SIGSTOP) or
// deprioritise this whole process while a more urgent PoSt runs, kill it when a deadline passes, and lose only this process to a native crash
// or an out-of-memory kill.
import { setPriority } from 'node:os';
import { Socket } from 'node:net';
import { readFrames, writeFrame } from './codec.js';
import { proofOpOf } from './task-kinds.js';
import { WINNING_NICE, describePriority, mayLowerNiceTo, raiseWinningProcess } from './priority.js';
import { logger } from '../src/log.js';

const log = logger('proof-worker');

export interface ProofRequest {
  id: number;
  op: string;
  args: unknown[];
}

export interface ProofReply {
  id: number;
  ok: boolean;
  value?: unknown;
  /** sectors: the sectors a FaultySectorsError names (a Window PoSt skips exactly those). */
  error?: { message: string; name: string; kind?: string; sectors?: number[] };
}

/** `distminer proof-worker` (no arguments: commander refuses any, src/cli/program.ts). */
export async function main(): Promise<number> {
  // Threads inherit the nice value of the thread creating them: set it before the addon
  // creates its pool. (Unprivileged processes cannot lower it again, hence static.)
  const nice = process.env.DISTMINER_PROOF_WORKER_NICE;
  if (nice) setPriority(0, Number(nice));
  let sock: Socket;
  try {
    sock = new Socket({ fd: 3, readable: true, writable: true });
  } catch (e) {
    process.stderr.write(`proof-worker: fd 3 is not a pipe from the supervisor (${(e as Error).message})\n`);
    return 2;
  }
  const proofsModule = await import('../src/proofs/index.js');
  // Killed with the miner however it dies, even while stopped; a sealing process also leaves
  // the miner's session, so it does not share a PoSt host's raised autogroup (a PoSt process
  // keeps it: actors/priority.ts). See the addon's OwnSession. A Winning PoSt process leaves it
  // for one of its own at a higher priority still — where the host allows that nice value.
  const mode = process.env.DISTMINER_PROOF_WORKER_SESSION;
  const winning = mode === 'winning' ? mayLowerNiceTo(WINNING_NICE) : undefined;
  proofsModule.ownSession(Number(process.env.DISTMINER_PROOF_PARENT_PID) || process.ppid, mode !== 'miner' && winning?.ok !== false);
  if (winning?.ok) {
    const r = raiseWinningProcess();
    if (!r.ok) log.warn({ priority: describePriority(r) }, 'the Winning PoSt proof process could not raise its priority in every layer');
  } else if (winning) log.warn({ why: winning.why }, `the Winning PoSt proof process stays at the miner's priority: nice ${WINNING_NICE} is not allowed here`);
  const proofs = proofsModule as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>;
  return new Promise<number>((resolve) => {
    readFrames(sock, (m) => {
      const req = m as ProofRequest;
      const fname = proofOpOf(req.op);
      const f = fname ? proofs[fname] : undefined;
      const reply = (r: ProofReply) => {
        if (!sock.destroyed) writeFrame(sock, r);
      };
      if (!f) {
        reply({ id: req.id, ok: false, error: { message: `unknown proof op "${req.op}"`, name: 'Error' } });
        return;
      }
      Promise.resolve()
        .then(() => f(...(req.args ?? [])))
        .then(
          (value) => reply({ id: req.id, ok: true, value }),
          (e: unknown) => {
            const err = e as Error & { kind?: string; sectors?: unknown };
            const sectors = Array.isArray(err?.sectors) ? err.sectors.filter((x): x is number => typeof x === 'number') : undefined;
            reply({ id: req.id, ok: false, error: { message: err?.message ?? String(e), name: err?.name ?? 'Error', kind: err?.kind, sectors } });
          },
        );
    });
    // The supervisor went away (or closed us): nothing left to do.
    sock.on('close', () => resolve(0));
    sock.on('error', () => resolve(1));
  }).then((code) => {
    // Native pool threads may keep the loop alive; leave now.
    process.exit(code);
  });
}
