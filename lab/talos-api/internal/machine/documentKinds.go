package machine

import (
	"fmt"
	"regexp"
	"strings"

	"talos-upgrade/lab/talos-api/internal/version"
)

// kindsSince is the Talos minor whose machinery first registers each config document kind the lab's
// machinery (1.14.1) knows beyond 1.11's: the `registry.Register(...)` calls under
// pkg/machinery/config/types at v1.11.3, v1.12.5, v1.13.8 and v1.14.1. A kind not listed here is known
// to every version the lab plays. The product's table is the same (src/domain/configDocumentKinds.ts;
// test/domain/configDocumentKinds.test.ts keeps them equal).
var kindsSince = map[string][2]int{
	// v1.12.5: network/{bond,bridge,dhcp4,dhcp6,dummy,hcloud_vip,hostname,layer2_vip,link_alias,link,
	// resolver,static_host,time_sync,vlan,wireguard}.go, runtime/oom.go, cri/registry_{auth,mirror,tls}.go.
	"BondConfig": {1, 12}, "BridgeConfig": {1, 12}, "DHCPv4Config": {1, 12}, "DHCPv6Config": {1, 12},
	"DummyLinkConfig": {1, 12}, "HCloudVIPConfig": {1, 12}, "HostnameConfig": {1, 12},
	"Layer2VIPConfig": {1, 12}, "LinkAliasConfig": {1, 12}, "LinkConfig": {1, 12}, "OOMConfig": {1, 12},
	"RegistryAuthConfig": {1, 12}, "RegistryMirrorConfig": {1, 12}, "RegistryTLSConfig": {1, 12},
	"ResolverConfig": {1, 12}, "StaticHostConfig": {1, 12}, "TimeSyncConfig": {1, 12},
	"VLANConfig": {1, 12}, "WireguardConfig": {1, 12},
	// v1.13.8: network/{blackhole_route,routing_rule,tcp_probe,vrf,kubespan}.go, block/external_volume_config.go,
	// runtime/environment.go, security/image_verification.go.
	"BlackholeRouteConfig": {1, 13}, "EnvironmentConfig": {1, 13}, "ExternalVolumeConfig": {1, 13},
	"ImageVerificationConfig": {1, 13}, "KubeSpanConfig": {1, 13}, "RoutingRuleConfig": {1, 13},
	"TCPProbeConfig": {1, 13}, "VRFConfig": {1, 13},
	// v1.14.1: k8s/ (the Kube*Config documents that replace the v1alpha1 cluster section), and the rest of
	// block/, cluster/, container/, cri/, network/, runtime/ and storage/ that v1.13.8 does not register.
	"BGPInstanceConfig": {1, 14}, "CRIBaseRuntimeSpecConfig": {1, 14}, "CRICustomizationConfig": {1, 14},
	"ContainerConfig": {1, 14}, "DiscoveryIdentityConfig": {1, 14}, "DiscoveryServiceConfig": {1, 14},
	"EtcFileConfig": {1, 14}, "FilesystemScrubConfig": {1, 14}, "FilesystemTrimConfig": {1, 14},
	"HTTPProbeConfig": {1, 14}, "ImageCacheConfig": {1, 14}, "KernelModuleConfig": {1, 14},
	"KubeAPIServerCAConfig": {1, 14}, "KubeAPIServerConfig": {1, 14}, "KubeAdmissionControlConfig": {1, 14},
	"KubeAggregatorCAConfig": {1, 14}, "KubeAuditPolicyConfig": {1, 14}, "KubeAuthenticationConfig": {1, 14},
	"KubeAuthorizerConfig": {1, 14}, "KubeClusterConfig": {1, 14}, "KubeControllerManagerConfig": {1, 14},
	"KubeCoreDNSConfig": {1, 14}, "KubeCredentialProviderConfig": {1, 14},
	"KubeEtcdEncryptionConfig": {1, 14}, "KubeExternalManifestConfig": {1, 14},
	"KubeFlannelCNIConfig": {1, 14}, "KubeInlineManifestConfig": {1, 14}, "KubeNetworkConfig": {1, 14},
	"KubeNodeConfig": {1, 14}, "KubePrismConfig": {1, 14}, "KubeProxyConfig": {1, 14},
	"KubeSchedulerConfig": {1, 14}, "KubeServiceAccountConfig": {1, 14}, "KubeStaticPodConfig": {1, 14},
	"KubeTalosAPIAccessConfig": {1, 14}, "KubeletConfig": {1, 14}, "LVMLogicalVolumeConfig": {1, 14},
	"LVMVolumeGroupConfig": {1, 14}, "RAIDArrayConfig": {1, 14}, "SecurityProfileConfig": {1, 14},
	"SysctlConfig": {1, 14}, "SysfsConfig": {1, 14}, "UdevRulesConfig": {1, 14},
	"UnattendedInstallConfig": {1, 14}, "VethConfig": {1, 14},
}

// unregisteredKind is the decoder's error for the first document a node of talosVersion does not
// know: its machinery has no such kind, and configloader.NewFromBytes fails with the registry's
// ErrNotRegistered (pkg/machinery/config/internal/registry/registry.go:79 at v1.11.3 and v1.12.5),
// which the decoder returns as it is on 1.11 (configloader/internal/decoder/decoder.go:117-118 at
// v1.11.3) and names the document on 1.12 and later (decoder.go:131-132 at v1.12.5: api version,
// kind, name and the line its node starts on). Empty when the node knows every document.
func unregisteredKind(data []byte, talosVersion string) string {
	for _, doc := range rawDocuments(data) {
		since, ok := kindsSince[doc.kind]
		if !ok || version.AtLeast(talosVersion, since[0], since[1]) {
			continue
		}
		err := fmt.Sprintf("%q %q: not registered", doc.kind, doc.apiVersion)
		if !version.AtLeast(talosVersion, 1, 12) {
			return err
		}
		return fmt.Sprintf("error decoding document %s/%s/%s (line %d): %s", doc.apiVersion, doc.kind, doc.name, doc.line, err)
	}
	return ""
}

// rawDocument is what the decoder names a document by: its top-level apiVersion, kind and name, and
// the line its mapping starts on.
type rawDocument struct {
	apiVersion, kind, name string
	line                   int
}

var topLevelKey = regexp.MustCompile(`^(apiVersion|kind|name):\s*["']?([^"'#\s]*)`)

// rawDocuments reads the documents' top-level keys line by line (the configs the lab is sent are
// block YAML, as talosctl writes them): enough to name a document as the decoder does.
func rawDocuments(data []byte) []rawDocument {
	var docs []rawDocument
	current := rawDocument{}
	for i, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "---") {
			if current.line != 0 {
				docs = append(docs, current)
			}
			current = rawDocument{}
			continue
		}
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue
		}
		if current.line == 0 {
			current.line = i + 1
		}
		if m := topLevelKey.FindStringSubmatch(line); m != nil {
			switch m[1] {
			case "apiVersion":
				current.apiVersion = m[2]
			case "kind":
				current.kind = m[2]
			case "name":
				current.name = m[2]
			}
		}
	}
	if current.line != 0 {
		docs = append(docs, current)
	}
	return docs
}
