// Window PoSt actor: every proving deadline, prove the challenged partitions (mailbox class
// window-post) and submit before the cutoff. The deadline loop comes with the PoSt roles
// (issue 7); this is its actor shell: life cycle, status, persistence.
import { roleMachine } from './base.js';
import type { CreateRole } from './types.js';

export const createRole: CreateRole = (ctx) => ({
  version: 1,
  machine: roleMachine(ctx, { runningDetail: 'waiting for the next proving deadline' }),
});
