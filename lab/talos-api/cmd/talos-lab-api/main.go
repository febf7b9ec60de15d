// Command talos-lab-api is the lab's Talos API: the real talosctl talks to it exactly as to Talos
// nodes (Talos's own protobufs, mutual TLS, apid's proxying), while the lab daemon owns the state.
//
//	talos-lab-api pki --dir D --cluster NAME --talosconfig FILE --endpoints IP,IP \
//	    --kubernetes-endpoint URL --kubernetes-version V --talos-version V
//	talos-lab-api kube-ca --dir D
//	talos-lab-api serve --config FILE --control 127.0.0.1:PORT
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"talos-upgrade/lab/talos-api/internal/apid"
	"talos-upgrade/lab/talos-api/internal/cosi"
	"talos-upgrade/lab/talos-api/internal/daemon"
	"talos-upgrade/lab/talos-api/internal/machine"
	"talos-upgrade/lab/talos-api/internal/pki"
)

// Config lists the clusters and nodes one server answers for.
type Config struct {
	Kube     machine.Kube `json:"kube"`
	Clusters []struct {
		Name      string `json:"name"`
		DaemonURL string `json:"daemonUrl"`
		PKIDir    string `json:"pkiDir"`
		Nodes     []struct {
			IP   string    `json:"ip"`
			Name string    `json:"name"`
			Mode apid.Mode `json:"mode"`
		} `json:"nodes"`
	} `json:"clusters"`
}

func main() {
	log.SetFlags(log.LstdFlags | log.Lmicroseconds)
	if len(os.Args) < 2 {
		log.Fatal("usage: talos-lab-api pki|serve [flags]")
	}
	switch os.Args[1] {
	case "pki":
		runPKI(os.Args[2:])
	case "serve":
		runServe(os.Args[2:])
	case "kube-ca":
		runKubeCA(os.Args[2:])
	default:
		log.Fatalf("unknown command %q (pki, kube-ca, serve)", os.Args[1])
	}
}

func runPKI(args []string) {
	fs := flag.NewFlagSet("pki", flag.ExitOnError)
	dir := fs.String("dir", "", "directory for the cluster CA")
	cluster := fs.String("cluster", "", "cluster (talosconfig context) name")
	talosconfig := fs.String("talosconfig", "", "talosconfig file to write")
	endpoints := fs.String("endpoints", "", "comma-separated control-plane addresses")
	kubeEndpoint := fs.String("kubernetes-endpoint", "", "the cluster's Kubernetes API URL")
	kubeVersion := fs.String("kubernetes-version", "", "Kubernetes version of the configs")
	talosVersion := fs.String("talos-version", "", "Talos version contract of the configs")
	fs.Parse(args) //nolint:errcheck
	if *dir == "" || *cluster == "" || *talosconfig == "" || *endpoints == "" || *kubeEndpoint == "" ||
		*kubeVersion == "" || *talosVersion == "" {
		log.Fatal("pki needs --dir, --cluster, --talosconfig, --endpoints, --kubernetes-endpoint, --kubernetes-version and --talos-version")
	}
	err := pki.Generate(pki.Input{Dir: *dir, Cluster: *cluster, Talosconfig: *talosconfig,
		Endpoints: strings.Split(*endpoints, ","), KubernetesEndpoint: *kubeEndpoint,
		KubernetesVersion: *kubeVersion, TalosVersion: *talosVersion})
	if err != nil {
		log.Fatal(err)
	}
}

// runKubeCA writes the CA whose client certificates the lab's API server accepts.
func runKubeCA(args []string) {
	fs := flag.NewFlagSet("kube-ca", flag.ExitOnError)
	dir := fs.String("dir", "", "directory for client-ca.crt and client-ca.key")
	fs.Parse(args) //nolint:errcheck
	if *dir == "" {
		log.Fatal("kube-ca needs --dir")
	}
	if err := pki.KubeClientCA(*dir); err != nil {
		log.Fatal(err)
	}
}

func runServe(args []string) {
	fs := flag.NewFlagSet("serve", flag.ExitOnError)
	configFile := fs.String("config", "", "JSON file listing clusters and nodes")
	control := fs.String("control", "127.0.0.1:0", "loopback address of the control endpoint")
	fs.Parse(args) //nolint:errcheck
	raw, err := os.ReadFile(*configFile)
	if err != nil {
		log.Fatal(err)
	}
	var cfg Config
	if err = json.Unmarshal(raw, &cfg); err != nil {
		log.Fatalf("%s: %v", *configFile, err)
	}
	machine.KubeAPI = cfg.Kube
	lab := apid.NewLab()
	machine.Register(lab)
	cosi.Register(lab)
	for _, c := range cfg.Clusters {
		ca, err := pki.LoadCA(c.PKIDir)
		if err != nil {
			log.Fatal(err)
		}
		cluster := &apid.Cluster{Name: c.Name, CA: ca, Daemon: daemon.New(c.DaemonURL)}
		for _, n := range c.Nodes {
			if err = lab.AddNode(cluster, n.IP, n.Name); err != nil {
				log.Fatal(err)
			}
			if err = lab.SetMode(n.IP, n.Mode, n.Mode == apid.Running); err != nil {
				log.Fatal(err)
			}
		}
	}
	lab.Serve()
	lis, err := net.Listen("tcp", *control)
	if err != nil {
		log.Fatal(err)
	}
	go serveControl(lab, lis)
	// For a person reading the log; the daemon polls /healthz.
	fmt.Printf("ready control=%s\n", lis.Addr())
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	<-stop
	lab.Stop()
}

// serveControl lets the daemon switch a node's API as its VM powers off, reboots or boots.
func serveControl(lab *apid.Lab, lis net.Listener) {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /mode", func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			IP    string    `json:"ip"`
			Mode  apid.Mode `json:"mode"`
			Ready bool      `json:"ready"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if err := lab.SetMode(body.IP, body.Mode, body.Ready); err != nil {
			http.Error(w, err.Error(), http.StatusConflict)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	log.Fatal(http.Serve(lis, mux)) //nolint:gosec
}
