// Tiny flag parser for the sector-number commands: --key=value, --key value, bare words.
export interface Parsed {
  flags: Map<string, string>;
  words: string[];
}

const BOOLEAN = new Set(['json', 'help']);

export function parseArgs(args: string[]): Parsed {
  const flags = new Map<string, string>();
  const words: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      if (eq > 0) flags.set(a.slice(2, eq), a.slice(eq + 1));
      else if (BOOLEAN.has(a.slice(2))) flags.set(a.slice(2), 'true');
      else {
        const v = args[i + 1];
        if (v === undefined) throw new Error(`${a} needs a value`);
        flags.set(a.slice(2), v);
        i++;
      }
    } else words.push(a);
  }
  return { flags, words };
}

export function flag(p: Parsed, ...names: string[]): string | undefined {
  for (const n of names) {
    const v = p.flags.get(n);
    if (v !== undefined) return v;
  }
  return undefined;
}
