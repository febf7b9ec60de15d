import { KUBERNETES_RELEASES } from '../state/labState.js';
import { schematicDocument } from './schematics.js';
import type { LabCluster } from './labCluster.js';

export interface ImageRef {
  repository: string;
  schematic: string;
  version: string;
}

/** Parses `<registry>/<installer>/<schematic>:v<version>` as the image factory names installers. */
export function parseInstallerImage(image: string): ImageRef | undefined {
  const match = /^(?:[^/]+\/)?([\w.-]*installer)\/([0-9a-f]{64}):v?(\d+\.\d+\.\d+)$/.exec(image);
  if (!match) return undefined;
  return { repository: match[1] ?? '', schematic: match[2] ?? '', version: match[3] ?? '' };
}

/**
 * What the lab registry serves: released versions of the schematics the cluster runs or the factory
 * knows (it builds any schematic's images on demand), unless a fault removed them.
 */
export function imageExists(lab: LabCluster, ref: ImageRef): boolean {
  const known =
    lab.state.schematics.includes(ref.schematic) || schematicDocument(ref.schematic) !== undefined;
  if (!lab.state.releases.includes(ref.version) || !known) return false;
  return !lab.faults.some(
    (fault) => fault.kind === 'image-missing' && (!fault.version || fault.version === ref.version),
  );
}

/**
 * A Kubernetes component image as `talosctl upgrade-k8s` pre-pulls it (`<image>:v<version>`, the
 * kubelet's with its current suffix; pkg/cluster/kubernetes/talos_managed.go prePullImages at
 * v1.13.8), under whatever registry the user's flags or mirrors name.
 */
export function parseKubernetesImage(image: string): { component: string; version: string } | undefined {
  const match =
    /^(?:.+\/)?(kube-apiserver|kube-controller-manager|kube-scheduler|kube-proxy|kubelet):v(\d+\.\d+\.\d+)(?:-[\w.]+)?$/.exec(
      image,
    );
  return match ? { component: match[1] ?? '', version: match[2] ?? '' } : undefined;
}

/** What a node's pull finds in the registry: an installer or a Kubernetes image of a release, unless a fault removed it. */
export function registryHas(lab: LabCluster, image: string): boolean {
  const installer = parseInstallerImage(image);
  if (installer) return imageExists(lab, installer);
  const kubernetes = parseKubernetesImage(image);
  if (!kubernetes || !KUBERNETES_RELEASES.includes(kubernetes.version)) return false;
  return !lab.faults.some(
    (fault) =>
      fault.kind === 'kubernetes-image-missing' && (!fault.version || fault.version === kubernetes.version),
  );
}
