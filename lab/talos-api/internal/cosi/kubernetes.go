package cosi

import (
	"context"
	"fmt"
	"log"
	"sync"
	"time"

	"github.com/cosi-project/runtime/pkg/resource"
	"github.com/cosi-project/runtime/pkg/state"
	"github.com/cosi-project/runtime/pkg/state/impl/inmem"
	"github.com/cosi-project/runtime/pkg/state/impl/namespaced"
	"github.com/cosi-project/runtime/pkg/state/protobuf/server"
	talosconfig "github.com/siderolabs/talos/pkg/machinery/config"
	"github.com/siderolabs/talos/pkg/machinery/config/configloader"
	"github.com/siderolabs/talos/pkg/machinery/resources/k8s"
	"github.com/siderolabs/talos/pkg/machinery/resources/v1alpha1"

	"talos-upgrade/lab/talos-api/internal/apid"
)

// kubeletRestart is how long the kubelet service is gone while it restarts on a new image.
const kubeletRestart = 500 * time.Millisecond

// kubernetesTypes are the resources machined's Kubernetes controllers keep from the machine config.
// They live from boot to reboot (not rebuilt per call), because `talosctl upgrade-k8s` watches them
// change after it applies a config.
var kubernetesTypes = map[resource.Type]bool{
	k8s.APIServerConfigType:         true,
	k8s.ControllerManagerConfigType: true,
	k8s.SchedulerConfigType:         true,
	k8s.KubeletSpecType:             true,
	k8s.ManifestType:                true,
	v1alpha1.ServiceType:            true,
}

// kubernetesState is one node's Kubernetes resources for one boot.
type kubernetesState struct {
	// mu serialises config changes, so each update sees the version the previous one left.
	mu       sync.Mutex
	boot     uint64
	version  string
	st       state.State
	srv      *server.State
	restarts int
}

type kubernetesStates struct {
	mu    sync.Mutex
	nodes map[*apid.Node]*kubernetesState
}

var kubeStates = &kubernetesStates{nodes: map[*apid.Node]*kubernetesState{}}

// images are what the controllers read from a machine config.
type images struct {
	apiServer, controllerManager, scheduler, kubelet string
}

// imagesOf reads them through machinery 1.14's K8s* accessors: a Kube*Config document's, else the
// v1alpha1 section's (config/container/container.go, v1.14.1). A worker has no control-plane ones.
func imagesOf(cfg talosconfig.Provider) images {
	var img images
	if c := cfg.K8sAPIServerConfig(); c != nil {
		img.apiServer = c.Image()
	}
	if c := cfg.K8sControllerManagerConfig(); c != nil {
		img.controllerManager = c.Image()
	}
	if c := cfg.K8sSchedulerConfig(); c != nil {
		img.scheduler = c.Image()
	}
	if c := cfg.K8sKubeletConfig(); c != nil {
		img.kubelet = c.Image()
	}
	return img
}

// The static pods' config resources as Talos 1.11 to 1.13 keep them: one per component, under the
// component's name (1.14 renders its pods from a "final-" prefixed copy).
func apiServerConfig() *k8s.APIServerConfig { return k8s.NewAPIServerConfig(k8s.APIServerConfigID) }
func controllerManagerConfig() *k8s.ControllerManagerConfig {
	return k8s.NewControllerManagerConfig(k8s.ControllerManagerConfigID)
}
func schedulerConfig() *k8s.SchedulerConfig { return k8s.NewSchedulerConfig(k8s.SchedulerConfigID) }

// get returns the node's Kubernetes resources of this boot, deriving them from machineConfig the
// first time they are asked for; versionOf tells the release the node runs this boot, asked only then.
func (k *kubernetesStates) get(ctx context.Context, n *apid.Node, boot uint64, machineConfig string, versionOf func() (string, error)) (*kubernetesState, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if ks, ok := k.nodes[n]; ok && ks.boot == boot {
		return ks, nil
	}
	talosVersion, err := versionOf()
	if err != nil {
		return nil, err
	}
	cfg, err := configloader.NewFromBytes([]byte(machineConfig))
	if err != nil {
		return nil, fmt.Errorf("the node's machine config does not load: %w", err)
	}
	st := state.WrapCore(namespaced.NewState(inmem.Build))
	img := imagesOf(cfg)
	var resources []resource.Resource
	if cfg.Machine().Type().IsControlPlane() {
		api := apiServerConfig()
		api.TypedSpec().Image = img.apiServer
		cm := controllerManagerConfig()
		cm.TypedSpec().Image = img.controllerManager
		sched := schedulerConfig()
		sched.TypedSpec().Image = img.scheduler
		resources = append(resources, api, cm, sched)
	}
	kubelet := k8s.NewKubeletSpec(k8s.NamespaceName, k8s.KubeletID)
	kubelet.TypedSpec().Image = img.kubelet
	service := v1alpha1.NewService("kubelet")
	service.TypedSpec().Running = true
	service.TypedSpec().Healthy = true
	resources = append(resources, kubelet, service)
	for _, r := range resources {
		if err = st.Create(ctx, r); err != nil {
			return nil, err
		}
	}
	if err = syncManifests(ctx, st, cfg, talosVersion); err != nil {
		return nil, fmt.Errorf("rendering the bootstrap manifests: %w", err)
	}
	ks := &kubernetesState{boot: boot, version: talosVersion, st: st, srv: server.NewState(st)}
	k.nodes[n] = ks
	return ks, nil
}

