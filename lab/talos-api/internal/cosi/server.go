package cosi

import (
	"context"
	"strings"

	"github.com/cosi-project/runtime/api/v1alpha1"
	"github.com/cosi-project/runtime/pkg/state/protobuf/server"
	"github.com/siderolabs/talos/pkg/machinery/api/resource/config"
	configres "github.com/siderolabs/talos/pkg/machinery/resources/config"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"talos-upgrade/lab/talos-api/internal/apid"
	"talos-upgrade/lab/talos-api/internal/version"
)

// Register serves the resource API on both the apid and the maintenance servers.
func Register(lab *apid.Lab) {
	v1alpha1.RegisterStateServer(lab.Apid(), &State{lab: lab})
	v1alpha1.RegisterStateServer(lab.Maintenance(), &State{lab: lab, maintenance: true})
}

// State routes each call to its node's resources.
type State struct {
	v1alpha1.UnimplementedStateServer
	lab         *apid.Lab
	maintenance bool
}

// stateServer is the part of COSI's protobuf server a call needs.
type stateServer interface {
	Get(context.Context, *v1alpha1.GetRequest) (*v1alpha1.GetResponse, error)
	List(*v1alpha1.ListRequest, v1alpha1.State_ListServer) error
	Watch(*v1alpha1.WatchRequest, v1alpha1.State_WatchServer) error
}

type nodeState struct {
	srv  stateServer
	snap Snapshot
	node *apid.Node
}

func (s *State) open(ctx context.Context, resourceType string) (*nodeState, error) {
	route, err := s.lab.RouteOf(ctx, true)
	if err != nil {
		return nil, err
	}
	if s.maintenance {
		route = apid.Route{Local: route.Local, Targets: []string{route.Local.IP}}
	}
	n, err := s.lab.Single(route)
	if err != nil {
		return nil, err
	}
	if s.maintenance && strings.EqualFold(resourceType, configres.MachineConfigType) {
		// The maintenance API's access policy: sensitive resources need the admin role it never grants.
		return nil, status.Error(codes.PermissionDenied, "not authorized")
	}
	boot := n.Boot()
	var snap Snapshot
	if err = n.Cluster.Daemon.Call(ctx, "resources", map[string]string{"ip": n.IP}, &snap); err != nil {
		return nil, err
	}
	if kubernetesTypes[resourceType] && !s.maintenance {
		ks, err := kubeStates.get(ctx, n, boot, snap.MachineConfig, func() (string, error) { return snap.TalosVersion, nil })
		if err != nil {
			return nil, status.Error(codes.Internal, err.Error())
		}
		return &nodeState{srv: ks.srv, snap: snap, node: n}, nil
	}
	st, err := build(ctx, snap)
	if err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	return &nodeState{srv: server.NewState(st), snap: snap, node: n}, nil
}

// Get answers one resource.
func (s *State) Get(ctx context.Context, req *v1alpha1.GetRequest) (*v1alpha1.GetResponse, error) {
	ns, err := s.open(ctx, req.GetType())
	if err != nil {
		return nil, err
	}
	resp, err := ns.srv.Get(ctx, req)
	if err != nil {
		return nil, err
	}
	ns.adapt(resp.GetResource())
	return resp, nil
}

// List streams every resource of a type.
func (s *State) List(req *v1alpha1.ListRequest, srv v1alpha1.State_ListServer) error {
	ns, err := s.open(srv.Context(), req.GetType())
	if err != nil {
		return err
	}
	return ns.srv.List(req, &adaptingList{State_ListServer: srv, ns: ns})
}

// Watch streams a node's resources and their changes until the node reboots: then, as apid's proxy
// would, the stream ends Unavailable (talosctl upgrade-k8s waits on such watches with no timeout).
func (s *State) Watch(req *v1alpha1.WatchRequest, srv v1alpha1.State_WatchServer) error {
	ns, err := s.open(srv.Context(), req.GetType())
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(srv.Context())
	defer cancel()
	gone := ns.node.Gone()
	go func() {
		select {
		case <-gone:
			cancel()
		case <-ctx.Done():
		}
	}()
	err = ns.srv.Watch(req, &boundWatch{State_WatchServer: srv, ctx: ctx, ns: ns})
	select {
	case <-gone:
		return status.Error(codes.Unavailable, "error reading from server: EOF")
	default:
		return err
	}
}

// boundWatch ends with the node's boot and gives old nodes' machine configs their old shape.
type boundWatch struct {
	v1alpha1.State_WatchServer
	ctx context.Context //nolint:containedctx // the stream's own context, narrowed to the boot
	ns  *nodeState
}

func (b *boundWatch) Context() context.Context { return b.ctx }

func (b *boundWatch) Send(resp *v1alpha1.WatchResponse) error {
	for _, ev := range resp.GetEvent() {
		b.ns.adapt(ev.GetResource())
		b.ns.adapt(ev.GetOld())
	}
	return b.State_WatchServer.Send(resp)
}

func readOnly() error { return status.Error(codes.PermissionDenied, "write access is not allowed") }

// Create is refused: clients do not write Talos resources.
func (s *State) Create(context.Context, *v1alpha1.CreateRequest) (*v1alpha1.CreateResponse, error) {
	return nil, readOnly()
}

// Update is refused: clients do not write Talos resources.
func (s *State) Update(context.Context, *v1alpha1.UpdateRequest) (*v1alpha1.UpdateResponse, error) {
	return nil, readOnly()
}

// Destroy is refused: clients do not write Talos resources.
func (s *State) Destroy(context.Context, *v1alpha1.DestroyRequest) (*v1alpha1.DestroyResponse, error) {
	return nil, readOnly()
}

type adaptingList struct {
	v1alpha1.State_ListServer
	ns *nodeState
}

func (a *adaptingList) Send(resp *v1alpha1.ListResponse) error {
	a.ns.adapt(resp.GetResource())
	return a.State_ListServer.Send(resp)
}

var _ grpc.ServerStreamingServer[v1alpha1.ListResponse] = (*adaptingList)(nil)

// adapt gives a pre-1.12 node's machine config the shape those servers sent: the raw document(s)
// as the YAML spec and no talos.dev/yaml-spec annotation (1.12 sends a YAML string and marks it).
func (ns *nodeState) adapt(r *v1alpha1.Resource) {
	if r == nil || r.GetMetadata().GetType() != configres.MachineConfigType || version.AtLeast(ns.snap.TalosVersion, 1, 12) {
		return
	}
	delete(r.Metadata.Annotations, "talos.dev/yaml-spec")
	r.Spec.YamlSpec = ns.snap.MachineConfig
	if b, err := proto.Marshal(&config.MachineConfigSpec{YamlMarshalled: []byte(ns.snap.MachineConfig)}); err == nil {
		r.Spec.ProtoSpec = b
	}
}
