// What every command shares about its arguments: the usage error (exit 2, as commander's own,
// src/main.ts) and the flags several commands take.
import { parseFil } from '../chain/fees.js';

/** A bad value of an argument or option: the command exits 2, as commander's own usage errors (src/main.ts). */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** The chain API of `--chain-api`, else $FULLNODE_API_INFO. */
export function chainApiOf(flag: string | undefined): string {
  const info = flag ?? process.env.FULLNODE_API_INFO;
  if (!info) throw new UsageError('no chain API: pass --chain-api TOKEN:/ip4/127.0.0.1/tcp/1234/http or set FULLNODE_API_INFO');
  return info;
}

/** An amount of FIL given as `what` ("0.5", "0.5 FIL", "500 milliFIL"), in attoFIL. */
export function filArg(text: string, what: string): bigint {
  try {
    return parseFil(text);
  } catch (e) {
    throw new UsageError(`${what}: ${(e as Error).message}`);
  }
}
