/**
 * Whether a Terraform root feeds the Talos version it upgrades into the siderolabs/talos provider's
 * config contract: `data "talos_machine_configuration"`'s `talos_version`. The contract decides what
 * the generated machine config holds (a 1.14 contract writes the 1.14 documents: its etcd encryption
 * document, `UnattendedInstallConfig` in place of `.machine.install`), so a Renovate bump of the version
 * variable would also regenerate every node's config, and the next apply sends it to the running nodes.
 * Talos's maintainers: set the contract once, at the version the cluster was created with, and never
 * bump it on an upgrade (siderolabs/talos issue 13885, terraform-provider-talos issue 399; the 1.14.0
 * beta's regenerated config could no longer decrypt etcd's secrets).
 *
 * Read from the Terraform files as hcl2json writes them: the root's, then each local module's (a
 * `source` starting with ./ or ../) with the arguments the call feeds from the version, through locals.
 */

/** One `data "talos_machine_configuration"` whose contract follows the version. */
export interface ContractUse {
  /** Its address (module.talos.data.talos_machine_configuration.controlplane). */
  address: string;
  /** The file it is in, as given. */
  file: string;
  /** Its talos_version as written. */
  expression: string;
}

/** A local module call whose arguments carry the version: the module is read with these names. */
export interface ContractModuleCall {
  /** The module's address prefix (module.talos.). */
  prefix: string;
  source: string;
  /** The module's variables (dotted for an object's attribute) that hold the version. */
  names: string[];
}

type Blocks = Record<string, unknown>;

const META_ARGUMENTS = new Set(['source', 'version', 'count', 'for_each', 'providers', 'depends_on']);

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** `x["a"]` written as `x.a`, so both spellings of an attribute read alike. */
const normalise = (expression: string) => expression.replace(/\[\s*"([\w-]+)"\s*\]/g, '.$1');

/** Whether an expression reads one of these references (`var.talos_version`, `local.version`). */
function reads(expression: string, references: string[]): boolean {
  const text = normalise(expression);
  return references.some((r) => new RegExp(`(?<![\\w.])${escape(r)}(?![\\w-])`).test(text));
}

/** Whether an expression reads this object itself, not one of its attributes. */
function readsWhole(expression: string, reference: string): boolean {
  return new RegExp(`(?<![\\w.])${escape(reference)}(?![\\w.[-])`).test(normalise(expression));
}

function strings(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (Array.isArray(value)) return value.flatMap(strings);
  if (value && typeof value === 'object') return Object.values(value).flatMap(strings);
  return [];
}

/** Each labelled block of a kind in hcl2json's form: { type: { name: [body] } } or { name: [body] }. */
function bodies(value: unknown): Array<[string, Blocks]> {
  if (!value || typeof value !== 'object') return [];
  return Object.entries(value as Record<string, unknown>).flatMap(([name, list]) =>
    (Array.isArray(list) ? list : [list]).map((body): [string, Blocks] => [name, body as Blocks]),
  );
}

/**
 * One module's files: the contracts its version `names` (its variables, `talos_version` or
 * `cluster.talos_version`) reach, and its local module calls that carry them on.
 */
export function configContractInModule(
  files: ReadonlyArray<{ path: string; json: unknown }>,
  names: readonly string[],
  prefix = '',
): { uses: ContractUse[]; calls: ContractModuleCall[] } {
  const references = names.map((n) => `var.${n}`);
  // Locals that read the version (or another such local), until no more are found.
  const locals = files.flatMap(
    (f) =>
      ((f.json as Blocks).locals as Blocks[] | undefined)?.flatMap((block) => Object.entries(block)) ?? [],
  );
  // An object local taints only its attributes that read it (local.versions.talos, not .kubernetes).
  const tainted = ([name, value]: [string, unknown]): string[] =>
    value && typeof value === 'object' && !Array.isArray(value)
      ? Object.entries(value).flatMap(([key, v]) =>
          strings(v).some((s) => reads(s, references)) ? [`local.${name}.${key}`] : [],
        )
      : strings(value).some((s) => reads(s, references))
        ? [`local.${name}`]
        : [];
  for (let found = true; found;) {
    found = false;
    for (const local of locals)
      for (const reference of tainted(local))
        if (!references.includes(reference)) {
          references.push(reference);
          found = true;
        }
  }
  const uses: ContractUse[] = [];
  const calls: ContractModuleCall[] = [];
  for (const file of files) {
    const json = file.json as Blocks;
    const configs = (json.data as Blocks | undefined)?.talos_machine_configuration;
    for (const [name, body] of bodies(configs)) {
      const expression = body.talos_version;
      if (typeof expression === 'string' && reads(expression, references))
        uses.push({
          address: `${prefix}data.talos_machine_configuration.${name}`,
          file: file.path,
          expression,
        });
    }
    for (const [name, body] of bodies(json.module)) {
      const source = body.source;
      if (typeof source !== 'string' || !/^\.\.?\//.test(source)) continue;
      const carried = Object.entries(body).flatMap(([argument, value]) => {
        if (META_ARGUMENTS.has(argument)) return [];
        const texts = strings(value);
        if (texts.some((s) => reads(s, references))) return [argument];
        // A whole object passed on (cluster = var.cluster, versions = local.versions): its attribute
        // goes along under the argument.
        return references.flatMap((reference) => {
          const [kind = '', head = '', ...rest] = reference.split('.');
          return rest.length && texts.some((s) => readsWhole(s, `${kind}.${head}`))
            ? [[argument, ...rest].join('.')]
            : [];
        });
      });
      if (carried.length) calls.push({ prefix: `${prefix}module.${name}.`, source, names: carried });
    }
  }
  return { uses, calls };
}

/** What to tell the user about contracts that follow the version, for a hop to `target`. */
export function describeContractUses(uses: readonly ContractUse[], variable: string): string {
  const listed = uses.map((u) => `${u.address} (${u.file}: talos_version = ${u.expression})`).join(', ');
  return (
    `the Terraform root feeds ${variable} into the config contract of ${listed}: each version bump regenerates ` +
    `every node's machine config with that release's defaults, and the next apply sends it to the nodes. ` +
    `Set talos_version there to the version the cluster was created with (a literal), as Talos's maintainers advise`
  );
}
