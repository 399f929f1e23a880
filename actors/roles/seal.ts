// Seal actor: schedules the sector pipeline on this miner's group of seal workers; its
// Commit2 (and PreCommit2) proofs go through the mailbox. The pipeline comes with the seal
// role (issue 6); this is its actor shell: life cycle, status, persistence.
import { roleMachine } from './base.js';
import type { CreateRole } from './types.js';

export const createRole: CreateRole = (ctx) => ({
  version: 1,
  machine: roleMachine(ctx, { runningDetail: 'no sectors in the pipeline' }),
});
