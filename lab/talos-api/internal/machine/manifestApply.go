package machine

import (
	"context"
	"errors"
	"fmt"
	"log"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/siderolabs/go-kubernetes/kubernetes/ssa"
	"github.com/siderolabs/go-kubernetes/kubernetes/ssa/object"
	"github.com/siderolabs/talos/pkg/machinery/config/configloader"
	"github.com/siderolabs/talos/pkg/machinery/constants"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"talos-upgrade/lab/talos-api/internal/apid"
	"talos-upgrade/lab/talos-api/internal/cosi"
)

// applyLocks stands for the etcd mutex Talos's controllers take before they apply
// (constants.EtcdTalosManifestApplyMutex): one controller of a cluster applies at a time.
var applyLocks sync.Map // *apid.Cluster → *sync.Mutex

// kinds are the REST resources of the objects the lab renders (a discovery mapper in Talos).
var kinds = map[string]struct {
	gvr        schema.GroupVersionResource
	namespaced bool
}{
	"Secret":             {schema.GroupVersionResource{Version: "v1", Resource: "secrets"}, true},
	"ServiceAccount":     {schema.GroupVersionResource{Version: "v1", Resource: "serviceaccounts"}, true},
	"ConfigMap":          {schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}, true},
	"Service":            {schema.GroupVersionResource{Version: "v1", Resource: "services"}, true},
	"DaemonSet":          {schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "daemonsets"}, true},
	"Deployment":         {schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}, true},
	"ClusterRole":        {schema.GroupVersionResource{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "clusterroles"}, false},
	"ClusterRoleBinding": {schema.GroupVersionResource{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "clusterrolebindings"}, false},
}

// usesSSA: from 1.13 the controller applies server-side with an inventory (manifest_apply.go at
// v1.13.8); before, it creates (v1.11.3 and v1.12.5).
func usesSSA(talosVersion string) bool {
	parts := strings.SplitN(strings.TrimPrefix(talosVersion, "v"), ".", 3)
	if len(parts) < 2 {
		return true
	}
	major, _ := strconv.Atoi(parts[0]) //nolint:errcheck
	minor, _ := strconv.Atoi(parts[1]) //nolint:errcheck
	return major > 1 || minor >= 13
}

