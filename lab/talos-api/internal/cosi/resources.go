// Package cosi serves Talos's resource API (cosi.resource.State) per node. Each call builds the
// node's resources from the lab daemon's answer into a COSI in-memory state with Talos's own
// resource types and definitions, and COSI's own protobuf server encodes them: the wire format is
// the one real Talos sends.
package cosi

import (
	"context"
	"fmt"
	"net"
	"strings"

	"github.com/cosi-project/runtime/pkg/resource"
	"github.com/cosi-project/runtime/pkg/resource/meta"
	"github.com/cosi-project/runtime/pkg/state"
	"github.com/cosi-project/runtime/pkg/state/impl/inmem"
	"github.com/cosi-project/runtime/pkg/state/impl/namespaced"
	"github.com/cosi-project/runtime/pkg/state/registry"
	"github.com/siderolabs/talos/pkg/machinery/config/configloader"
	"github.com/siderolabs/talos/pkg/machinery/extensions"
	"github.com/siderolabs/talos/pkg/machinery/nethelpers"
	"github.com/siderolabs/talos/pkg/machinery/resources/config"
	"github.com/siderolabs/talos/pkg/machinery/resources/k8s"
	"github.com/siderolabs/talos/pkg/machinery/resources/network"
	"github.com/siderolabs/talos/pkg/machinery/resources/runtime"
)

// Link is one network link as the lab daemon describes it.
type Link struct {
	ID           string `json:"id"`
	Index        uint32 `json:"index"`
	Type         string `json:"type"` // ether | loopback
	Kind         string `json:"kind"` // "" | vlan
	LinkIndex    uint32 `json:"linkIndex"`
	HardwareAddr string `json:"hardwareAddr"`
	MTU          uint32 `json:"mtu"`
	VLANID       uint16 `json:"vlanId"`
	Driver       string `json:"driver"`
	BusPath      string `json:"busPath"`
}

// Extension is one system extension the node's image carries, as its manifest names it.
type Extension struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

// Snapshot is everything the resource API shows of one node.
type Snapshot struct {
	TalosVersion  string `json:"talosVersion"`
	Stage         string `json:"stage"` // booting | maintenance | running | rebooting | upgrading
	Ready         bool   `json:"ready"`
	Links         []Link `json:"links"`
	MachineConfig string `json:"machineConfig"`
	// Cmdline is /proc/cmdline of the running boot (KernelCmdlines.runtime.talos.dev, id "cmdline").
	Cmdline string `json:"cmdline"`
	// Extensions of the running image: its schematic's, then the Image Factory's virtual "schematic"
	// extension whose version is the schematic id (ExtensionStatuses.runtime.talos.dev, `talosctl get
	// extensions`).
	Extensions []Extension `json:"extensions"`
}

var stages = map[string]runtime.MachineStage{
	"booting":     runtime.MachineStageBooting,
	"maintenance": runtime.MachineStageMaintenance,
	"running":     runtime.MachineStageRunning,
	"rebooting":   runtime.MachineStageRebooting,
	"upgrading":   runtime.MachineStageUpgrading,
}

// definitions are the resource types the lab's nodes serve.
var definitions = []meta.ResourceWithRD{
	&network.LinkStatus{},
	&runtime.MachineStatus{},
	&config.MachineConfig{},
	&runtime.KernelCmdline{},
	&runtime.ExtensionStatus{},
	&k8s.Manifest{},
}

// build puts the node's resources into a fresh COSI state, resource definitions included.
func build(ctx context.Context, snap Snapshot) (state.State, error) {
	st := state.WrapCore(namespaced.NewState(inmem.Build))
	reg := registry.NewResourceRegistry(st)
	if err := reg.RegisterDefault(ctx); err != nil {
		return nil, err
	}
	for _, d := range definitions {
		if err := reg.Register(ctx, d); err != nil {
			return nil, err
		}
	}
	status := runtime.NewMachineStatus()
	status.TypedSpec().Stage = stages[snap.Stage]
	status.TypedSpec().Status.Ready = snap.Ready
	if !snap.Ready {
		status.TypedSpec().Status.UnmetConditions = []runtime.UnmetCondition{{Name: "nodeReady", Reason: "node is not ready"}}
	}
	resources := []resource.Resource{status}
	if snap.Cmdline != "" {
		cmdline := runtime.NewKernelCmdline()
		cmdline.TypedSpec().Cmdline = snap.Cmdline
		resources = append(resources, cmdline)
	}
	// Talos's ExtensionStatusController (internal/app/machined/pkg/controllers/runtime/extension_status.go,
	// v1.13.8) gives each layer of the image its own status, id = the layer's file without ".sqsh": the
	// id says nothing, the manifest's name and version do.
	for i, ext := range snap.Extensions {
		image := fmt.Sprintf("%03d.%s.sqsh", i, strings.ReplaceAll(ext.Name, "/", "-"))
		status := runtime.NewExtensionStatus(runtime.NamespaceName, strings.TrimSuffix(image, ".sqsh"))
		status.TypedSpec().Image = image
		status.TypedSpec().Metadata = extensions.Metadata{Name: ext.Name, Version: ext.Version}
		resources = append(resources, status)
	}
	for _, l := range snap.Links {
		r, err := linkStatus(l)
		if err != nil {
			return nil, err
		}
		resources = append(resources, r)
	}
	if snap.MachineConfig != "" {
		provider, err := configloader.NewFromBytes([]byte(snap.MachineConfig))
		if err != nil {
			return nil, fmt.Errorf("the lab node's machine config does not load: %w", err)
		}
		resources = append(resources, config.NewMachineConfig(provider))
	}
	for _, r := range resources {
		if err := st.Create(ctx, r); err != nil {
			return nil, err
		}
	}
	return st, nil
}

func linkStatus(l Link) (resource.Resource, error) {
	r := network.NewLinkStatus(network.NamespaceName, l.ID)
	spec := r.TypedSpec()
	spec.Index = l.Index
	spec.LinkIndex = l.LinkIndex
	spec.MTU = l.MTU
	spec.Kind = l.Kind
	spec.Driver = l.Driver
	spec.BusPath = l.BusPath
	spec.LinkState = true
	switch l.Type {
	case "loopback":
		spec.Type = nethelpers.LinkLoopbck
		spec.OperationalState = nethelpers.OperStateUnknown
		spec.Flags = nethelpers.LinkFlags(nethelpers.LinkUp | nethelpers.LinkLoopback | nethelpers.LinkRunning | nethelpers.LinkLowerUp)
	default:
		spec.Type = nethelpers.LinkEther
		spec.OperationalState = nethelpers.OperStateUp
		spec.Flags = nethelpers.LinkFlags(nethelpers.LinkUp | nethelpers.LinkBroadcast | nethelpers.LinkRunning |
			nethelpers.LinkMulticast | nethelpers.LinkLowerUp)
		spec.QueueDisc = "pfifo_fast"
	}
	if l.HardwareAddr != "" {
		mac, err := net.ParseMAC(l.HardwareAddr)
		if err != nil {
			return nil, fmt.Errorf("link %s: %w", l.ID, err)
		}
		spec.HardwareAddr = nethelpers.HardwareAddr(mac)
		spec.PermanentAddr = nethelpers.HardwareAddr(mac)
		spec.BroadcastAddr = nethelpers.HardwareAddr(net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	}
	if strings.EqualFold(l.Kind, "vlan") {
		spec.VLAN = network.VLANSpec{VID: l.VLANID, Protocol: nethelpers.VLANProtocol8021Q}
	}
	return r, nil
}
