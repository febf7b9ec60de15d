package cosi

import (
	"context"
	"fmt"
	"net/netip"
	"reflect"
	"strings"

	"github.com/cosi-project/runtime/pkg/state"
	talosconfig "github.com/siderolabs/talos/pkg/machinery/config"
	"github.com/siderolabs/talos/pkg/machinery/resources/k8s"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// BootstrapManifest is one Manifest resource a controller renders: an ID and its objects.
type BootstrapManifest struct {
	ID      string
	Objects []map[string]any
}

// addonDefaults are the add-on images a Talos minor release renders when the config names none
// (pkg/machinery/constants/constants.go: DefaultCoreDNSVersion and FlannelVersion at v1.11.3,
// v1.12.5, v1.13.8 and v1.14.1, L409 and L1332). The lab's server links one machinery, so the older
// ones are kept here.
var addonDefaults = map[string]struct{ coreDNS, flannel string }{
	"1.11": {"registry.k8s.io/coredns/coredns:v1.12.4", "ghcr.io/siderolabs/flannel:v0.27.4"},
	"1.12": {"registry.k8s.io/coredns/coredns:v1.13.2", "ghcr.io/siderolabs/flannel:v0.27.4"},
	"1.13": {"registry.k8s.io/coredns/coredns:v1.14.6", "ghcr.io/siderolabs/flannel:v0.28.8"},
	"1.14": {"registry.k8s.io/coredns/coredns:v1.14.7", "ghcr.io/siderolabs/flannel:v0.28.9"},
}

func minorOf(version string) string {
	parts := strings.SplitN(strings.TrimPrefix(version, "v"), ".", 3)
	if len(parts) < 2 {
		return version
	}
	return parts[0] + "." + parts[1]
}

// RenderBootstrapManifests is what machined's ManifestController renders on a control plane node
// (internal/app/machined/pkg/controllers/k8s/manifest.go, v1.13.8; the same IDs and switches at v1.11.3
// and v1.12.5): the node bootstrap token and CSR bindings always, flannel when it is the config's CNI,
// kube-proxy unless disabled, CoreDNS unless disabled. The objects are the lab's own, smaller than
// Talos's templates, but with the names, namespaces, images and workload kinds that upgrade-k8s syncs
// and waits for. A worker renders nothing.
func RenderBootstrapManifests(cfg talosconfig.Provider, talosVersion string) ([]BootstrapManifest, error) {
	if cfg.Machine() == nil || !cfg.Machine().Type().IsControlPlane() || cfg.Cluster() == nil {
		return nil, nil
	}
	// Machinery 1.14 reads the Kubernetes settings through the K8s* accessors, from a Kube*Config
	// document or, as every config the lab writes has them, the v1alpha1 cluster section
	// (config/types/v1alpha1/v1alpha1_k8s_bridge.go, v1.14.1).
	cluster := cfg.Cluster()
	endpoint, network := cfg.K8sClusterConfig(), cfg.K8sNetworkConfig()
	if endpoint == nil || network == nil {
		return nil, fmt.Errorf("the config names no cluster endpoint or network")
	}
	defaults, ok := addonDefaults[minorOf(talosVersion)]
	if !ok {
		defaults = addonDefaults["1.14"]
	}
	token := cluster.Token()
	manifests := []struct {
		id      string
		objects []runtime.Object
	}{
		{"00-kubelet-bootstrapping-token", []runtime.Object{bootstrapTokenSecret(token.ID(), token.Secret())}},
		{"01-csr-node-bootstrap", []runtime.Object{groupBinding("system-bootstrap-node-bootstrapper", "system:node-bootstrapper", "system:bootstrappers:nodes")}},
		{"01-csr-approver-role-binding", []runtime.Object{groupBinding("system-bootstrap-approve-node-client-csr", "system:certificates.k8s.io:certificatesigningrequests:nodeclient", "system:bootstrappers:nodes")}},
		{"01-csr-renewal-role-binding", []runtime.Object{groupBinding("system-bootstrap-node-renewal", "system:certificates.k8s.io:certificatesigningrequests:selfnodeclient", "system:nodes")}},
		{"11-kube-config-in-cluster", []runtime.Object{inClusterKubeconfig(endpoint.ClusterEndpoint().String())}},
		{"11-talos-node-rbac-template", []runtime.Object{
			groupBinding("system:talos-nodes", "system:talos-nodes", "system:nodes"),
			clusterRole("system:talos-nodes", rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"nodes"}, Verbs: []string{"get", "list", "watch"}}),
		}},
	}
	if coreDNS := cfg.K8sCoreDNSConfig(); coreDNS != nil && coreDNS.Enabled() {
		image := defaults.coreDNS
		if raw := cfg.RawV1Alpha1(); raw != nil && raw.ClusterConfig.CoreDNSConfig != nil && raw.ClusterConfig.CoreDNSConfig.CoreDNSImage != "" {
			image = raw.ClusterConfig.CoreDNSConfig.CoreDNSImage
		}
		dnsIP, err := dnsServiceIP(network.ServiceCIDRs())
		if err != nil {
			return nil, err
		}
		manifests = append(manifests,
			struct {
				id      string
				objects []runtime.Object
			}{"11-core-dns", []runtime.Object{
				serviceAccount("coredns"),
				clusterRole("system:coredns", rbacv1.PolicyRule{APIGroups: []string{"", "discovery.k8s.io"}, Resources: []string{"endpoints", "services", "pods", "namespaces", "endpointslices"}, Verbs: []string{"list", "watch"}}),
				serviceAccountBinding("system:coredns", "system:coredns", "coredns"),
				configMap("coredns", map[string]string{"Corefile": corefile(network.DNSDomain())}),
				coreDNSDeployment(image),
			}},
			struct {
				id      string
				objects []runtime.Object
			}{"11-core-dns-svc", []runtime.Object{dnsService(dnsIP)}},
		)
	}
	if cfg.K8sFlannelCNIConfig() != nil {
		manifests = append(manifests, struct {
			id      string
			objects []runtime.Object
		}{"05-flannel", []runtime.Object{
			clusterRole("flannel", rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"nodes", "nodes/status", "pods"}, Verbs: []string{"get", "list", "watch", "patch"}}),
			serviceAccountBinding("flannel", "flannel", "kube-flannel"),
			serviceAccount("kube-flannel"),
			configMap("kube-flannel-cfg", map[string]string{"net-conf.json": fmt.Sprintf(`{"Network": %q, "Backend": {"Type": "vxlan"}}`, joinPrefixes(network.PodCIDRs()))}),
			nodeAgent("kube-flannel", "kube-flannel", defaults.flannel),
		}})
	}
	if proxy := cfg.K8sProxyConfig(); proxy != nil && proxy.Enabled() {
		manifests = append(manifests, struct {
			id      string
			objects []runtime.Object
		}{"10-kube-proxy", []runtime.Object{
			nodeAgent("kube-proxy", "kube-proxy", proxy.Image()),
			serviceAccount("kube-proxy"),
			serviceAccountBinding("kube-proxy", "system:node-proxier", "kube-proxy"),
		}})
	}
	out := make([]BootstrapManifest, 0, len(manifests))
	for _, m := range manifests {
		rendered := BootstrapManifest{ID: m.id}
		for _, obj := range m.objects {
			// As Talos's Manifest adapter does: the unstructured form, without status.
			u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
			if err != nil {
				return nil, err
			}
			delete(u, "status")
			rendered.Objects = append(rendered.Objects, u)
		}
		out = append(out, rendered)
	}
	return out, nil
}

