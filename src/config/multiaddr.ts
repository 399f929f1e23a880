// The tiny subset of multiaddr Lotus uses for its API: `/ip4/IP/tcp/PORT/http` (and `/ip6/…`).
import { isIP } from 'node:net';

export interface HostPort {
  host: string;
  port: number;
}

export class ConfigError extends Error {
  constructor(
    message: string,
    readonly hint?: string,
  ) {
    super(message);
    this.name = 'ConfigError';
  }
}

export function parseApiMultiaddr(s: string, what = 'API ListenAddress'): HostPort {
  const m = /^\/(ip4|ip6)\/([^/]+)\/tcp\/(\d+)(\/http|\/ws)?\/?$/.exec(s.trim());
  if (!m) throw new ConfigError(`${what} "${s}" is not a multiaddr like /ip4/127.0.0.1/tcp/2345/http`);
  const [, fam, host, portS] = m;
  if (isIP(host) !== (fam === 'ip4' ? 4 : 6)) throw new ConfigError(`${what} "${s}": "${host}" is not an ${fam} address`);
  return { host, port: parsePort(portS, what, true) };
}

export function formatApiMultiaddr(a: HostPort): string {
  return `/${isIP(a.host) === 6 ? 'ip6' : 'ip4'}/${a.host}/tcp/${a.port}/http`;
}

function parsePort(s: string, what: string, allowZero: boolean): number {
  const port = Number(s);
  if (!/^\d+$/.test(s) || port > 65535 || (!allowZero && port === 0)) {
    throw new ConfigError(`${what}: port "${s}" must be an integer in ${allowZero ? '0' : '1'}..65535`);
  }
  return port;
}

/** `IP:PORT` (the seed's --sclisten form); `[v6]:PORT` for IPv6. Port 0 = any free port (tests). */
export function parseHostPort(s: string, what: string): HostPort {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(s) ?? /^([^:]+):(\d+)$/.exec(s);
  if (!m) throw new ConfigError(`${what} "${s}" must be IP:PORT, e.g. 192.168.1.50:1357`);
  const [, host, portS] = m;
  if (isIP(host) === 0) throw new ConfigError(`${what} "${s}": "${host}" is not an IP address (write the allocating miner's IP, e.g. 192.168.1.50:1357)`);
  return { host, port: parsePort(portS, what, true) };
}

export function formatHostPort(a: HostPort): string {
  return isIP(a.host) === 6 ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}

/** `TOKEN:/ip4/HOST/tcp/PORT/http` (Lotus's API info form) of another host's miner API. */
export interface PeerApi {
  /** The multiaddr, without the token (safe to show). */
  endpoint: string;
  /** http://host:port */
  url: string;
  token: string;
}

export function parsePeerApiInfo(s: string, what: string): PeerApi {
  const i = s.indexOf(':/');
  if (i <= 0) throw new ConfigError(`${what}: "${s.slice(0, 40)}…" is not TOKEN:/ip4/HOST/tcp/PORT/http (a read token of that host's repository, then its API address)`);
  const token = s.slice(0, i).trim();
  const endpoint = s.slice(i + 1).trim();
  const a = parseApiMultiaddr(endpoint, what);
  if (a.port === 0) throw new ConfigError(`${what}: ${endpoint} needs the host's real API port, not 0`);
  return { endpoint, url: `http://${isIP(a.host) === 6 ? `[${a.host}]` : a.host}:${a.port}`, token };
}
