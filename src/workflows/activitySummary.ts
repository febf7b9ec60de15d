/**
 * One line per activity for the Web UI's event history ("destroy VM k8s-work-5"), from its name and
 * its argument: the operator reads what the step did to which node without opening its payload.
 */
const SUMMARIES: Record<string, (a: Args) => string> = {
  describeCluster: (a) => `read the inventory of ${a.cluster}`,
  maintenanceWindowState: () => 'is a maintenance window open?',
  readVersionChange: (a) => `read the versions file of ${a.repository} at ${short(a.after)}`,
  awaitNoRunningUpgrade: (a) => `wait until no other upgrade of ${a.cluster} runs`,
  checkInstallerImages: (a) => `check the installer images for ${a.version ?? a.to ?? 'the new version'}`,
  checkNodeInstaller: (a) => `is ${a.node}'s installer of ${a.version} served? (before its cordon)`,
  proveNodeExtensions: (a) =>
    `prove ${(a.nodes as string[] | undefined)?.length ?? 0} nodes' installers keep the extensions they load`,
  validateGpuPatches: (a) => `validate the GPU patches of ${a.cluster}`,
  takeEtcdSnapshot: (a) => `etcd snapshot of ${a.cluster}`,
  rebuildTemplates: (a) => `rebuild the VM templates at ${a.version}`,
  checkEtcdHealth: (a) => `etcd health of ${a.cluster}`,
  verifyFinalState: (a) =>
    `prove the end of the run: ${(a.nodes as string[] | undefined)?.length ?? 0} nodes Ready, uncordoned, at ${String(a.talos)}; etcd's voters`,
  runHealthChecks: (a) => (a.node ? `health checks around ${a.node}` : `health checks of ${a.cluster}`),
  cordonNode: (a) => `cordon ${a.node}`,
  uncordonNode: (a) => `uncordon ${a.node}`,
  drainNode: (a) => `cordon and drain ${a.node}`,
  drainBlockedNodes: (a) =>
    `which drains a PodDisruptionBudget blocks: ${(a.nodes as string[] | undefined)?.join(', ') ?? ''}`,
  storageNodes: (a) => `which nodes of ${a.cluster} carry Ceph OSDs`,
  markNodesPending: (a) => `mark the nodes not at ${a.version} yet: moved pods prefer the upgraded ones`,
  unmarkNodesPending: (a) =>
    `take the pending mark off ${(a.nodes as string[] | undefined)?.length ?? 0} nodes`,
  leaveEtcd: (a) => `${a.node} leaves etcd`,
  backupTerraformState: (a) => `back up the Terraform state before ${a.node ?? 'the change'}`,
  destroyNodeVm: (a) => `destroy VM ${a.node} (a saved plan, checked, applied)`,
  proveNodeRebuilds: (a) =>
    `prove the rebuild of ${(a.nodes as string[] | undefined)?.length ?? 0} nodes at ${a.version} (saved plans, nothing applied)`,
  proveMachineConfigs: (a) =>
    `validate the machine configs of ${(a.nodes as string[] | undefined)?.length ?? 0} nodes`,
  proveRebuiltKernelArgs: (a) =>
    `prove that ${(a.nodes as string[] | undefined)?.length ?? 0} rebuilt VMs boot their kernel arguments (their schematics)`,
  createNodeVm: (a) => `create VM ${a.node}${a.version ? ` at ${a.version}` : ''}`,
  applyMachineConfig: (a) => `apply the machine config to ${a.node}`,
  applyPatches: (a) => `apply the patches to ${a.node}`,
  installUpgrade: (a) => `install ${a.version ?? a.to ?? 'the new version'} on ${a.node}`,
  rebootIntoUpgrade: (a) => `reboot ${a.node} into ${a.version ?? a.to ?? 'the new version'}`,
  upgradeNodeInPlace: (a) => `talosctl upgrade ${a.node} to ${a.version ?? a.to ?? 'the new version'}`,
  waitForNodeReady: (a) => `wait for ${a.node} to be Ready`,
  waitForTalosVersion: (a) => `wait for ${a.node} to run ${a.version ?? 'the new version'}`,
  checkKubernetesUpgrade: (a) => `dry-run upgrade-k8s to ${a.version}`,
  upgradeKubernetes: (a) => `upgrade Kubernetes to ${a.version}`,
  notify: (a) => `notify: ${(a.event as { kind?: string } | undefined)?.kind ?? 'event'}`,
};

type Args = Record<string, unknown> & {
  cluster?: string;
  node?: string;
  version?: string;
  to?: string;
  repository?: string;
  after?: string;
};

const short = (sha: unknown) => (typeof sha === 'string' ? sha.slice(0, 12) : '?');

/** "checkNodeNics" -> "check node nics": readable enough for the ones without their own line. */
const words = (name: string) => name.replace(/([a-z])([A-Z])/g, '$1 $2').toLowerCase();

export function activitySummary(activityType: string, args: readonly unknown[]): string {
  const first = (typeof args[0] === 'object' && args[0] !== null ? args[0] : {}) as Args;
  const own = SUMMARIES[activityType];
  if (own) return own(first);
  const subject = first.node ?? first.cluster;
  return `${words(activityType)}${subject ? ` ${subject}` : ''}`;
}