// applyBootstrapManifests plays machined's ManifestApplyController on a control plane node that
// booted (internal/app/machined/pkg/controllers/k8s/manifest_apply.go at v1.11.3, v1.12.5, v1.13.8):
// it creates the rendered objects the API server lacks and leaves every existing one as it is, so an
// add-on changes only through `talosctl upgrade-k8s`. It retries until it succeeds or the boot ends.
// Talos also waits for its etcd to be healthy; the lab's etcd lives in the daemon and is not asked.
func applyBootstrapManifests(n *apid.Node, boot uint64) {
	for attempt := 0; n.Boot() == boot; attempt++ {
		if attempt > 0 {
			time.Sleep(2 * time.Second)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		done, err := applyOnce(ctx, n)
		cancel()
		if done {
			return
		}
		if attempt%15 == 1 {
			log.Printf("node %s: bootstrap manifests not applied yet: %v", n.Name, err)
		}
	}
}

func applyOnce(ctx context.Context, n *apid.Node) (bool, error) {
	var snap cosi.Snapshot
	if err := n.Cluster.Daemon.Call(ctx, "resources", map[string]string{"ip": n.IP}, &snap); err != nil {
		return false, err
	}
	if snap.MachineConfig == "" {
		return true, nil
	}
	cfg, err := configloader.NewFromBytes([]byte(snap.MachineConfig))
	if err == nil {
		var rendered []cosi.BootstrapManifest
		if rendered, err = cosi.RenderBootstrapManifests(cfg, snap.TalosVersion); err == nil {
			return applyRendered(ctx, n, rendered, snap.TalosVersion)
		}
	}
	// A config that does not load or render will not at the next try either: said once, in the log.
	log.Printf("node %s: no bootstrap manifests this boot: %v", n.Name, err)
	return true, err
}

func applyRendered(ctx context.Context, n *apid.Node, rendered []cosi.BootstrapManifest, talosVersion string) (bool, error) {
	if len(rendered) == 0 {
		return true, nil
	}
	lock, _ := applyLocks.LoadOrStore(n.Cluster, &sync.Mutex{})
	lock.(*sync.Mutex).Lock() //nolint:forcetypeassert
	defer lock.(*sync.Mutex).Unlock()
	created, present, err := createMissing(ctx, n.Cluster.Name, rendered, usesSSA(talosVersion))
	if err != nil {
		return false, err
	}
	report := map[string]any{"ip": n.IP, "created": created, "present": present}
	if err = n.Cluster.Daemon.Call(ctx, "manifests-applied", report, nil); err != nil {
		return false, err
	}
	return true, nil
}

// createMissing creates each object the API server does not hold: with SSA, field manager `talos`,
// the inventory annotation and the inventory ConfigMap updated (1.13: an object the inventory holds
// is not looked at again, so one a user deleted stays deleted; the inventory is written even when an
// apply failed); else a create by `talos`, which re-creates a deleted one at the next boot.
func createMissing(ctx context.Context, cluster string, rendered []cosi.BootstrapManifest, withSSA bool) (created []string, present int, err error) {
	text, err := adminKubeconfig(cluster)
	if err != nil {
		return nil, 0, err
	}
	rest, err := clientcmd.RESTConfigFromKubeConfig(text)
	if err != nil {
		return nil, 0, err
	}
	dyn, err := dynamic.NewForConfig(rest)
	if err != nil {
		return nil, 0, err
	}
	var inv ssa.Inventory
	var owned object.ObjMetadataSet
	if withSSA {
		clientset, err := kubernetes.NewForConfig(rest)
		if err != nil {
			return nil, 0, err
		}
		if inv, err = ssa.GetInventory(ctx, clientset, constants.KubernetesInventoryNamespace, constants.KubernetesBootstrapManifestsInventoryName); err != nil {
			return nil, 0, fmt.Errorf("error getting inventory: %w", err)
		}
		owned = inv.Get()
	}
	for _, m := range rendered {
		for _, raw := range m.Objects {
			obj := &unstructured.Unstructured{Object: raw}
			kind, ok := kinds[obj.GetKind()]
			if !ok {
				return nil, 0, fmt.Errorf("manifest %s: the lab maps no %s", m.ID, obj.GetKind())
			}
			client := dyn.Resource(kind.gvr).Namespace(obj.GetNamespace())
			if !kind.namespaced {
				client = dyn.Resource(kind.gvr)
			}
			meta, err := object.RuntimeToObjMeta(obj)
			if err != nil {
				return nil, 0, err
			}
			if withSSA && owned.Contains(meta) {
				present++
				continue
			}
			if _, err = client.Get(ctx, obj.GetName(), metav1.GetOptions{}); err == nil {
				present++
				if withSSA {
					owned = owned.Union(object.ObjMetadataSet{meta})
				}
				continue
			} else if !apierrors.IsNotFound(err) {
				return nil, 0, err
			}
			if withSSA {
				obj = obj.DeepCopy()
				annotations := obj.GetAnnotations()
				if annotations == nil {
					annotations = map[string]string{}
				}
				annotations[ssa.InventoryAnnotationKey] = constants.KubernetesBootstrapManifestsInventoryName
				obj.SetAnnotations(annotations)
				_, err = client.Apply(ctx, obj.GetName(), obj, metav1.ApplyOptions{FieldManager: constants.KubernetesFieldManagerName})
				owned = owned.Union(object.ObjMetadataSet{meta})
			} else {
				_, err = client.Create(ctx, obj, metav1.CreateOptions{FieldManager: constants.KubernetesFieldManagerName})
			}
			if err != nil {
				failed := fmt.Errorf("error creating %s %s/%s: %w", obj.GetKind(), obj.GetNamespace(), obj.GetName(), err)
				if withSSA {
					failed = errors.Join(failed, writeInventory(ctx, inv, owned))
				}
				return nil, 0, failed
			}
			created = append(created, obj.GetKind()+"/"+obj.GetName())
		}
	}
	if withSSA {
		if err = writeInventory(ctx, inv, owned); err != nil {
			return nil, 0, err
		}
	}
	return created, present, nil
}

func writeInventory(ctx context.Context, inv ssa.Inventory, owned object.ObjMetadataSet) error {
	inv.Update(owned)
	if err := inv.Write(ctx); err != nil {
		return fmt.Errorf("updating inventory failed: %w", err)
	}
	return nil
}
