import { readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { ActivityDeps } from '../../src/activities/index.js';
import { githubReleases } from '../../src/activities/githubReleases.js';
import { parseInventory, type Inventory } from '../../src/domain/index.js';
import { secretReader } from '../../src/worker/secrets.js';
import type { Lab } from '../lab/labHarness.js';

/** The lab's inventory as the worker reads it; a lab whose inventory is refused is a broken lab. */
export async function labInventory(lab: Lab): Promise<{ inventory: Inventory; inventoryFile: string }> {
  const inventoryFile = lab.env.TALOS_UPGRADE_INVENTORY ?? '';
  const parsed = parseInventory(await readFile(inventoryFile, 'utf8'));
  if (!parsed.ok) throw new Error(`lab inventory invalid: ${JSON.stringify(parsed.issues)}`);
  return { inventory: parsed.inventory, inventoryFile };
}

/**
 * What the activities run with against a lab: its clients, its cluster and the secrets given (none
 * by default). Polls every 250 ms, as a lab's steps are scaled down.
 */
export function labActivityDeps(
  lab: Lab,
  inventory: Inventory,
  inventoryFile: string,
  secrets: NodeJS.ProcessEnv = {},
): ActivityDeps {
  return {
    clusters: {
      [inventory.cluster.name]: {
        inventory,
        baseDir: dirname(inventoryFile),
        kubeconfig: lab.env.KUBECONFIG ?? '',
        talosconfig: lab.env.TALOSCONFIG ?? '',
      },
    },
    talosctl: lab.env.TALOSCTL ?? '',
    terraform: lab.env.TERRAFORM ?? '',
    sops: lab.env.SOPS ?? '',
    // GitHub's releases API, as the lab serves it on loopback (lab.env's TALOS_UPGRADE_RELEASES_API_URL).
    talosReleases: githubReleases({
      apiUrl: lab.env.TALOS_UPGRADE_RELEASES_API_URL ?? '',
      repository: 'siderolabs/talos',
    }),
    kubernetesReleases: githubReleases({
      apiUrl: lab.env.TALOS_UPGRADE_RELEASES_API_URL ?? '',
      repository: 'kubernetes/kubernetes',
    }),
    readSecret: secretReader(secrets),
    pollIntervalMs: 250,
  };
}
