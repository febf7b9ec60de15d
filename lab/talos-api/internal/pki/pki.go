// Package pki issues the lab's Talos secrets the way `talosctl gen config` does: one secrets bundle
// per cluster, its machine configs, an admin client certificate (organization os:admin) in a
// talosconfig, and server certificates for apid whose SANs are the nodes' addresses.
package pki

import (
	stdx509 "crypto/x509"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/siderolabs/crypto/x509"
	clientconfig "github.com/siderolabs/talos/pkg/machinery/client/config"
	"github.com/siderolabs/talos/pkg/machinery/config"
	"github.com/siderolabs/talos/pkg/machinery/config/encoder"
	"github.com/siderolabs/talos/pkg/machinery/config/generate"
	"github.com/siderolabs/talos/pkg/machinery/config/generate/secrets"
	"github.com/siderolabs/talos/pkg/machinery/config/machine"
	"github.com/siderolabs/talos/pkg/machinery/role"
)

const (
	caCertFile = "ca.crt"
	caKeyFile  = "ca.key"
	validity   = 10 * 365 * 24 * time.Hour
)

// Input is what `talosctl gen config` would be given for one lab cluster.
type Input struct {
	Dir                string // where the CA and the machine configs go
	Cluster            string
	KubernetesEndpoint string
	KubernetesVersion  string
	TalosVersion       string // the version contract of the generated configs
	Talosconfig        string
	Endpoints          []string
}

// Generate creates a cluster's secrets bundle the way `talosctl gen config` does, and from it the
// controlplane and worker machine configs, the Talos CA the lab's apid serves with, and an admin
// talosconfig. All of it stays in the lab directory: these are the lab cluster's secrets.
func Generate(in Input) error {
	contract, err := config.ParseContractFromVersion(in.TalosVersion)
	if err != nil {
		return err
	}
	bundle, err := secrets.NewBundle(secrets.NewClock(), contract)
	if err != nil {
		return fmt.Errorf("creating the secrets bundle: %w", err)
	}
	if err = os.MkdirAll(in.Dir, 0o700); err != nil {
		return err
	}
	if err = os.WriteFile(filepath.Join(in.Dir, caCertFile), bundle.Certs.OS.Crt, 0o600); err != nil {
		return err
	}
	if err = os.WriteFile(filepath.Join(in.Dir, caKeyFile), bundle.Certs.OS.Key, 0o600); err != nil {
		return err
	}
	input, err := generate.NewInput(in.Cluster, in.KubernetesEndpoint, in.KubernetesVersion,
		generate.WithSecretsBundle(bundle), generate.WithVersionContract(contract),
		generate.WithEndpointList(in.Endpoints), generate.WithInstallDisk("/dev/sda"))
	if err != nil {
		return err
	}
	for _, t := range []machine.Type{machine.TypeControlPlane, machine.TypeWorker} {
		cfg, err := input.Config(t)
		if err != nil {
			return fmt.Errorf("generating the %s config: %w", t, err)
		}
		text, err := cfg.EncodeBytes(encoder.WithComments(encoder.CommentsDisabled))
		if err != nil {
			return err
		}
		if err = os.WriteFile(filepath.Join(in.Dir, t.String()+".yaml"), text, 0o600); err != nil {
			return err
		}
	}
	admin, err := bundle.GenerateTalosAPIClientCertificate(role.MakeSet(role.Admin))
	if err != nil {
		return fmt.Errorf("creating the admin certificate: %w", err)
	}
	cfg := clientconfig.NewConfig(in.Cluster, in.Endpoints, bundle.Certs.OS.Crt, admin)
	cfg.Contexts[in.Cluster].Nodes = in.Endpoints[:1]
	return cfg.Save(in.Talosconfig)
}

// CA is one cluster's CA as the server uses it.
type CA struct {
	Pool *stdx509.CertPool
	ca   *x509.CertificateAuthority
}

// LoadCA reads the CA that Generate wrote into dir.
func LoadCA(dir string) (*CA, error) {
	pair, err := x509.NewCertificateAndKeyFromFiles(filepath.Join(dir, caCertFile), filepath.Join(dir, caKeyFile))
	if err != nil {
		return nil, fmt.Errorf("reading the lab CA in %s: %w", dir, err)
	}
	ca, err := x509.NewCertificateAuthorityFromCertificateAndKey(pair)
	if err != nil {
		return nil, err
	}
	pool := stdx509.NewCertPool()
	pool.AddCert(ca.Crt)
	return &CA{Pool: pool, ca: ca}, nil
}

// ServerCertificate issues apid's serving certificate for one node's address.
func (c *CA) ServerCertificate(ip net.IP, hostname string) (*x509.PEMEncodedCertificateAndKey, error) {
	pair, err := x509.NewKeyPair(c.ca,
		x509.CommonName(hostname),
		x509.IPAddresses([]net.IP{ip}),
		x509.DNSNames([]string{hostname}),
		x509.NotAfter(time.Now().Add(validity)),
		x509.KeyUsage(stdx509.KeyUsageDigitalSignature),
		x509.ExtKeyUsage([]stdx509.ExtKeyUsage{stdx509.ExtKeyUsageServerAuth}),
	)
	if err != nil {
		return nil, err
	}
	return x509.NewCertificateAndKeyFromKeyPair(pair), nil
}

// SelfSigned is the certificate a node in maintenance mode serves: no CA vouches for it yet.
func SelfSigned(ip net.IP) (*x509.PEMEncodedCertificateAndKey, error) {
	ca, err := x509.NewSelfSignedCertificateAuthority(x509.IPAddresses([]net.IP{ip}), x509.NotAfter(time.Now().Add(validity)))
	if err != nil {
		return nil, err
	}
	return x509.NewCertificateAndKeyFromCertificateAuthority(ca), nil
}

// KubeClientCA writes a CA for the lab's Kubernetes API server's client certificates (the
// kubeconfigs that the Kubeconfig call mints for talosctl).
func KubeClientCA(dir string) error {
	ca, err := secrets.NewKubernetesCA(time.Now(), config.TalosVersionCurrent)
	if err != nil {
		return err
	}
	if err = os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if err = os.WriteFile(filepath.Join(dir, "client-ca.crt"), ca.CrtPEM, 0o600); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "client-ca.key"), ca.KeyPEM, 0o600)
}
