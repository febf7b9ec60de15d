/**
 * Where a repository keeps a value the cluster runs (a Talos version, a schematic id), found in its
 * Terraform files parsed as HCL (hcl2json's JSON form): a variable's default in a `.tf` file, or an
 * attribute (nested in objects) of a `.tfvars` file.
 */

/** One parsed Terraform file: its path from the repository root and hcl2json's JSON. */
export interface ParsedHclFile {
  path: string;
  text: string;
  json: unknown;
}

export interface ValueLocation {
  file: string;
  kind: 'variable' | 'tfvars';
  /** The variable's name, or the attribute's path in a tfvars file (cluster.talos_version). */
  name: string;
  value: string;
}

type Variables = Record<string, Array<{ default?: unknown }>>;

function tfvarsAttributes(value: unknown, path: string[] = []): Array<{ name: string; value: string }> {
  if (typeof value === 'string') return [{ name: path.join('.'), value }];
  if (!value || typeof value !== 'object' || Array.isArray(value)) return [];
  return Object.entries(value).flatMap(([key, v]) => tfvarsAttributes(v, [...path, key]));
}

/** Every place a file gives a string value that `matches` accepts. */
export function findValueLocations(
  files: ParsedHclFile[],
  matches: (value: string) => boolean,
): ValueLocation[] {
  const found: ValueLocation[] = [];
  for (const { path, json } of files) {
    if (/\.tfvars(\.json)?$/.test(path)) {
      for (const a of tfvarsAttributes(json))
        if (matches(a.value)) found.push({ file: path, kind: 'tfvars', ...a });
      continue;
    }
    const variables = (json as { variable?: Variables }).variable ?? {};
    for (const [name, blocks] of Object.entries(variables)) {
      const value = blocks[0]?.default;
      if (typeof value === 'string' && matches(value))
        found.push({ file: path, kind: 'variable', name, value });
    }
  }
  return found;
}

/** A version as a file writes it, with or without its `v`: 1.11.3 and v1.11.3 are the same. */
export const sameVersion = (version: string) => (value: string) =>
  value.replace(/^v/, '') === version.replace(/^v/, '');
