import { isNode, LineCounter, parseDocument, type Document } from 'yaml';
import type { z } from 'zod';
import { crossCheckInventory } from './crossChecks.js';
import { inventoryFields, type Inventory } from './schema.js';

export const inventorySchema = inventoryFields.superRefine(crossCheckInventory);

export interface InventoryIssue {
  /** Field path as written by people: nodes[5].nics[1].vlan */
  path: string;
  message: string;
  line?: number;
  column?: number;
}

export type InventoryParseResult =
  { ok: true; inventory: Inventory } | { ok: false; issues: InventoryIssue[] };

export function formatPath(path: readonly PropertyKey[]): string {
  return path.reduce<string>((text, key) => {
    if (typeof key === 'number') return `${text}[${key}]`;
    const name = String(key);
    return /^[A-Za-z_][\w-]*$/.test(name) ? (text ? `${text}.${name}` : name) : `${text}["${name}"]`;
  }, '');
}

/** The nearest YAML node that exists along the path, so a missing field points at its parent. */
function locate(doc: Document, lines: LineCounter, path: readonly PropertyKey[]) {
  for (let length = path.length; length >= 0; length--) {
    const node: unknown = doc.getIn(path.slice(0, length), true);
    if (isNode(node) && node.range) return lines.linePos(node.range[0]);
  }
  return undefined;
}

function valueAt(raw: unknown, path: readonly PropertyKey[]): unknown {
  return path.reduce<unknown>(
    (value, key) =>
      typeof value === 'object' && value !== null ? (value as Record<PropertyKey, unknown>)[key] : undefined,
    raw,
  );
}

function describeIssue(issue: z.core.$ZodIssue, raw: unknown): string {
  if (issue.code === 'unrecognized_keys') {
    return `unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((key) => `"${key}"`).join(', ')}`;
  }
  const message = issue.message.replace(/^Invalid input: /, '').replace(/, received undefined$/, '');
  const missing =
    (issue.code === 'invalid_type' || issue.code === 'invalid_union') &&
    valueAt(raw, issue.path) === undefined;
  return missing ? `required: ${message}` : message;
}

/** Names the node a nodes[i] path is about, since "nodes[7]" alone makes people count. */
function nodeContext(raw: unknown, path: readonly PropertyKey[]): string {
  if (path[0] !== 'nodes' || typeof path[1] !== 'number' || typeof raw !== 'object' || raw === null)
    return '';
  const nodes = (raw as { nodes?: unknown }).nodes;
  const node: unknown = Array.isArray(nodes) ? nodes[path[1]] : undefined;
  const name = typeof node === 'object' && node !== null ? (node as { name?: unknown }).name : undefined;
  return typeof name === 'string' ? ` (node ${name})` : '';
}

/** Parses and validates one inventory file's text; never throws for bad input. */
export function parseInventory(text: string): InventoryParseResult {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: true });
  if (doc.errors.length > 0) {
    return {
      ok: false,
      issues: doc.errors.map((error) => {
        const pos = error.linePos?.[0];
        return {
          path: '(YAML)',
          message: error.message.split('\n')[0] ?? error.message,
          ...(pos ? { line: pos.line, column: pos.col } : {}),
        };
      }),
    };
  }
  let raw: unknown;
  try {
    // Aliases are resolved here: an alias to no anchor, or too many of them (a "billion laughs"
    // document), is refused by the YAML library with an exception.
    raw = doc.toJS({ maxAliasCount: 100 });
  } catch (error) {
    return {
      ok: false,
      issues: [{ path: '(YAML)', message: error instanceof Error ? error.message : String(error) }],
    };
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    return {
      ok: false,
      issues: [{ path: '(document)', message: 'expected a YAML mapping with apiVersion, cluster, nodes, …' }],
    };
  }
  const result = inventorySchema.safeParse(raw);
  if (result.success) return { ok: true, inventory: result.data };
  const issues = result.error.issues.map((issue): InventoryIssue => {
    const pos = locate(doc, lines, issue.path);
    return {
      path: formatPath(issue.path) || '(document)',
      message: describeIssue(issue, raw) + nodeContext(raw, issue.path),
      ...(pos ? { line: pos.line, column: pos.col } : {}),
    };
  });
  return { ok: false, issues: issues.sort((a, b) => (a.line ?? 0) - (b.line ?? 0)) };
}

/** "file:line:col: path: message" lines, the shape editors and CI logs link to. */
export function formatInventoryIssues(source: string, issues: readonly InventoryIssue[]): string {
  return issues
    .map((issue) => {
      const where = issue.line ? `${source}:${issue.line}:${issue.column ?? 1}` : source;
      return `${where}: ${issue.path}: ${issue.message}`;
    })
    .join('\n');
}