// dnsServiceIP is the tenth address of the first service CIDR, as Talos and kubeadm pick it.
func dnsServiceIP(cidrs []netip.Prefix) (string, error) {
	if len(cidrs) == 0 {
		return "", fmt.Errorf("the config names no service CIDR")
	}
	addr := cidrs[0].Masked().Addr()
	for range 10 {
		addr = addr.Next()
	}
	return addr.String(), nil
}

func joinPrefixes(prefixes []netip.Prefix) string {
	texts := make([]string, len(prefixes))
	for i, p := range prefixes {
		texts[i] = p.String()
	}
	return strings.Join(texts, ",")
}

func typeMeta(apiVersion, kind string) metav1.TypeMeta {
	return metav1.TypeMeta{APIVersion: apiVersion, Kind: kind}
}

func system(name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Namespace: "kube-system"}
}

func bootstrapTokenSecret(id, secret string) *corev1.Secret {
	return &corev1.Secret{
		TypeMeta:   typeMeta("v1", "Secret"),
		ObjectMeta: system("bootstrap-token-" + id),
		Type:       corev1.SecretTypeBootstrapToken,
		StringData: map[string]string{
			"token-id": id, "token-secret": secret,
			"usage-bootstrap-authentication": "true", "usage-bootstrap-signing": "true",
			"auth-extra-groups": "system:bootstrappers:nodes",
		},
	}
}

