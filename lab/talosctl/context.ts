import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { UsageError, value, type ParsedArgs } from './argv.js';

interface TalosConfig {
  context?: string;
  contexts?: Record<string, { endpoints?: string[]; nodes?: string[] }>;
}

/** The nodes a call targets: -n, else the context's nodes, else its first endpoint (as talosctl does). */
export function targetNodes(args: ParsedArgs, env: Record<string, string | undefined>): string[] {
  const explicit = args.values.get('nodes');
  if (explicit?.length) return explicit;
  const file = value(args, 'talosconfig') ?? env.TALOSCONFIG ?? join(homedir(), '.talos', 'config');
  let config: TalosConfig;
  try {
    config = parse(readFileSync(file, 'utf8')) as TalosConfig;
  } catch {
    throw new UsageError(`failed to read talosconfig ${file}; pass --talosconfig or set TALOSCONFIG`);
  }
  const name = value(args, 'context') ?? config.context ?? '';
  const context = config.contexts?.[name];
  if (!context) throw new UsageError(`context "${name}" not found in ${file}`);
  const nodes = context.nodes?.length
    ? context.nodes
    : value(args, 'endpoints')
      ? [value(args, 'endpoints') ?? '']
      : context.endpoints?.slice(0, 1);
  if (!nodes?.length)
    throw new UsageError(
      'nodes are not set for the command: please use `--nodes` flag or configuration file to set the nodes to run the command against',
    );
  return nodes;
}
