import { StorageV1Api, Watch, type V1VolumeAttachment } from '@kubernetes/client-node';
import { RBD_DRIVER } from '../cluster/volumes.js';
import { withConflictRetry } from '../cluster/nodeObjects.js';
import type { LabCluster } from './labCluster.js';

/** external-attacher's finalizer: its driver's name with every character but [a-zA-Z0-9-] as `-`. */
const FINALIZER = `external-attacher/${RBD_DRIVER.replace(/[^a-zA-Z0-9-]/g, '-')}`;

/** What the attacher writes when ControllerUnpublish fails: its 15 s call to the driver timed out. */
const DETACH_FAILS = 'rpc error: code = DeadlineExceeded desc = context deadline exceeded';

/**
 * Rook's RBD driver's external-attacher sidecar, as read in kubernetes-csi/external-attacher v4.12.0
 * (pkg/controller/csi_handler.go, util.go): it takes the VolumeAttachments kube-controller-manager
 * creates for its driver; an attach adds its finalizer and then `status.attached`; a VolumeAttachment
 * being deleted loses the finalizer once the driver has detached the volume, or, while the driver
 * fails (fault `volume-detach-stuck` on the node), keeps it and says why in `status.detachError`,
 * tried again every few seconds. Only this lab's nodes' attachments are its.
 */
export function startCsiAttacher(lab: LabCluster): () => void {
  const storage = lab.kc.makeApiClient(StorageV1Api);
  let stopped = false;
  let request: AbortController | undefined;
  const ours = (va: V1VolumeAttachment) =>
    va.spec?.attacher === RBD_DRIVER && lab.state.nodes.some((n) => n.name === va.spec?.nodeName);

  /** Detaches the driver failed: tried again until they go through. */
  const held = new Set<string>();
  const handle = async (name: string) => {
    if (stopped) return;
    await withConflictRetry(async () => {
      const va = await storage.readVolumeAttachment({ name }).catch(() => undefined);
      if (!va || !ours(va)) return void held.delete(name);
      const finalizers = va.metadata?.finalizers ?? [];
      if (va.metadata?.deletionTimestamp) {
        if (!finalizers.includes(FINALIZER)) return;
        const node = lab.node(va.spec?.nodeName ?? '');
        if (node && lab.activeFault('volume-detach-stuck', node)) {
          held.add(name);
          if (va.status?.detachError?.message === DETACH_FAILS) return;
          va.status = {
            ...va.status,
            attached: true,
            detachError: { message: DETACH_FAILS, time: new Date() },
          };
          await storage.replaceVolumeAttachmentStatus({ name, body: va });
          lab.record(
            'fault-fired',
            node.name,
            `volume-detach-stuck ${va.spec?.source?.persistentVolumeName ?? name}`,
          );
          return;
        }
        va.metadata = { ...va.metadata, finalizers: finalizers.filter((f) => f !== FINALIZER) };
        await storage.replaceVolumeAttachment({ name, body: va });
        held.delete(name);
        return;
      }
      if (!finalizers.includes(FINALIZER)) {
        va.metadata = { ...va.metadata, finalizers: [...finalizers, FINALIZER] };
        await storage.replaceVolumeAttachment({ name, body: va });
        return; // the update's event brings it back for its status
      }
      if (va.status?.attached) return;
      va.status = { ...va.status, attached: true, attachmentMetadata: {} };
      await storage.replaceVolumeAttachmentStatus({ name, body: va });
    }).catch((error: unknown) => {
      if (!stopped) lab.record('lab-error', undefined, `csi attacher on ${name}: ${String(error)}`);
    });
  };

  // A stuck detach is tried again, as the sidecar's requeue does: the fault's clear lets it through.
  const retry = setInterval(() => {
    for (const name of held) void handle(name);
  }, 2000);
  retry.unref();

  const watch = async () => {
    while (!stopped) {
      await new Promise<void>((resolve) => {
        new Watch(lab.kc)
          .watch(
            '/apis/storage.k8s.io/v1/volumeattachments',
            {},
            (phase: string, va: V1VolumeAttachment) => {
              if (phase !== 'DELETED' && va.metadata?.name) void handle(va.metadata.name);
            },
            () => resolve(),
          )
          .then(
            (controller) => {
              request = controller;
              if (stopped) controller.abort();
            },
            () => resolve(),
          );
      });
      if (!stopped) await new Promise((resolve) => setTimeout(resolve, 250));
    }
  };
  void watch();
  return () => {
    stopped = true;
    clearInterval(retry);
    request?.abort();
  };
}
