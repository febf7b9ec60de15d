import {
  DEFAULT_MATCH_STRINGS,
  DEFAULT_VARIABLES,
  extractValues,
  type ExtractedValue,
  type VersionValue,
} from './renovatePatterns.js';
import { parseVersion, VersionError, type Version } from './version.js';

export interface TerraformVersions {
  talosVersion?: Version;
  kubernetesVersion?: Version;
  controllerSchematicId?: string;
  workerSchematicId?: string;
}

/** Where the product reads each value: Renovate matchStrings and the variable they must name. */
export interface VersionSource {
  patterns: Readonly<Record<VersionValue, readonly string[]>>;
  variables: Readonly<Record<VersionValue, string>>;
}

export const DEFAULT_VERSION_SOURCE: VersionSource = {
  patterns: DEFAULT_MATCH_STRINGS,
  variables: DEFAULT_VARIABLES,
};

const isVersion = (text: string) => {
  try {
    parseVersion(text);
    return true;
  } catch {
    return false;
  }
};

/**
 * The one value of `value` for this cluster's variable: every match Renovate would extract for it
 * (a pattern without a depType group counts for any variable). A match that is no version
 * (`"v${var.talos_version}"`) is one Renovate skips, so it counts only when nothing else is found
 * (then it is reported as not a version). Two different versions are an error: Renovate would bump
 * both, and the product could not tell which one the cluster runs.
 */
function valueOf(found: ExtractedValue[], value: VersionValue, variable: string): string | undefined {
  const name = attributeOf(variable);
  const mine = found.filter((f) => f.value === value && (f.variable === undefined || f.variable === name));
  const versionsOnly = value === 'talos' || value === 'kubernetes';
  const valid = versionsOnly ? mine.filter((f) => isVersion(f.text)) : mine;
  const candidates = valid.length > 0 ? valid : mine;
  const distinct = [
    ...new Set(candidates.map((f) => (versionsOnly && valid.length ? parseVersion(f.text) : f.text))),
  ];
  if (distinct.length > 1) {
    const where = candidates.map((f) => `"${f.text}" on line ${f.line}`).join(', ');
    throw new VersionError(
      `${variable} has ${distinct.length} different values (${where}); Renovate bumps every one of them. ` +
        'Keep one (a /* */ block comment counts too), or narrow versions.patterns in the inventory.',
    );
  }
  return candidates[0]?.text;
}

/**
 * The name a Renovate pattern captures for a variable the inventory names: the variable itself, or
 * for an attribute of an object (`cluster.talos_version`, versions kept in one object of a tfvars
 * file) the attribute's own name, which is what stands before the `=` Renovate matches.
 */
export const attributeOf = (variable: string): string => variable.split('.').at(-1) ?? variable;

/**
 * The names the patterns found for a value other than this cluster's: when the cluster's own is
 * missing, they are what the inventory most likely should name.
 */
export function otherVariables(text: string, value: VersionValue, source: VersionSource): string[] {
  const found = extractValues(text, source.patterns);
  return [
    ...new Set(
      found
        .filter(
          (f) =>
            f.value === value &&
            f.variable !== undefined &&
            f.variable !== attributeOf(source.variables[value]),
        )
        .map((f) => f.variable as string),
    ),
  ];
}

/** Extracts the versions and schematic ids from a variables.tf; a malformed version is an error. */
export function readTerraformVersions(
  text: string,
  source: VersionSource = DEFAULT_VERSION_SOURCE,
): TerraformVersions {
  const found = extractValues(text, source.patterns);
  const { variables } = source;
  const talos = valueOf(found, 'talos', variables.talos);
  const kubernetes = valueOf(found, 'kubernetes', variables.kubernetes);
  const controller = valueOf(found, 'controllerSchematic', variables.controllerSchematic);
  const worker = valueOf(found, 'workerSchematic', variables.workerSchematic);
  return {
    ...(talos !== undefined ? { talosVersion: parseVersion(talos, variables.talos) } : {}),
    ...(kubernetes !== undefined
      ? { kubernetesVersion: parseVersion(kubernetes, variables.kubernetes) }
      : {}),
    ...(controller !== undefined ? { controllerSchematicId: controller } : {}),
    ...(worker !== undefined ? { workerSchematicId: worker } : {}),
  };
}

/**
 * The Talos version as the versions file writes it (`v1.11.3` or `1.11.3`), undefined when absent. The
 * matchStrings capture the version without its `v` (Renovate's currentValue), so the form is read
 * from the line the value stands on.
 */
export function writtenTalosVersion(
  text: string,
  source: VersionSource = DEFAULT_VERSION_SOURCE,
): string | undefined {
  const found = extractValues(text, source.patterns);
  const value = valueOf(found, 'talos', source.variables.talos);
  if (value === undefined) return undefined;
  const at = found.find((f) => f.value === 'talos' && f.text === value);
  const line = at ? (text.split('\n')[at.line - 1] ?? '') : '';
  return line.includes(`v${value}`) ? `v${value}` : value;
}

/**
 * `version` in the form `written` has: `-var` replaces the file's value, and a configuration that
 * builds an image URL or a file name from it (`…/image/<schematic>/${var.talos_version}/…`) was
 * written for that form. A bare version where the file says `v1.11.3` would name an image that
 * does not exist, found only after the VM was destroyed.
 */
export function inWrittenForm(version: string, written: string | undefined): string {
  const bare = version.replace(/^v/, '');
  return written?.startsWith('v') ? `v${bare}` : bare;
}
