import {
  CoreV1Api,
  StorageV1Api,
  type KubeConfig,
  type V1PersistentVolume,
  type V1PersistentVolumeClaim,
} from '@kubernetes/client-node';

/**
 * Rook's RBD CSI driver: `<operator namespace>.rbd.csi.ceph.com`, attach required (Rook v1.18.11
 * pkg/operator/ceph/csi/csi.go; ceph-csi-operator v1.0.4 defaults the CSIDriver's attachRequired to
 * true). The real kube-controller-manager attaches and detaches its volumes through VolumeAttachments;
 * the lab plays the driver's external-attacher sidecar (lab/daemon/csiAttacher.ts).
 */
export const RBD_DRIVER = 'rook-ceph.rbd.csi.ceph.com';

/** The app whose data lives on an RBD volume (ReadWriteOnce): its drain moves the attachment. */
export const VOLUME_APP = { namespace: 'apps', name: 'paperless', claim: 'paperless-data' };
const VOLUME = `pvc-${VOLUME_APP.claim}`;

function volume(): V1PersistentVolume {
  return {
    metadata: { name: VOLUME },
    spec: {
      capacity: { storage: '5Gi' },
      accessModes: ['ReadWriteOnce'],
      persistentVolumeReclaimPolicy: 'Retain',
      storageClassName: 'ceph-block',
      csi: {
        driver: RBD_DRIVER,
        fsType: 'ext4',
        // ceph-csi's handle: version, cluster id, pool id and the image's uuid.
        volumeHandle: '0001-0009-rook-ceph-0000000000000002-6e7c0d0a-3b8f-4a55-9f5e-2c0a8f6b1d41',
        volumeAttributes: {
          clusterID: 'rook-ceph',
          pool: 'replicapool',
          imageName: `csi-vol-${VOLUME_APP.name}`,
        },
      },
    },
  };
}

function claim(): V1PersistentVolumeClaim {
  return {
    metadata: { name: VOLUME_APP.claim, namespace: VOLUME_APP.namespace },
    spec: {
      accessModes: ['ReadWriteOnce'],
      storageClassName: 'ceph-block',
      resources: { requests: { storage: '5Gi' } },
      // Bound to it by the real PersistentVolume controller (a volume Rook provisioned earlier).
      volumeName: VOLUME,
    },
  };
}

/** A create that finds its object there already (a lab started again on the same API server). */
export function ignoreExists(error: unknown): void {
  if ((error as { code?: number }).code !== 409) throw error;
}

/**
 * The storage objects of a cluster on Rook-Ceph: the driver, and the app's volume and its claim. The
 * nodes carry the annotation a kubelet sets for the controller's attach and detach
 * (lab/cluster/nodeObjects.ts).
 */
export async function createVolumeObjects(kc: KubeConfig): Promise<void> {
  await kc
    .makeApiClient(StorageV1Api)
    .createCSIDriver({
      body: { metadata: { name: RBD_DRIVER }, spec: { attachRequired: true, podInfoOnMount: false } },
    })
    .catch(ignoreExists);
  const core = kc.makeApiClient(CoreV1Api);
  await core.createPersistentVolume({ body: volume() }).catch(ignoreExists);
  await core
    .createNamespacedPersistentVolumeClaim({ namespace: VOLUME_APP.namespace, body: claim() })
    .catch(ignoreExists);
}
