import { parse } from '@cdktf/hcl2json';
import { readdir, readFile } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import { configContractInModule, type ContractUse } from '../domain/index.js';
import type { ClusterAccess, ClusterHandle } from './deps.js';

/** Modules within modules: deeper than this is not followed (and a cycle ends here). */
const MAX_DEPTH = 6;

/** A module folder's .tf files as hcl2json reads them; a file that does not parse is passed over. */
async function moduleFiles(root: string, dir: string): Promise<Array<{ path: string; json: unknown }>> {
  const names = await readdir(dir).catch(() => [] as string[]);
  const files: Array<{ path: string; json: unknown }> = [];
  for (const name of names.filter((n) => n.endsWith('.tf')).sort()) {
    const text = await readFile(join(dir, name), 'utf8').catch(() => undefined);
    const json = text === undefined ? undefined : await parse(name, text).catch(() => undefined);
    if (json) files.push({ path: relative(root, join(dir, name)), json });
  }
  return files;
}

/**
 * The `talos_machine_configuration` data sources whose config contract (talos_version) the inventory's
 * Talos version variable reaches, in the Terraform root and the local modules it calls
 * (domain/configContract.ts says why that matters). Read-only; nothing without a Terraform root.
 */
export async function configContractUses(access: ClusterAccess): Promise<ContractUse[]> {
  const { terraform, versions } = access.inventory;
  if (!terraform) return [];
  const root = resolve(access.baseDir, terraform.directory);
  const uses: ContractUse[] = [];
  const walk = async (dir: string, names: string[], prefix: string, depth: number): Promise<void> => {
    if (depth > MAX_DEPTH) return;
    const found = configContractInModule(await moduleFiles(root, dir), names, prefix);
    uses.push(...found.uses);
    for (const call of found.calls) await walk(resolve(dir, call.source), call.names, call.prefix, depth + 1);
  };
  await walk(root, [versions.variables.talos], '', 0);
  return uses;
}

export function configContractActivities(cluster: (name: string) => ClusterHandle) {
  /** For pre-flight: whether the cluster's Terraform bumps the config contract with the version. */
  async function readConfigContract(input: {
    cluster: string;
  }): Promise<{ uses: ContractUse[]; variable: string }> {
    const c = cluster(input.cluster);
    return { uses: await configContractUses(c), variable: c.inventory.versions.variables.talos };
  }
  return { readConfigContract };
}