func clusterRole(name string, rule rbacv1.PolicyRule) *rbacv1.ClusterRole {
	return &rbacv1.ClusterRole{
		TypeMeta:   typeMeta("rbac.authorization.k8s.io/v1", "ClusterRole"),
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Rules:      []rbacv1.PolicyRule{rule},
	}
}

func binding(name, role string, subject rbacv1.Subject) *rbacv1.ClusterRoleBinding {
	return &rbacv1.ClusterRoleBinding{
		TypeMeta:   typeMeta("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"),
		ObjectMeta: metav1.ObjectMeta{Name: name},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: role},
		Subjects:   []rbacv1.Subject{subject},
	}
}

func groupBinding(name, role, group string) *rbacv1.ClusterRoleBinding {
	return binding(name, role, rbacv1.Subject{APIGroup: "rbac.authorization.k8s.io", Kind: "Group", Name: group})
}

func serviceAccountBinding(name, role, account string) *rbacv1.ClusterRoleBinding {
	return binding(name, role, rbacv1.Subject{Kind: "ServiceAccount", Name: account, Namespace: "kube-system"})
}

func serviceAccount(name string) *corev1.ServiceAccount {
	return &corev1.ServiceAccount{TypeMeta: typeMeta("v1", "ServiceAccount"), ObjectMeta: system(name)}
}

func configMap(name string, data map[string]string) *corev1.ConfigMap {
	return &corev1.ConfigMap{TypeMeta: typeMeta("v1", "ConfigMap"), ObjectMeta: system(name), Data: data}
}

