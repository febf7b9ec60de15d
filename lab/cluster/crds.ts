import type { V1CustomResourceDefinition } from '@kubernetes/client-node';

interface CrdSpec {
  group: string;
  version: string;
  kind: string;
  plural: string;
}

/** The CRDs of the cluster's add-ons, schemaless but with a status subresource like the real ones. */
export const ADDON_CRDS = {
  cephCluster: { group: 'ceph.rook.io', version: 'v1', kind: 'CephCluster', plural: 'cephclusters' },
  kustomization: {
    group: 'kustomize.toolkit.fluxcd.io',
    version: 'v1',
    kind: 'Kustomization',
    plural: 'kustomizations',
  },
  helmRelease: {
    group: 'helm.toolkit.fluxcd.io',
    version: 'v2',
    kind: 'HelmRelease',
    plural: 'helmreleases',
  },
  argoApplication: { group: 'argoproj.io', version: 'v1alpha1', kind: 'Application', plural: 'applications' },
} as const satisfies Record<string, CrdSpec>;

export function crdManifest(spec: CrdSpec): V1CustomResourceDefinition {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${spec.plural}.${spec.group}` },
    spec: {
      group: spec.group,
      scope: 'Namespaced',
      names: {
        kind: spec.kind,
        plural: spec.plural,
        singular: spec.kind.toLowerCase(),
        listKind: `${spec.kind}List`,
      },
      versions: [
        {
          name: spec.version,
          served: true,
          storage: true,
          subresources: { status: {} },
          schema: { openAPIV3Schema: { type: 'object', x_kubernetes_preserve_unknown_fields: true } },
        },
      ],
    },
  };
}
