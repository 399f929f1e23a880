// A small, strict command-line flag parser: `--name=value`, `--name value`, bare `--name`
// for booleans. Unknown flags, repeated flags and bad booleans are errors that say what to write.
import { ConfigError } from './multiaddr.js';

export interface FlagSpec {
  type: 'string' | 'boolean';
  help: string;
}

export type Parsed = Record<string, string | boolean | undefined>;

export function parseFlags(args: string[], spec: Record<string, FlagSpec>, command: string): { flags: Parsed; positional: string[] } {
  const flags: Parsed = {};
  const positional: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (!a.startsWith('--')) {
      positional.push(a);
      continue;
    }
    const eq = a.indexOf('=');
    const name = eq >= 0 ? a.slice(2, eq) : a.slice(2);
    const s = spec[name];
    if (!s) throw new ConfigError(`${command}: unknown flag --${name}`, `known flags: ${Object.keys(spec).map((k) => '--' + k).join(' ')}`);
    if (flags[name] !== undefined) throw new ConfigError(`${command}: --${name} given twice`);
    let value: string | undefined = eq >= 0 ? a.slice(eq + 1) : undefined;
    if (s.type === 'boolean') {
      if (value === undefined && (args[i + 1] === 'true' || args[i + 1] === 'false')) value = args[++i];
      if (value === undefined) flags[name] = true;
      else if (value === 'true' || value === '1') flags[name] = true;
      else if (value === 'false' || value === '0') flags[name] = false;
      else throw new ConfigError(`${command}: --${name} must be true or false, got "${value}"`, `write --${name}=true or --${name}=false`);
    } else {
      if (value === undefined) {
        if (i + 1 >= args.length || args[i + 1].startsWith('--')) throw new ConfigError(`${command}: --${name} needs a value`, `write --${name}=VALUE`);
        value = args[++i];
      }
      flags[name] = value;
    }
  }
  return { flags, positional };
}

export function flagsHelp(spec: Record<string, FlagSpec>): string {
  const w = Math.max(...Object.keys(spec).map((k) => k.length)) + 2;
  return Object.entries(spec)
    .map(([k, s]) => `  --${k.padEnd(w)}${s.help}`)
    .join('\n');
}
