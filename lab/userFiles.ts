import { existsSync } from 'node:fs';
import { join } from 'node:path';

/**
 * What a user of a lab cluster holds, as `talos-upgrade init`'s flags: the talosconfig and
 * kubeconfig, the repository's Terraform root (when the cluster has one), the machine configs
 * `talosctl gen config` wrote (outside the repository, as they carry the cluster's secrets) and a
 * folder for backups. Facts about the cluster are init's to find; these are only where things are.
 */
export function initArguments(
  clusterDir: string,
  credentials: { kubeconfig: string; talosconfig: string },
  out = join(clusterDir, 'repo', 'inventory.yaml'),
): string[] {
  const terraform = join(clusterDir, 'repo', 'terraform');
  const secrets = join(clusterDir, 'secrets');
  return [
    ...['--talosconfig', credentials.talosconfig, '--kubeconfig', credentials.kubeconfig],
    ...(existsSync(terraform) ? ['--terraform', terraform] : []),
    ...['--controlplane-config', join(secrets, 'controlplane.yaml')],
    ...(existsSync(join(secrets, 'worker.yaml')) ? ['--worker-config', join(secrets, 'worker.yaml')] : []),
    ...['--backups', join(clusterDir, 'backups'), '--out', out],
  ];
}
