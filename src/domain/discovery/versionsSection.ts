import { DEFAULT_MATCH_STRINGS, DEFAULT_VARIABLES, type VersionValue } from '../renovatePatterns.js';
import { attributeOf, readTerraformVersions } from '../variablesTf.js';
import {
  findValueLocations,
  sameVersion,
  type ParsedHclFile,
  type ValueLocation,
} from './versionLocations.js';

/** Where one value lives, preferring a variable's default in a .tf file (what the product reads). */
function locate(
  files: ParsedHclFile[],
  value: string | undefined,
  matches: (v: string) => (s: string) => boolean,
) {
  if (!value) return [];
  const found = findValueLocations(files, matches(value));
  return [...found.filter((l) => l.kind === 'variable'), ...found.filter((l) => l.kind === 'tfvars')];
}

export interface VersionsSection {
  file: string;
  variables: Partial<Record<VersionValue, string>>;
  /** A .tfvars versions file Terraform loads only when told (-var-file), by its name in the root. */
  varFile?: string;
}

/** What Terraform loads by itself: terraform.tfvars(.json) and *.auto.tfvars(.json). */
const autoLoaded = (file: string) => /(^|\/)(terraform|[^/]+\.auto)\.tfvars(\.json)?$/.test(file);

/**
 * The versions file and the variables in it, found by the values the nodes run: variables' defaults
 * in a .tf file, or the lines of a .tfvars file (which `-var` overrides, as the product does when it
 * rebuilds a node). The product and the shipped Renovate preset read one file; a value kept elsewhere
 * is said.
 */
