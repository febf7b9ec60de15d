/**
 * Every failure type the product raises, in one place for activities, workflows, the CLI and the
 * tests. A non-retryable failure is one that retrying cannot fix (a missing image, a PDB that will
 * not yield, a wrong NIC); the rest are retried by Temporal.
 */
export const FAILURE = {
  // Raised by activities.
  ValidationFailed: 'ValidationFailed',
  VersionMismatch: 'VersionMismatch',
  DrainBlocked: 'DrainBlocked',
  /** Volumes of the drained pods still attached to the node when the drain's time ran out. */
  VolumesAttached: 'VolumesAttached',
  ImageMissing: 'ImageMissing',
  RegistryUnavailable: 'RegistryUnavailable',
  /** A legacy upgrade call Talos had not answered when its wait ran out: the node run decides. */
  UpgradeUnanswered: 'UpgradeUnanswered',
  NicMismatch: 'NicMismatch',
  KernelArgsMissing: 'KernelArgsMissing',
  /** A node rebooted for its patches and does not hold the files they write. */
  PatchNotApplied: 'PatchNotApplied',
  QuorumAtRisk: 'QuorumAtRisk',
  NodeNotReady: 'NodeNotReady',
  HealthCheckFailed: 'HealthCheckFailed',
  CommandFailed: 'CommandFailed',
  TalosUnavailable: 'TalosUnavailable',
  TerraformLocked: 'TerraformLocked',
  TerraformPlanRefused: 'TerraformPlanRefused',
  KubernetesUnavailable: 'KubernetesUnavailable',
  UnsupportedUpgrade: 'UnsupportedUpgrade',
  /** A Talos-managed add-on (CoreDNS, kube-proxy, flannel) not available: upgrade-k8s would fail half-done. */
  AddonsNotAvailable: 'AddonsNotAvailable',
  SourceUnavailable: 'SourceUnavailable',
  InvalidVersionsFile: 'InvalidVersionsFile',
  // Raised by workflows.
  PlanRefused: 'PlanRefused',
  InvalidRequest: 'InvalidRequest',
  PrerequisiteMissing: 'PrerequisiteMissing',
  /** A controller's undo would boot an etcd older than the cluster's storage version: etcd's downgrade first. */
  EtcdDowngradeNeeded: 'EtcdDowngradeNeeded',
  NodeUpgradeFailed: 'NodeUpgradeFailed',
  UpgradeFailed: 'UpgradeFailed',
} as const;

export type FailureType = keyof typeof FAILURE;
