// Deal actor: takes deals over p2p and routes deal sectors to this miner's own seal workers.
// The deal flow comes with the deal role (issue 8); this is its actor shell: life cycle,
// status, persistence.
import { roleMachine } from './base.js';
import type { CreateRole } from './types.js';

export const createRole: CreateRole = (ctx) => ({
  version: 1,
  machine: roleMachine(ctx, { runningDetail: 'accepting deals' }),
});