// ConfigApplied is what machined's controllers do after a machine config is applied without a
// reboot: a changed static pod image updates its config resource (a new version, which the lab daemon
// stamps on the mirror pod as talos.dev/config-version); a changed kubelet image restarts the kubelet;
// the bootstrap manifests are rendered again (a new kube-proxy image). previous is the config the node
// ran before, from which its resources are derived if nothing asked for them yet this boot.
func ConfigApplied(ctx context.Context, n *apid.Node, previous string, data []byte) error {
	ks, err := kubeStates.get(ctx, n, n.Boot(), previous, func() (string, error) {
		var snap Snapshot
		err := n.Cluster.Daemon.Call(ctx, "resources", map[string]string{"ip": n.IP}, &snap)
		return snap.TalosVersion, err
	})
	if err != nil {
		return err
	}
	ks.mu.Lock()
	defer ks.mu.Unlock()
	cfg, err := configloader.NewFromBytes(data)
	if err != nil {
		return err
	}
	if err = syncManifests(ctx, ks.st, cfg, ks.version); err != nil {
		return err
	}
	img := imagesOf(cfg)
	if cfg.Machine().Type().IsControlPlane() {
		for _, c := range []struct {
			ptr   resource.Pointer
			image string
		}{
			{apiServerConfig().Metadata(), img.apiServer},
			{controllerManagerConfig().Metadata(), img.controllerManager},
			{schedulerConfig().Metadata(), img.scheduler},
		} {
			if err = updateStaticPod(ctx, n, ks, c.ptr, c.image); err != nil {
				return err
			}
		}
	}
	return restartKubelet(ctx, n, ks, img.kubelet)
}

func specImage(r resource.Resource) *string {
	switch v := r.(type) {
	case *k8s.APIServerConfig:
		return &v.TypedSpec().Image
	case *k8s.ControllerManagerConfig:
		return &v.TypedSpec().Image
	case *k8s.SchedulerConfig:
		return &v.TypedSpec().Image
	case *k8s.KubeletSpec:
		return &v.TypedSpec().Image
	}
	return nil
}

func updateStaticPod(ctx context.Context, n *apid.Node, ks *kubernetesState, ptr resource.Pointer, image string) error {
	current, err := ks.st.Get(ctx, ptr)
	if err != nil {
		return err
	}
	if *specImage(current) == image {
		return nil
	}
	updated := current.DeepCopy()
	*specImage(updated) = image
	// COSI's Update takes the version it replaces and stores the next one.
	if err = ks.st.Update(ctx, updated); err != nil {
		return err
	}
	stored, err := ks.st.Get(ctx, ptr)
	if err != nil {
		return err
	}
	return n.Cluster.Daemon.Call(ctx, "static-pod", map[string]any{
		"ip": n.IP, "component": ptr.ID(), "image": image, "configVersion": stored.Metadata().Version().String(),
	}, nil)
}

func restartKubelet(ctx context.Context, n *apid.Node, ks *kubernetesState, image string) error {
	spec, err := ks.st.Get(ctx, k8s.NewKubeletSpec(k8s.NamespaceName, k8s.KubeletID).Metadata())
	if err != nil {
		return err
	}
	if *specImage(spec) == image {
		return nil
	}
	service := v1alpha1.NewService("kubelet")
	if err = ks.st.Destroy(ctx, service.Metadata()); err != nil && !state.IsNotFoundError(err) {
		return err
	}
	updated := spec.DeepCopy()
	*specImage(updated) = image
	if err = ks.st.Update(ctx, updated); err != nil {
		return err
	}
	ks.restarts++
	restart := ks.restarts
	go func() {
		// The kubelet comes back on its new image and reports its version to the API server. Only the
		// newest restart of this boot brings the service back; a watcher always sees it return.
		time.Sleep(kubeletRestart)
		if n.Boot() != ks.boot {
			return
		}
		ks.mu.Lock()
		defer ks.mu.Unlock()
		if restart != ks.restarts {
			return
		}
		bg, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		var reportErr error
		for range 3 {
			if reportErr = n.Cluster.Daemon.Call(bg, "kubelet", map[string]any{"ip": n.IP, "image": image}, nil); reportErr == nil {
				break
			}
			time.Sleep(time.Second)
		}
		if reportErr != nil {
			log.Printf("node %s: the lab daemon did not take the kubelet restart: %v", n.Name, reportErr)
		}
		service.TypedSpec().Running = true
		service.TypedSpec().Healthy = reportErr == nil
		if err := ks.st.Create(bg, service); err != nil {
			log.Printf("node %s: recreating the kubelet service: %v", n.Name, err)
		}
	}()
	return nil
}
