import { inWrittenForm } from './variablesTf.js';

/**
 * A version kept as an attribute of an object variable (`cluster = { talos_version = "v1.11.3" }` in
 * cluster.auto.tfvars, or in a variable's default). `-var` replaces whole variables, so a node is planned
 * at another version by giving Terraform the whole object, as the file has it with only that attribute
 * changed, in a var file of its own: the other attributes (names, sizes, the Kubernetes version) stay
 * what the user wrote.
 */
export interface VariableOverride {
  variable: string;
  value: Record<string, unknown>;
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** A variable's value as a file sets it (hcl2json's JSON): a tfvars attribute, or a .tf variable's default. */
function valueInFile(json: unknown, tfvars: boolean, variable: string): unknown {
  if (!isObject(json)) return undefined;
  if (tfvars) return json[variable];
  const blocks = isObject(json.variable) ? json.variable[variable] : undefined;
  const block: unknown = Array.isArray(blocks) ? blocks[0] : blocks;
  return isObject(block) ? block.default : undefined;
}

/**
 * The whole variable for `path` (`cluster.talos_version`) with the attribute at `version`, in the form
 * the file writes it (`v1.12.0` where it says `v1.11.3`); a string saying what is missing otherwise.
 */
export function objectOverride(
  json: unknown,
  file: string,
  path: string,
  version: string,
): VariableOverride | string {
  const [variable = '', ...attributes] = path.split('.');
  const tfvars = /\.tfvars(\.json)?$/.test(file);
  const whole = valueInFile(json, tfvars, variable);
  if (!isObject(whole))
    return `${file} does not set ${variable} as an object${tfvars ? '' : " in a variable's default"} (versions.variables names ${path})`;
  const value = structuredClone(whole);
  let at: Record<string, unknown> = value;
  for (const key of attributes.slice(0, -1)) {
    const next = at[key];
    if (!isObject(next)) return `${file} has no object at ${path.split('.').slice(0, -1).join('.')}`;
    at = next;
  }
  const last = attributes.at(-1) ?? '';
  const current = at[last];
  if (typeof current !== 'string') return `${file} has no string at ${path}`;
  at[last] = inWrittenForm(version, current);
  return { variable, value };
}