func inClusterKubeconfig(endpoint string) *corev1.ConfigMap {
	return configMap("kubeconfig-in-cluster", map[string]string{"kubeconfig": fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
  - name: local
    cluster:
      server: %s
      certificate-authority: /var/run/secrets/kubernetes.io/serviceaccount/ca.crt
users:
  - name: service-account
    user:
      tokenFile: /var/run/secrets/kubernetes.io/serviceaccount/token
contexts:
  - context:
      cluster: local
      user: service-account
`, endpoint)})
}

func corefile(domain string) string {
	return fmt.Sprintf(`.:53 {
    errors
    health
    ready
    kubernetes %s in-addr.arpa ip6.arpa {
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
    }
    forward . /etc/resolv.conf
    cache 30
    reload
}
`, domain)
}

// podTemplate is one container of the image, run as the account.
func podTemplate(labels map[string]string, account, image string, spec corev1.PodSpec) corev1.PodTemplateSpec {
	spec.ServiceAccountName = account
	spec.Containers = []corev1.Container{{Name: labels["k8s-app"], Image: image}}
	return corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: spec}
}

// nodeAgent is a DaemonSet on every node, control planes and cordoned nodes too (kube-proxy, flannel).
func nodeAgent(name, account, image string) *appsv1.DaemonSet {
	labels := map[string]string{"k8s-app": name}
	return &appsv1.DaemonSet{
		TypeMeta:   typeMeta("apps/v1", "DaemonSet"),
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "kube-system", Labels: labels},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: podTemplate(labels, account, image, corev1.PodSpec{
				HostNetwork:       true,
				PriorityClassName: "system-node-critical",
				Tolerations:       []corev1.Toleration{{Operator: corev1.TolerationOpExists}},
			}),
			UpdateStrategy: appsv1.DaemonSetUpdateStrategy{Type: appsv1.RollingUpdateDaemonSetStrategyType},
		},
	}
}

func coreDNSDeployment(image string) *appsv1.Deployment {
	labels := map[string]string{"k8s-app": "kube-dns"}
	replicas := int32(2)
	maxUnavailable := intstr.FromInt32(1)
	deployment := &appsv1.Deployment{
		TypeMeta:   typeMeta("apps/v1", "Deployment"),
		ObjectMeta: metav1.ObjectMeta{Name: "coredns", Namespace: "kube-system", Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Strategy: appsv1.DeploymentStrategy{
				Type:          appsv1.RollingUpdateDeploymentStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDeployment{MaxUnavailable: &maxUnavailable},
			},
			Template: podTemplate(labels, "coredns", image, corev1.PodSpec{
				PriorityClassName: "system-cluster-critical",
				NodeSelector:      map[string]string{"kubernetes.io/os": "linux"},
				Tolerations: []corev1.Toleration{
					{Key: "node-role.kubernetes.io/control-plane", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
					{Key: "CriticalAddonsOnly", Operator: corev1.TolerationOpExists},
				},
			}),
		},
	}
	deployment.Spec.Template.Spec.Containers[0].Name = "coredns"
	return deployment
}

func dnsService(ip string) *corev1.Service {
	return &corev1.Service{
		TypeMeta:   typeMeta("v1", "Service"),
		ObjectMeta: metav1.ObjectMeta{Name: "kube-dns", Namespace: "kube-system", Labels: map[string]string{"k8s-app": "kube-dns"}},
		Spec: corev1.ServiceSpec{
			Selector:  map[string]string{"k8s-app": "kube-dns"},
			ClusterIP: ip,
			Ports: []corev1.ServicePort{
				{Name: "dns", Port: 53, Protocol: corev1.ProtocolUDP, TargetPort: intstr.FromInt32(53)},
				{Name: "dns-tcp", Port: 53, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(53)},
			},
		},
	}
}

// syncManifests makes the node's Manifest resources match what its config renders now, as the
// ManifestController does on every config change: a changed manifest gets a new version (talosctl
// upgrade-k8s reads them after it patched cluster.proxy.image), one no longer rendered goes.
func syncManifests(ctx context.Context, st state.State, cfg talosconfig.Provider, talosVersion string) error {
	rendered, err := RenderBootstrapManifests(cfg, talosVersion)
	if err != nil {
		return err
	}
	keep := map[string]bool{}
	for _, m := range rendered {
		keep[m.ID] = true
		items := make([]k8s.SingleManifest, 0, len(m.Objects))
		for _, obj := range m.Objects {
			items = append(items, k8s.SingleManifest{Object: obj})
		}
		res := k8s.NewManifest(k8s.ControlPlaneNamespaceName, m.ID)
		current, err := st.Get(ctx, res.Metadata())
		switch {
		case state.IsNotFoundError(err):
			res.TypedSpec().Items = items
			if err = st.Create(ctx, res); err != nil {
				return err
			}
		case err != nil:
			return err
		default:
			existing, ok := current.(*k8s.Manifest)
			if ok && reflect.DeepEqual(existing.TypedSpec().Items, items) {
				continue
			}
			updated := current.DeepCopy().(*k8s.Manifest) //nolint:forcetypeassert,errcheck
			updated.TypedSpec().Items = items
			if err = st.Update(ctx, updated); err != nil {
				return err
			}
		}
	}
	list, err := st.List(ctx, k8s.NewManifest(k8s.ControlPlaneNamespaceName, "").Metadata())
	if err != nil {
		return err
	}
	for _, r := range list.Items {
		if !keep[r.Metadata().ID()] {
			if err = st.Destroy(ctx, r.Metadata()); err != nil {
				return err
			}
		}
	}
	return nil
}
