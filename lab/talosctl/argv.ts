/** talosctl's flags that take a value (cobra style: `-n a,b`, `--nodes=a`, `--nodes a --nodes b`). */
const VALUE_FLAGS: Record<string, string> = {
  '--talosconfig': 'talosconfig',
  '--context': 'context',
  '-n': 'nodes',
  '--nodes': 'nodes',
  '-e': 'endpoints',
  '--endpoints': 'endpoints',
  '-o': 'output',
  '--output': 'output',
  '--image': 'image',
  '-i': 'image',
  '--timeout': 'timeout',
  '--to': 'to',
  '--from': 'from',
  '-f': 'file',
  '--file': 'file',
  '-p': 'patch',
  '--patch': 'patch',
  '--mode': 'mode',
  '-m': 'mode',
  '--wait-timeout': 'wait-timeout',
  '--reboot-mode': 'reboot-mode',
};

const BOOLEAN_FLAGS = new Set([
  '--preserve',
  '--wait',
  '--insecure',
  '--dry-run',
  '--force',
  '--stage',
  '--json',
  '--short',
  '--debug',
  '--client',
]);

export interface ParsedArgs {
  positionals: string[];
  values: Map<string, string[]>;
  booleans: Set<string>;
}

export class UsageError extends Error {}

export function parseTalosctlArgs(argv: readonly string[]): ParsedArgs {
  const parsed: ParsedArgs = { positionals: [], values: new Map(), booleans: new Set() };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    const [flag, inline] =
      arg.startsWith('-') && arg.includes('=')
        ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)]
        : [arg, undefined];
    const name = VALUE_FLAGS[flag];
    if (name) {
      const value = inline ?? argv[++i];
      if (value === undefined) throw new UsageError(`flag needs an argument: ${flag}`);
      const list = parsed.values.get(name) ?? [];
      list.push(...(name === 'nodes' || name === 'endpoints' ? value.split(',').filter(Boolean) : [value]));
      parsed.values.set(name, list);
    } else if (BOOLEAN_FLAGS.has(flag)) {
      if (inline === undefined || inline === 'true') parsed.booleans.add(flag.slice(2));
    } else if (arg.startsWith('-') && arg !== '-') {
      throw new UsageError(`unknown flag: ${flag}`);
    } else {
      parsed.positionals.push(arg);
    }
  }
  return parsed;
}

export function value(args: ParsedArgs, name: string): string | undefined {
  return args.values.get(name)?.at(-1);
}

/** Go-style durations as talosctl takes them: 30s, 5m, 1h30m. */
export function parseGoDuration(text: string | undefined, fallbackMs: number): number {
  if (!text) return fallbackMs;
  let total = 0;
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h)/g;
  let match: RegExpExecArray | null;
  let consumed = '';
  while ((match = re.exec(text))) {
    consumed += match[0];
    total +=
      Number(match[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[match[2] as 'ms' | 's' | 'm' | 'h'];
  }
  if (consumed !== text) throw new UsageError(`invalid duration "${text}"`);
  return total;
}
