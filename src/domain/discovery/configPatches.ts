/**
 * Which of the repository's Talos config patches a node's running config carries. A user builds each
 * node's config from `talosctl gen config` and patches (`--config-patch @file`, or `talosctl patch mc`);
 * the running config is their merge, so a patch the node carries is one whose every value stands in
 * it. init proposes those files: the ones every node carries as global patches, a GPU node's own as
 * its GPU patches. They are proposals from a comparison, never read as secrets: a patch that carries
 * cluster secrets is a whole machine config, not a patch, and is never a candidate.
 */

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * Whether every value `patch` sets stands in `config`: maps key by key, each item of a list in some
 * item of the config's list (Talos appends a patch's lists, machine.files among them), scalars equal
 * as YAML writes them (`"0"` and `0` are one sysctl value). A `$patch: delete` never stands: it removes.
 */
export function standsIn(patch: unknown, config: unknown): boolean {
  if (isObject(patch)) {
    if ('$patch' in patch) return false;
    return isObject(config) && Object.entries(patch).every(([key, value]) => standsIn(value, config[key]));
  }
  if (Array.isArray(patch))
    return Array.isArray(config) && patch.every((item) => config.some((held) => standsIn(item, held)));
  if (patch === null || patch === undefined) return true;
  return isScalar(patch) && isScalar(config) && String(patch) === String(config);
}

const isScalar = (value: unknown): value is string | number | boolean =>
  typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean';

/**
 * Paths whose presence makes a document a whole machine config with the cluster's secrets (the
 * secrets bundle of `talosctl gen secrets`, as v1alpha1 places it: machinery config/types/v1alpha1).
 */
const SECRET_PATHS: string[][] = [
  ['machine', 'token'],
  ['machine', 'ca'],
  ['cluster', 'token'],
  ['cluster', 'ca'],
  ['cluster', 'aggregatorCA'],
  ['cluster', 'serviceAccount'],
  ['cluster', 'etcd', 'ca'],
  ['cluster', 'secret'],
  ['cluster', 'secretboxEncryptionSecret'],
  ['cluster', 'aescbcEncryptionSecret'],
];

const hasPath = (doc: unknown, path: string[]): boolean =>
  path.length === 0 ||
  (isObject(doc) && path[0] !== undefined && path[0] in doc && hasPath(doc[path[0]], path.slice(1)));

/**
 * Whether a patch sets anything: a scalar or a list item somewhere. One made of empty maps and nulls
 * (a template with everything commented out) changes nothing, so every node would "carry" it.
 */
export function setsSomething(patch: unknown): boolean {
  if (isObject(patch)) return Object.values(patch).some(setsSomething);
  if (Array.isArray(patch)) return patch.length > 0;
  return patch !== null && patch !== undefined;
}

/**
 * The v1alpha1 patch documents of a YAML file, or undefined when it is no patch: no document with a
 * `machine` or `cluster` section, a SOPS-encrypted file, a whole config carrying secrets, or one that
 * sets nothing.
 */
export function patchDocuments(documents: unknown[]): Array<Record<string, unknown>> | undefined {
  const patches = documents.filter(
    (doc): doc is Record<string, unknown> =>
      isObject(doc) && (isObject(doc.machine) || isObject(doc.cluster)),
  );
  if (patches.length === 0) return undefined;
  if (documents.some((doc) => isObject(doc) && 'sops' in doc)) return undefined;
  const carriesSecrets = patches.some((doc) => SECRET_PATHS.some((path) => hasPath(doc, path)));
  if (carriesSecrets || !patches.some(setsSomething)) return undefined;
  return patches;
}

/** Whether the node's running v1alpha1 config carries every document of a patch file. */
export function carriesPatch(patches: Array<Record<string, unknown>>, running: unknown): boolean {
  return patches.every((doc) => standsIn(doc, running));
}