export function versionsSection(
  files: ParsedHclFile[],
  values: Record<VersionValue, string | undefined>,
  problems: string[],
  notes: string[],
): VersionsSection | undefined {
  const exact = (value: string) => (s: string) => s === value;
  const found: Record<VersionValue, ValueLocation[]> = {
    talos: locate(files, values.talos, sameVersion),
    kubernetes: locate(files, values.kubernetes, sameVersion),
    controllerSchematic: locate(files, values.controllerSchematic, exact),
    workerSchematic: locate(files, values.workerSchematic, exact),
  };
  // Two variables at the running version (two clusters in one file): the default name, else the user says.
  const candidates = found.talos.filter((l) => l.kind === 'variable');
  const talos =
    candidates.length > 1
      ? candidates.find((l) => l.name === DEFAULT_VARIABLES.talos)
      : (candidates[0] ?? found.talos[0]);
  if (candidates.length > 1 && !talos) {
    problems.push(
      `several variables hold the Talos version the nodes run (${candidates.map((l) => `${l.file}: ${l.name}`).join(', ')}): ` +
        "init cannot tell which is this cluster's; write the inventory's versions.variables.talos (and the others) by hand.",
    );
    return undefined;
  }
  // No default holds it, and several var files set it (prod.tfvars, staging.tfvars): the user says which.
  const lines = found.talos.filter((l) => l.kind === 'tfvars');
  if (!candidates.length && new Set(lines.map((l) => l.file)).size > 1) {
    problems.push(
      `several var files set the Talos version the nodes run (${lines.map((l) => `${l.file}: ${l.name}`).join(', ')}): ` +
        "init cannot tell which is this cluster's; write the inventory's versions.file (and terraform.varFiles when Terraform does not load it by itself) by hand.",
    );
    return undefined;
  }
  if (!talos) {
    problems.push(
      `no Terraform file of ${files.map((f) => f.path).join(', ') || 'the root'} holds the Talos version the nodes run (${values.talos ?? '?'}): ` +
        'keep it in a variable\'s default (variable "talos_version" { default = "…" }) so Renovate and the product read it.',
    );
    return undefined;
  }
  // Renovate's patterns, and the product's, know an attribute by its own name: two objects of one file
  // that both hold it (prod = { talos_version … }, staging = { talos_version … }) cannot be told apart.
  // At any value: Renovate would bump staging's talos_version as this cluster's too.
  const twins = findValueLocations(
    files.filter((f) => f.path === talos.file),
    () => true,
  ).filter((l) => l.name !== talos.name && attributeOf(l.name) === attributeOf(talos.name));
  if (twins.length) {
    problems.push(
      `${talos.file} holds a Talos version as ${[talos, ...twins].map((l) => l.name).join(' and ')}: ` +
        'Renovate and the product match the attribute by its own name and cannot tell them apart. Give each cluster its own name ' +
        '(prod_talos_version) or its own file, then run init again.',
    );
    return undefined;
  }
  // The values kept where Talos's is, in the same form: a variable's default, a line of the tfvars
  // file, or an attribute of the same object (cluster.talos_version beside cluster.kubernetes_version).
  const objectOf = (name: string) => name.split('.').slice(0, -1).join('.');
  const beside = (l: ValueLocation) =>
    l.file === talos.file && l.kind === talos.kind && objectOf(l.name) === objectOf(talos.name);
  if (talos.name.includes('.'))
    notes.push(
      `the Talos version is an attribute of an object (${talos.file}: ${talos.name}): a node is planned at another version ` +
        'with a var file holding that whole object, as the file has it but for the version.',
    );
  const variables: Partial<Record<VersionValue, string>> = {};
  for (const key of Object.keys(found) as VersionValue[]) {
    const inFile = found[key].find(beside);
    if (inFile) variables[key] = inFile.name;
    else if (values[key] && key !== 'workerSchematic')
      notes.push(
        `${key} (${values[key]}) is not ${talos.kind === 'tfvars' ? 'set' : "a variable's default"} in ${talos.file}` +
          (found[key][0] ? ` (found in ${found[key][0].file} as ${found[key][0].name})` : '') +
          ': a merge that changes it is not seen.',
      );
  }
  // The schematic variables hold the same id when both roles share one: the worker's is the second.
  const schematicVariables = found.controllerSchematic.filter(beside);
  if (values.workerSchematic === values.controllerSchematic && schematicVariables.length > 1) {
    variables.controllerSchematic =
      schematicVariables.find((l) => /control|cp|master/i.test(l.name))?.name ??
      variables.controllerSchematic;
    variables.workerSchematic =
      schematicVariables.find((l) => /work/i.test(l.name))?.name ?? variables.workerSchematic;
  }
  // What the product itself reads from the file with these names, as a merge will be read.
  const text = files.find((f) => f.path === talos.file)?.text ?? '';
  let read: ReturnType<typeof readTerraformVersions>;
  try {
    read = readTerraformVersions(text, {
      patterns: DEFAULT_MATCH_STRINGS,
      variables: { ...DEFAULT_VARIABLES, ...variables },
    });
  } catch (error) {
    problems.push(`${talos.file} cannot be read as a merge would be: ${(error as Error).message}`);
    return undefined;
  }
  if (read.talosVersion?.replace(/^v/, '') !== values.talos?.replace(/^v/, ''))
    problems.push(
      `the product reads Talos ${read.talosVersion ?? 'nothing'} from ${talos.file} (variable ${talos.name}), not ${values.talos ?? '?'}: ` +
        'see docs/inventory.md (versions) for the forms it reads.',
    );
  const readBack: Array<[VersionValue, string | undefined]> = [
    ['kubernetes', read.kubernetesVersion],
    ['controllerSchematic', read.controllerSchematicId],
    ['workerSchematic', read.workerSchematicId],
  ];
  for (const [key, value] of readBack)
    if (variables[key] && value?.replace(/^v/, '') !== values[key]?.replace(/^v/, ''))
      notes.push(
        `${key} is ${variables[key]} in ${talos.file}, but the product reads ${value ?? 'nothing'} there: a merge that changes it is not seen (docs/inventory.md, versions).`,
      );
  if (talos.kind === 'tfvars' && !autoLoaded(talos.file)) {
    const varFile = talos.file.split('/').at(-1) ?? talos.file;
    notes.push(
      `${talos.file} is loaded only when given with -var-file: terraform.varFiles names it, so every plan the product makes reads it.`,
    );
    return { file: talos.file, variables, varFile };
  }
  return { file: talos.file, variables };
}
