import { DEFAULT_VERSION_PATTERNS } from './inventory/schema.js';
import { parseVersion, type Version } from './version.js';

export type VersionPatterns = typeof DEFAULT_VERSION_PATTERNS;

export interface TerraformVersions {
  talosVersion?: Version;
  kubernetesVersion?: Version;
  controllerSchematicId?: string;
  workerSchematicId?: string;
}

/**
 * Blanks out HCL comments (#, //, /* *\/) but keeps strings and line structure, so a commented-out
 * `talos_version = "..."` never counts and positions stay meaningful.
 */
export function stripHclComments(text: string): string {
  let out = '';
  let i = 0;
  while (i < text.length) {
    const ch = text[i] ?? '';
    const next = text[i + 1] ?? '';
    if (ch === '"') {
      const start = i++;
      while (i < text.length && text[i] !== '"' && text[i] !== '\n') i += text[i] === '\\' ? 2 : 1;
      out += text.slice(start, ++i);
    } else if (ch === '#' || (ch === '/' && next === '/')) {
      while (i < text.length && text[i] !== '\n') i++;
    } else if (ch === '/' && next === '*') {
      const end = text.indexOf('*/', i + 2);
      const stop = end === -1 ? text.length : end + 2;
      out += text.slice(i, stop).replace(/[^\n]/g, ' ');
      i = stop;
    } else {
      out += ch;
      i++;
    }
  }
  return out;
}

/** The body of `variable "<name>" { ... }`, braces balanced, or undefined when there is none. */
function variableBlock(text: string, name: string): string | undefined {
  const header = new RegExp(`variable\\s+"${name}"\\s*\\{`).exec(text);
  if (!header) return undefined;
  let depth = 1;
  let i = header.index + header[0].length;
  const start = i;
  for (; i < text.length && depth > 0; i++) {
    if (text[i] === '"') {
      i++;
      while (i < text.length && text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
    } else if (text[i] === '{') depth++;
    else if (text[i] === '}') depth--;
  }
  return text.slice(start, i - 1);
}

/** First match of a Renovate-style pattern: its named group (currentValue/currentDigest) or group 1. */
function matchPattern(text: string, source: string): string | undefined {
  const match = new RegExp(source, 'm').exec(text);
  if (!match) return undefined;
  return match.groups?.currentValue ?? match.groups?.currentDigest ?? match[1];
}

/** Reads one value the way Renovate does; falls back to `default = "..."` inside the variable block. */
function readValue(text: string, pattern: string, variableName: string): string | undefined {
  const direct = matchPattern(text, pattern);
  if (direct !== undefined) return direct;
  const block = variableBlock(text, variableName);
  if (block === undefined) return undefined;
  // Only the block's own top-level default counts, not one inside a nested validation block.
  const topLevel = block.replace(/\{[^{}]*\}/g, (nested) => nested.replace(/[^\n]/g, ' '));
  return /^\s*default\s*=\s*"([^"]*)"/m.exec(topLevel)?.[1];
}

/** Extracts the versions and schematic ids from a variables.tf; a malformed version is an error. */
export function readTerraformVersions(
  text: string,
  patterns: VersionPatterns = DEFAULT_VERSION_PATTERNS,
): TerraformVersions {
  const code = stripHclComments(text);
  const talos = readValue(code, patterns.talos, 'talos_version');
  const kubernetes = readValue(code, patterns.kubernetes, 'kubernetes_version');
  const controller = readValue(code, patterns.controllerSchematic, 'controller_schematic_id');
  const worker = readValue(code, patterns.workerSchematic, 'worker_schematic_id');
  return {
    ...(talos !== undefined ? { talosVersion: parseVersion(talos, 'talos_version') } : {}),
    ...(kubernetes !== undefined
      ? { kubernetesVersion: parseVersion(kubernetes, 'kubernetes_version') }
      : {}),
    ...(controller !== undefined ? { controllerSchematicId: controller } : {}),
    ...(worker !== undefined ? { workerSchematicId: worker } : {}),
  };
}
