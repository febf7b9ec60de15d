import { compareMinors, minorOf } from './version.js';

/**
 * The Talos minor whose machinery first registers each machine config document kind that 1.11's does
 * not: the `registry.Register(...)` calls under pkg/machinery/config/types at v1.11.3, v1.12.5,
 * v1.13.8 and v1.14.1. A Talos that predates a kind cannot decode a config holding it: its config loader
 * fails with `"<kind>" "v1alpha1": not registered`, and the config is not applied. The lab's nodes play
 * the same table (lab/talos-api/internal/machine/documentKinds.go; a test keeps the two equal).
 */
export const KIND_SINCE: Readonly<Record<string, string>> = {
  ...Object.fromEntries(
    [
      'BondConfig',
      'BridgeConfig',
      'DHCPv4Config',
      'DHCPv6Config',
      'DummyLinkConfig',
      'HCloudVIPConfig',
      'HostnameConfig',
      'Layer2VIPConfig',
      'LinkAliasConfig',
      'LinkConfig',
      'OOMConfig',
      'RegistryAuthConfig',
      'RegistryMirrorConfig',
      'RegistryTLSConfig',
      'ResolverConfig',
      'StaticHostConfig',
      'TimeSyncConfig',
      'VLANConfig',
      'WireguardConfig',
    ].map((kind) => [kind, '1.12']),
  ),
  ...Object.fromEntries(
    [
      'BlackholeRouteConfig',
      'EnvironmentConfig',
      'ExternalVolumeConfig',
      'ImageVerificationConfig',
      'KubeSpanConfig',
      'RoutingRuleConfig',
      'TCPProbeConfig',
      'VRFConfig',
    ].map((kind) => [kind, '1.13']),
  ),
  // v1.14.1: the Kube*Config documents that replace the v1alpha1 cluster section, and the rest of
  // block/, cluster/, container/, cri/, network/, runtime/ and storage/ that 1.13.8 does not register.
  ...Object.fromEntries(
    [
      'BGPInstanceConfig',
      'CRIBaseRuntimeSpecConfig',
      'CRICustomizationConfig',
      'ContainerConfig',
      'DiscoveryIdentityConfig',
      'DiscoveryServiceConfig',
      'EtcFileConfig',
      'FilesystemScrubConfig',
      'FilesystemTrimConfig',
      'HTTPProbeConfig',
      'ImageCacheConfig',
      'KernelModuleConfig',
      'KubeAPIServerCAConfig',
      'KubeAPIServerConfig',
      'KubeAdmissionControlConfig',
      'KubeAggregatorCAConfig',
      'KubeAuditPolicyConfig',
      'KubeAuthenticationConfig',
      'KubeAuthorizerConfig',
      'KubeClusterConfig',
      'KubeControllerManagerConfig',
      'KubeCoreDNSConfig',
      'KubeCredentialProviderConfig',
      'KubeEtcdEncryptionConfig',
      'KubeExternalManifestConfig',
      'KubeFlannelCNIConfig',
      'KubeInlineManifestConfig',
      'KubeNetworkConfig',
      'KubeNodeConfig',
      'KubePrismConfig',
      'KubeProxyConfig',
      'KubeSchedulerConfig',
      'KubeServiceAccountConfig',
      'KubeStaticPodConfig',
      'KubeTalosAPIAccessConfig',
      'KubeletConfig',
      'LVMLogicalVolumeConfig',
      'LVMVolumeGroupConfig',
      'RAIDArrayConfig',
      'SecurityProfileConfig',
      'SysctlConfig',
      'SysfsConfig',
      'UdevRulesConfig',
      'UnattendedInstallConfig',
      'VethConfig',
    ].map((kind) => [kind, '1.14']),
  ),
};

export interface UnknownDocument {
  kind: string;
  apiVersion: string;
  /** The first Talos minor that knows it. */
  since: string;
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * The documents of a machine config (or of a patch, which may add documents) that Talos `version`
 * cannot decode, each kind once. Kinds newer than the table (a later Talos's) are not judged here:
 * the client that validates the config does not know them either.
 */
export function documentsUnknownTo(version: string, documents: readonly unknown[]): UnknownDocument[] {
  const minor = minorOf(version);
  const found = new Map<string, UnknownDocument>();
  for (const doc of documents) {
    if (!isObject(doc) || typeof doc.kind !== 'string') continue;
    const since = KIND_SINCE[doc.kind];
    const apiVersion = typeof doc.apiVersion === 'string' ? doc.apiVersion : '';
    if (since && compareMinors(minor, since) < 0 && !found.has(doc.kind))
      found.set(doc.kind, { kind: doc.kind, apiVersion, since });
  }
  return [...found.values()];
}

/** "VLANConfig (Talos 1.12 and later), …" for a refusal. */
export function describeUnknownDocuments(unknown: readonly UnknownDocument[]): string {
  return unknown.map((u) => `${u.kind} (Talos ${u.since} and later)`).join(', ');
}
