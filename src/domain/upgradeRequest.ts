import {
  DEFAULT_VERSION_SOURCE,
  otherVariables,
  readTerraformVersions,
  type TerraformVersions,
  type VersionSource,
} from './variablesTf.js';
import { compareVersions, VersionError, type Version } from './version.js';

export interface VersionChange {
  from: Version;
  to: Version;
}

export interface SchematicChange {
  from: string;
  to: string;
}

/** What a change to variables.tf asks of the cluster. */
export type VersionDiff =
  | {
      kind: 'upgrade';
      talos?: VersionChange;
      kubernetes?: VersionChange;
      /** Schematic ids that changed alongside: the new installer images to use. */
      schematics: { controller?: SchematicChange; worker?: SchematicChange };
      /** The versions after the change, for planning when only one of them moved. */
      after: TerraformVersions;
    }
  | { kind: 'nothing'; reason: string };

function changeOf(from: string | undefined, to: string | undefined) {
  return from !== undefined && to !== undefined && from !== to ? { from, to } : undefined;
}

/** Compares variables.tf before and after a merge: what changed, from what, to what — or nothing. */
export function diffTerraformVersions(
  beforeText: string,
  afterText: string,
  source: VersionSource = DEFAULT_VERSION_SOURCE,
): VersionDiff {
  const before = readTerraformVersions(beforeText, source);
  const after = readTerraformVersions(afterText, source);
  const { talos: talosName, kubernetes: kubernetesName } = source.variables;
  if (after.talosVersion === undefined) {
    const others = otherVariables(afterText, 'talos', source);
    // Another cluster's variable in the file and not this one's: a misnamed variable, not "no change".
    if (others.length > 0)
      throw new VersionError(
        `${talosName} is not in the file, but ${others.join(', ')} ${others.length > 1 ? 'are' : 'is'}: ` +
          `name this cluster's variable in the inventory (versions.variables.talos)`,
      );
    return {
      kind: 'nothing',
      reason: `${talosName} was not found in the new file by the Renovate patterns (see versions in the inventory)`,
    };
  }
  const talos = changeOf(before.talosVersion, after.talosVersion);
  const kubernetes = changeOf(before.kubernetesVersion, after.kubernetesVersion);
  const controller = changeOf(before.controllerSchematicId, after.controllerSchematicId);
  const worker = changeOf(before.workerSchematicId, after.workerSchematicId);
  if (!talos && !kubernetes) {
    const schematicsOnly =
      controller || worker
        ? ' (only schematic ids changed; they take effect with the next version change)'
        : '';
    return { kind: 'nothing', reason: `${talosName} and ${kubernetesName} are unchanged${schematicsOnly}` };
  }
  for (const [what, change] of [
    [talosName, talos],
    [kubernetesName, kubernetes],
  ] as const) {
    if (change && compareVersions(change.to, change.from) < 0) {
      return {
        kind: 'nothing',
        reason: `${what} went down from ${change.from} to ${change.to}: downgrades are not automated`,
      };
    }
  }
  return {
    kind: 'upgrade',
    ...(talos ? { talos } : {}),
    ...(kubernetes ? { kubernetes } : {}),
    schematics: { ...(controller ? { controller } : {}), ...(worker ? { worker } : {}) },
    after,
  };
}
