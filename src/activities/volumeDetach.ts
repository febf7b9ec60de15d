import { CoreV1Api, StorageV1Api, type KubeConfig, type V1Pod } from '@kubernetes/client-node';

/**
 * How long a drain waits for its moved pods' volumes to detach once the pods are gone: as long as the
 * drain itself may take, within these bounds. kube-controller-manager's attach/detach controller
 * detaches a volume only after its pod is deleted and unmounted, and the CSI driver's attacher then
 * answers on its own time (a minute is long for either); the upper bound keeps the drain within its
 * activity's time.
 */
export const DETACH_WAIT_MS = { min: 30_000, max: 10 * 60_000 };

export interface AttachedVolume {
  /** The VolumeAttachment's name (`kubectl describe volumeattachment <name>`). */
  attachment: string;
  /** Its PersistentVolume. */
  volume: string;
  /** What the CSI driver's attacher last said about the detach (status.detachError). */
  error?: string;
}

/** The claims of a pod's volumes: its PersistentVolumeClaims and its generic ephemeral volumes'. */
function claimsOf(pod: V1Pod): string[] {
  return (pod.spec?.volumes ?? []).flatMap((volume) =>
    volume.persistentVolumeClaim
      ? [volume.persistentVolumeClaim.claimName]
      : volume.ephemeral
        ? [`${pod.metadata?.name ?? ''}-${volume.name}`]
        : [],
  );
}

/**
 * The PersistentVolumes of the pods a drain moves, read when it starts (an ephemeral volume's claim
 * goes with its pod). A claim that is gone or not bound has no volume to wait for; any other answer
 * of the API server is the caller's to report.
 */
export async function volumesOf(kc: KubeConfig, pods: V1Pod[]): Promise<Set<string>> {
  const core = kc.makeApiClient(CoreV1Api);
  const volumes = new Set<string>();
  for (const pod of pods) {
    const namespace = pod.metadata?.namespace ?? 'default';
    for (const name of claimsOf(pod)) {
      const claim = await core
        .readNamespacedPersistentVolumeClaim({ name, namespace })
        .catch((error: unknown) => {
          if ((error as { code?: number }).code === 404) return undefined;
          throw error;
        });
      if (claim?.spec?.volumeName) volumes.add(claim.spec.volumeName);
    }
  }
  return volumes;
}

/**
 * Which of `volumes` are still attached to the node (their VolumeAttachments there). A volume attached
 * to a node that reboots or is destroyed is detached by force, if at all: its filesystem may be left
 * unclean, and the attachment stuck until someone removes it. Only the moved pods' volumes count: an
 * attachment of a pod that stays (a DaemonSet's), or one left from earlier, is not this drain's.
 */
export async function attachedVolumes(
  kc: KubeConfig,
  node: string,
  volumes: Set<string>,
): Promise<AttachedVolume[]> {
  if (volumes.size === 0) return [];
  return (await kc.makeApiClient(StorageV1Api).listVolumeAttachment()).items
    .filter((va) => va.spec?.nodeName === node && volumes.has(va.spec.source?.persistentVolumeName ?? ''))
    .map((va) => ({
      attachment: va.metadata?.name ?? '',
      volume: va.spec?.source?.persistentVolumeName ?? '',
      ...(va.status?.detachError?.message ? { error: va.status.detachError.message } : {}),
    }));
}

/** One line per attachment for an error: the volume, its attachment and the attacher's last word. */
export function describeAttached(attached: AttachedVolume[]): string {
  return attached
    .map((a) => `${a.volume} (VolumeAttachment ${a.attachment}${a.error ? `: ${a.error}` : ''})`)
    .join(', ');
}
