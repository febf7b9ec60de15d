package machine

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	stdx509 "crypto/x509"
	"fmt"
	"os"
	"time"

	"github.com/siderolabs/crypto/x509"
	"github.com/siderolabs/talos/pkg/machinery/api/common"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/emptypb"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Kube is the lab's Kubernetes API server, as the Kubeconfig call hands it out.
type Kube struct {
	Server       string `json:"server"`
	CAFile       string `json:"caFile"`
	ClientCACert string `json:"clientCaCert"`
	ClientCAKey  string `json:"clientCaKey"`
}

// KubeAPI is set by the server's config: where the lab's API server is and how to sign for it.
var KubeAPI Kube

// adminKubeconfig mints a kubeconfig with a fresh system:masters client certificate, as machined
// does for `talosctl kubeconfig` (the CA and key pair as data, which upgrade-k8s requires).
func adminKubeconfig(cluster string) ([]byte, error) {
	if KubeAPI.Server == "" {
		return nil, fmt.Errorf("the lab gave this server no Kubernetes API")
	}
	serverCA, err := os.ReadFile(KubeAPI.CAFile)
	if err != nil {
		return nil, err
	}
	pair, err := x509.NewCertificateAndKeyFromFiles(KubeAPI.ClientCACert, KubeAPI.ClientCAKey)
	if err != nil {
		return nil, err
	}
	ca, err := x509.NewCertificateAuthorityFromCertificateAndKey(pair)
	if err != nil {
		return nil, err
	}
	client, err := x509.NewKeyPair(ca, x509.CommonName("admin"), x509.Organization("system:masters"),
		x509.NotAfter(time.Now().Add(365*24*time.Hour)),
		x509.KeyUsage(stdx509.KeyUsageDigitalSignature|stdx509.KeyUsageKeyEncipherment),
		x509.ExtKeyUsage([]stdx509.ExtKeyUsage{stdx509.ExtKeyUsageClientAuth}))
	if err != nil {
		return nil, err
	}
	context := "admin@" + cluster
	// The structure of pkg/kubeconfig/generate.go (v1.11.3 to v1.14.1), namespace "default" included:
	// talosctl 1.14 refuses any other before it uses it (pkg/kubeconfig/validate.go, v1.14.1).
	cfg := clientcmdapi.Config{
		APIVersion:     "v1",
		Kind:           "Config",
		Clusters:       map[string]*clientcmdapi.Cluster{cluster: {Server: KubeAPI.Server, CertificateAuthorityData: serverCA}},
		AuthInfos:      map[string]*clientcmdapi.AuthInfo{context: {ClientCertificateData: client.CrtPEM, ClientKeyData: client.KeyPEM}},
		Contexts:       map[string]*clientcmdapi.Context{context: {Cluster: cluster, Namespace: "default", AuthInfo: context}},
		CurrentContext: context,
	}
	return clientcmd.Write(cfg)
}

// Kubeconfig streams the admin kubeconfig as machined does: a gzipped tar holding one file.
func (s *Service) Kubeconfig(_ *emptypb.Empty, srv grpc.ServerStreamingServer[common.Data]) error {
	n, md, err := streamTarget(srv.Context(), s.lab)
	if err != nil {
		return err
	}
	text, err := adminKubeconfig(n.Cluster.Name)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	if err = tw.WriteHeader(&tar.Header{Name: "kubeconfig", Mode: 0o600, Size: int64(len(text)), ModTime: time.Now()}); err != nil {
		return err
	}
	if _, err = tw.Write(text); err != nil {
		return err
	}
	if err = tw.Close(); err != nil {
		return err
	}
	if err = gz.Close(); err != nil {
		return err
	}
	return sendChunks(&buf, md, srv.Send)
}
