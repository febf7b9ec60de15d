/** Faults the lab injects on demand (`talos-lab fault add <kind>`). */
export const FAULT_KINDS = {
  'not-ready-after-upgrade': 'the node boots the new version but its kubelet never turns Ready',
  'boot-fails':
    'the Talos a boot starts fails and machined reverts to the fallback slot (A/B); a fallback of the same Talos loops',
  'install-answer-lost':
    "the node's next Talos 1.13 install completes, and the stream breaks before the client sees its end (Unavailable)",
  'kernel-args-dropped':
    "the node's Talos 1.13 installs drop its config's extra kernel arguments (GRUB, config older than 1.12); its schematic's stay",
  'nic-missing': 'a recreated VM comes up without its last NIC',
  'vm-create-fails': "Proxmox cannot clone the node's VM (its storage is full)",
  'etcd-unhealthy':
    "the node's etcd is down: its etcd status, members and snapshot calls hang until the caller's deadline",
  'pdb-blocks-drain': 'a pod pinned to the node under a PDB that allows no disruption',
  'terraform-lock': 'another process holds the Terraform state lock',
  'talosctl-transient': "the node's Talos API answers Unavailable (a connection error)",
  'image-missing': 'the registry has no installer image (for --version, or for any version)',
  'kubernetes-image-missing':
    "the registry has no Kubernetes component images (kube-apiserver, kube-controller-manager, kube-scheduler, kubelet) for --version, a Kubernetes version (or for any): the nodes' pulls find nothing",
  'registry-throttled':
    "the registry answers the node's next image pulls (installers, upgrade-k8s's images) 429 Too Many Requests (--times of them): Talos retries with its own backoff",
  'registry-down':
    "the registry answers 503 until cleared, with --node to that node's image pulls only (its path to the registry or mirror), without to every client, the worker's checks too: Talos retries for its whole pull budget (--seconds, 20 by default; 20 minutes on a real node) and fails",
  'gpu-patch-etc': "the node's GPU patch writes to an /etc/ path",
  'ceph-warn': 'Ceph reports HEALTH_WARN with a check that does not clear by itself (OSD_NEARFULL)',
  'ceph-slow-recovery':
    "Ceph's placement groups take --seconds to recover once every OSD is back (a large write backlog, or a backfill)",
  'join-delayed':
    "a new control-plane VM joins etcd --seconds later than its reboot ends (a slow boot: the undo's leave comes first)",
  'promotion-delayed':
    'a control plane that joins etcd stays a learner --seconds before its promotion (a member that is slow to catch up with the leader)',
  'volume-detach-stuck':
    'the CSI driver cannot detach volumes from the node (its ControllerUnpublish times out): their VolumeAttachments stay, with a detachError, until cleared',
  'dns-broken':
    'pods on the node cannot resolve names while it runs --version (without one, from its next boot on): its run-to-completion pods that look a name up fail',
  'network-broken':
    'pods on the node reach nothing over the pod network while it runs --version (without one, from its next boot on): its run-to-completion pods that connect anywhere fail',
  'pod-crashloop':
    'a kube-system DaemonSet pod on the node (--daemon-set, else the first by name) crash-loops (CrashLoopBackOff) while it runs --version (without one, from its next boot on)',
  'pod-not-ready':
    'a kube-system DaemonSet pod on the node (--daemon-set, else the first by name) runs but fails its readiness probe (not Ready, no restarts) while it runs --version (without one, from its next boot on)',
  'gpu-driver-fails':
    "the node's NVIDIA driver does not load while it runs --version (without one, from its next boot on): no nvidia.com/gpu to allocate",
  'flux-not-ready':
    'a Flux Kustomization fails its health check (Ready False) while the node runs --version (without one, from its next boot on)',
  'argocd-degraded':
    'an Argo CD Application is Degraded while the node runs --version (without one, from its next boot on)',
  'foreign-certificate':
    "a recreated VM's address is answered by another machine: a certificate of another CA, client certificates of that CA required",
} as const;

export type FaultKind = keyof typeof FAULT_KINDS;

export interface Fault {
  id: number;
  kind: FaultKind;
  node?: string;
  version?: string;
  /** How many more times a one-shot fault fires; undefined means until cleared. */
  remaining?: number;
  /** terraform-lock: how long the lock is held; join-delayed: how much later the node joins;
   * promotion-delayed: how long the joined member stays a learner; ceph-slow-recovery: how long the
   * placement groups recover; registry-down: Talos's pull budget as the lab plays it. */
  seconds?: number;
  /** pod-crashloop, pod-not-ready: the kube-system DaemonSet whose pod fails (else the node's first by name). */
  daemonSet?: string;
  /** The boot the node ran when the fault was added: a workload fault without --version holds from the next. */
  bootId?: string;
  addedAt: string;
}

export function isFaultKind(kind: string): kind is FaultKind {
  return kind in FAULT_KINDS;
}

/** One-shot kinds fire once unless --times says more; the others hold until cleared. */
export const ONE_SHOT: readonly FaultKind[] = [
  'not-ready-after-upgrade',
  'boot-fails',
  'install-answer-lost',
  'nic-missing',
  'vm-create-fails',
  'talosctl-transient',
  'registry-throttled',
  'join-delayed',
  'promotion-delayed',
  'foreign-certificate',
];
