// Winning PoSt actor: each epoch, check the election and, on a win, prove the challenged
// sector at the highest mailbox priority and submit the block. The chain-driven loop comes
// with the PoSt roles (issue 7); this is its actor shell: life cycle, status, persistence,
// and the mailbox path its proofs take (`ctx.submitProof('winning-post', …)`).
import { roleMachine } from './base.js';
import type { CreateRole } from './types.js';

export const createRole: CreateRole = (ctx) => ({
  version: 1,
  machine: roleMachine(ctx, { runningDetail: 'waiting for a chain head' }),
});
