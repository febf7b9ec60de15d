import { readTerraformVersions, type TerraformVersions, type VersionPatterns } from './variablesTf.js';
import { DEFAULT_VERSION_PATTERNS } from './inventory/schema.js';
import { compareVersions, type Version } from './version.js';

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
  patterns: VersionPatterns = DEFAULT_VERSION_PATTERNS,
): VersionDiff {
  const before = readTerraformVersions(beforeText, patterns);
  const after = readTerraformVersions(afterText, patterns);
  if (after.talosVersion === undefined) {
    return { kind: 'nothing', reason: 'talos_version was not found in the new variables.tf' };
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
    return { kind: 'nothing', reason: `talos_version and kubernetes_version are unchanged${schematicsOnly}` };
  }
  for (const [what, change] of [
    ['talos_version', talos],
    ['kubernetes_version', kubernetes],
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
