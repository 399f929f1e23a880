// Sector-id actor: runs the sector-number service of src/sectorid in its worker thread.
//   alloce: the server, on --sclisten, for every miner of this miner id;
//   local:  the same server on a loopback port, for this miner alone (no --sctype given);
//   get:    a client of the server at --sclisten; it checks the server is reachable and says
//           so in its status (the seal and deal actors ask the server themselves).
// The server's address and the client's reachability are in the actor's status detail.
import { join } from 'node:path';
import { roleMachine } from './base.js';

import { SECTORID_API_FILE } from '../../src/sealing/numbers.js';
import type { CreateRole } from './types.js';
import { counter, gauge } from '../../src/metrics/index.js';

// `get` mode (src/metrics; this role's thread): whether the sector-number server answers.
const reachable = gauge({ name: 'distminer_sectorid_server_reachable', help: 'get mode: 1 when the last check of the sector-number server succeeded, 0 when it failed', labelNames: ['server'] });
const checks = counter({
  name: 'distminer_sectorid_server_checks_total',
  help: 'get mode: checks of the sector-number server, by result (ok, unreachable, refused)',
  labelNames: ['server', 'result'],
});

export interface SectorIdRoleOptions {
  mode: 'alloce' | 'get' | 'local';
  /** HOST:PORT (alloce: to listen on; get: of the server). */
  address?: string;
  repo: string;
  /** The token this host's client sends (`get` mode; `ping` needs read). The server verifies with the repo's secret. */
  token: string;
  minerId: string;
  /** get: how often to check the server (ms). */
  checkMs?: number;
  /** Lotus API info: the server never hands out a number the chain has allocated. */
  chainApi?: string;
}

export const createRole: CreateRole = (ctx) => {
  const o = ctx.options as unknown as SectorIdRoleOptions;
  let stop: (() => Promise<void>) | undefined;
  return {
    version: 1,
    machine: roleMachine(ctx, {
      runningDetail: o.mode === 'get' ? `connecting to the sector-number server ${o.address}` : 'starting the sector-number server',
      run: ({ sendBack }) => {
        let cancelled = false;
        const fail = (e: unknown) => {
          if (!cancelled) sendBack({ type: 'FAIL', error: (e as Error)?.message ?? String(e) });
        };
        const mod = import('../../src/sectorid/index.js');
        if (o.mode === 'get') {
          let timer: NodeJS.Timeout | undefined;
          mod.then(({ SectorIdClient }) => {
            if (cancelled) return;
            const client = new SectorIdClient({ address: o.address!, token: o.token, deadlineMs: 5000 });
            stop = () => client.close();
            const check = () => {
              client.ping().then(
                () => {
                  if (cancelled) return;
                  reachable.set({ server: o.address! }, 1);
                  checks.inc({ server: o.address!, result: 'ok' });
                  sendBack({ type: 'PROGRESS', detail: `sector-number server ${o.address} reachable` });
                },
                (e: Error & { code?: string }) => {
                  if (cancelled) return;
                  // A refused token is an operator's fix (this host's <repo>/sectorid-token), not a network one.
                  const refused = e.code === 'UNAUTHORIZED' || e.code === 'FORBIDDEN';
                  reachable.set({ server: o.address! }, 0);
                  checks.inc({ server: o.address!, result: refused ? 'refused' : 'unreachable' });
                  sendBack({ type: 'PROGRESS', detail: `sector-number server ${o.address} ${refused ? "refused this host's token" : 'unreachable'}: ${e.message}` });
                },
              );
            };
            check();
            timer = setInterval(check, o.checkMs ?? 15_000);
          }, fail);
          return () => {
            cancelled = true;
            clearInterval(timer);
          };
        }
        const listen = o.mode === 'local' ? '127.0.0.1:0' : o.address!;
        mod
          .then(async ({ startSectorIdServer, LotusChainFloor }) => {
            // Tokens are JWTs of the repository's API secret: each op checks its level.
            const { repoAuth } = await import('../../src/auth/index.js');
            // The chain floor: start above every number the chain has allocated for this miner
            // (replacing the seed's hand-edited sectorid file) and skip any it allocates later.
            const chainFloor = o.chainApi ? new LotusChainFloor(new (await import('../../src/chain/client.js')).ChainClient(o.chainApi)) : undefined;
            return startSectorIdServer({ repo: o.repo, listen, auth: repoAuth(o.repo), minerId: o.minerId, chainFloor });
          })
          .then((srv) => {
            stop = () => srv.close();
            if (cancelled) return void srv.close();
            sendBack({ type: 'SET', key: 'address', value: srv.address });
            // The seal and deal actors of this miner find the server here (local mode picks a free port).
            void import('../../src/util/durable.js').then(({ writeFileAtomic }) => writeFileAtomic(join(o.repo, SECTORID_API_FILE), `${srv.address}\n`));
            sendBack({ type: 'PROGRESS', detail: `serving sector numbers on ${srv.address}${o.mode === 'local' ? ' (this miner only)' : ''}` });
          }, fail);
        return () => {
          cancelled = true;
        };
      },
      stop: async () => {
        await stop?.();
      },
    }),
  };
};
