export type TimelineKind =
  | 'lab-up'
  | 'power-off'
  | 'power-on'
  | 'upgrade-started'
  | 'image-pulled'
  | 'upgrade-installed'
  | 'upgrade-finished'
  | 'upgrade-fell-back'
  | 'installer-refused'
  | 'boot-loop'
  | 'reboot'
  | 'vm-destroyed'
  | 'vm-created'
  | 'config-applied'
  | 'node-joined'
  | 'patch-applied'
  | 'etcd-left'
  | 'etcd-member-removed'
  | 'etcd-joined'
  | 'etcd-promoted'
  | 'etcd-refused'
  | 'etcd-storage-raised'
  | 'etcd-downgrade'
  | 'template-built'
  | 'template-destroyed'
  | 'kubernetes-upgraded'
  | 'static-pod-updated'
  | 'kubelet-restarted'
  | 'manifests-applied'
  | 'cordoned'
  | 'uncordoned'
  | 'ceph-degraded'
  | 'ceph-clean'
  | 'fault-added'
  | 'fault-fired'
  | 'fault-cleared'
  | 'violation'
  | 'lab-error';

export interface TimelineEvent {
  at: string;
  kind: TimelineKind;
  node?: string;
  detail?: string;
}

export type InvariantName =
  | 'etcd-quorum'
  | 'ceph-availability'
  | 'boot-fallback'
  | 'workers-unavailable'
  | 'destroyed-with-pods'
  | 'powered-off-with-volumes'
  | 'left-cordoned'
  | 'mixed-versions';

export interface Violation {
  at: string;
  invariant: InvariantName;
  detail: string;
}
