// Package machine serves Talos's MachineService for the lab's nodes: what talosctl and the product
// call (version, upgrade, reboot, events, read, apply-config, etcd), answered from the lab daemon's
// state, with machined's messages, codes and per-version differences.
package machine

import (
	"bytes"
	"context"
	"fmt"
	"io"

	"github.com/google/uuid"
	"github.com/siderolabs/talos/pkg/machinery/api/common"
	"github.com/siderolabs/talos/pkg/machinery/api/machine"
	"github.com/siderolabs/talos/pkg/machinery/api/storage"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"

	"talos-upgrade/lab/talos-api/internal/apid"
	"talos-upgrade/lab/talos-api/internal/version"
)

// Register serves the machine API on the apid server and its maintenance subset.
func Register(lab *apid.Lab) {
	machine.RegisterMachineServiceServer(lab.Apid(), &Service{lab: lab})
	machine.RegisterMachineServiceServer(lab.Maintenance(), &Maintenance{lab: lab})
	storage.RegisterStorageServiceServer(lab.Maintenance(), &maintenanceStorage{lab: lab})
	registerLifecycle(lab)
	lab.OnBoot = applyBootstrapManifests
}

// Service is machined's API behind apid.
type Service struct {
	machine.UnimplementedMachineServiceServer
	lab *apid.Lab
}

// NodeInfo is what the daemon tells about a node.
type NodeInfo struct {
	Name         string `json:"name"`
	Hostname     string `json:"hostname"`
	Role         string `json:"role"`
	TalosVersion string `json:"talosVersion"`
}

// nodeInfo asks the lab daemon for what the node runs now.
func nodeInfo(ctx context.Context, n *apid.Node) (NodeInfo, error) {
	var info NodeInfo
	err := call(ctx, n, "node", nil, &info)
	return info, err
}

// answer runs a unary call on the nodes its metadata names, as apid routes it.
func answer[M any](ctx context.Context, lab *apid.Lab, call func(context.Context, *apid.Node) (*M, error),
	setMeta func(*M, *common.Metadata),
) ([]*M, error) {
	r, err := lab.RouteOf(ctx, false)
	if err != nil {
		return nil, err
	}
	return apid.Unary(ctx, lab, r, call, setMeta)
}

// streamTarget is the one node a streaming call goes to, and the metadata each frame carries when
// apid proxies one-to-many (a single "nodes" value).
func streamTarget(ctx context.Context, lab *apid.Lab) (*apid.Node, *common.Metadata, error) {
	r, err := lab.RouteOf(ctx, false)
	if err != nil {
		return nil, nil, err
	}
	n, err := lab.Single(r)
	if err != nil {
		return nil, nil, err
	}
	if r.Many {
		return n, &common.Metadata{Hostname: r.Targets[0]}, nil
	}
	return n, nil, nil
}

func call(ctx context.Context, n *apid.Node, op string, args map[string]any, result any) error {
	if args == nil {
		args = map[string]any{}
	}
	args["ip"] = n.IP
	return n.Cluster.Daemon.Call(ctx, op, args, result)
}

func versionInfo(talos string) *machine.VersionInfo {
	goVersion := "go1.24.9"
	switch {
	case version.AtLeast(talos, 1, 13):
		goVersion = "go1.26.5"
	case version.AtLeast(talos, 1, 12):
		goVersion = "go1.25.5"
	}
	return &machine.VersionInfo{Tag: "v" + talos, Sha: "lab", GoVersion: goVersion, Os: "linux", Arch: "amd64"}
}

// Version answers the node's Talos version.
func (s *Service) Version(ctx context.Context, _ *emptypb.Empty) (*machine.VersionResponse, error) {
	msgs, err := answer(ctx, s.lab, func(ctx context.Context, n *apid.Node) (*machine.Version, error) {
		info, err := nodeInfo(ctx, n)
		if err != nil {
			return nil, err
		}
		return &machine.Version{
			Version:  versionInfo(info.TalosVersion),
			Platform: &machine.PlatformInfo{Name: "nocloud", Mode: "cloud"},
			Features: &machine.FeaturesInfo{Rbac: true},
		}, nil
	}, func(m *machine.Version, md *common.Metadata) { m.Metadata = md })
	if err != nil {
		return nil, err
	}
	return &machine.VersionResponse{Messages: msgs}, nil
}

// Upgrade validates the request on the node (installer, etcd) and starts the upgrade sequence.
func (s *Service) Upgrade(ctx context.Context, req *machine.UpgradeRequest) (*machine.UpgradeResponse, error) {
	msgs, err := answer(ctx, s.lab, func(ctx context.Context, n *apid.Node) (*machine.Upgrade, error) {
		actor := uuid.New().String()
		gen := n.Events.Generation()
		info, err := nodeInfo(ctx, n)
		if err != nil {
			return nil, err
		}
		// The installer's own check of the host runs in the sequence, after the call was answered and
		// the node's services stopped: the call's image check only runs `installer --help`
		// (internal/pkg/install/pull.go at v1.11.3 and v1.12.5). A staged upgrade installs at the next
		// boot instead, which the lab does not fail.
		var refusal string
		var exitCode int32
		if !req.GetStage() {
			refusal, exitCode = installerRefusal(info.TalosVersion, req.GetImage())
		}
		if err = call(ctx, n, "upgrade", map[string]any{
			"image": req.GetImage(), "preserve": req.GetPreserve(), "stage": req.GetStage(), "force": req.GetForce(),
			"installerRefusal": refusal,
		}, nil); err != nil {
			return nil, err
		}
		sequence := "upgrade"
		if req.GetStage() {
			sequence = "stageUpgrade"
		}
		installerErr := ""
		if refusal != "" {
			// internal/pkg/install/install.go RunInstallerContainer at v1.11.3: the installer's output goes
			// to the console; the task fails with its exit code only.
			installerErr = fmt.Sprintf("task %q failed: exit code %d", "upgrade", exitCode)
		}
		n.Events.PublishUpgrade(gen, actor, sequence, installerErr)
		return &machine.Upgrade{Ack: "Upgrade request received", ActorId: actor}, nil
	}, func(m *machine.Upgrade, md *common.Metadata) { m.Metadata = md })
	if err != nil {
		return nil, err
	}
	return &machine.UpgradeResponse{Messages: msgs}, nil
}

// Reboot reboots the node.
func (s *Service) Reboot(ctx context.Context, _ *machine.RebootRequest) (*machine.RebootResponse, error) {
	msgs, err := answer(ctx, s.lab, func(ctx context.Context, n *apid.Node) (*machine.Reboot, error) {
		actor := uuid.New().String()
		gen := n.Events.Generation()
		if err := call(ctx, n, "reboot", nil, nil); err != nil {
			return nil, err
		}
		n.Events.PublishReboot(gen, actor)
		return &machine.Reboot{ActorId: actor}, nil
	}, func(m *machine.Reboot, md *common.Metadata) { m.Metadata = md })
	if err != nil {
		return nil, err
	}
	return &machine.RebootResponse{Messages: msgs}, nil
}

// Events streams the node's runtime events: an empty hello first, as machined sends, then the tail
// asked for, then new events until the node goes down.
func (s *Service) Events(req *machine.EventsRequest, srv grpc.ServerStreamingServer[machine.Event]) error {
	n, md, err := streamTarget(srv.Context(), s.lab)
	if err != nil {
		return err
	}
	past, ch, err := n.Events.Subscribe(int(req.GetTailEvents()), req.GetTailId())
	if err != nil {
		return err
	}
	defer n.Events.Unsubscribe(ch)
	if err = srv.Send(&machine.Event{Metadata: md}); err != nil {
		return err
	}
	for _, ev := range past {
		if err = srv.Send(withMeta(ev, md)); err != nil {
			return err
		}
	}
	for {
		select {
		case <-srv.Context().Done():
			return srv.Context().Err()
		case ev, ok := <-ch:
			if !ok {
				// The node went down under a proxied stream: apid reports the broken backend.
				return status.Error(codes.Unavailable, "error reading from server: EOF")
			}
			if err = srv.Send(withMeta(ev, md)); err != nil {
				return err
			}
		}
	}
}

func withMeta(ev *machine.Event, md *common.Metadata) *machine.Event {
	if md == nil {
		return ev
	}
	return &machine.Event{Metadata: md, Data: ev.Data, Id: ev.Id, ActorId: ev.ActorId}
}

// Read streams a file of the node (boot id, os-release, files written by its machine config).
func (s *Service) Read(req *machine.ReadRequest, srv grpc.ServerStreamingServer[common.Data]) error {
	n, md, err := streamTarget(srv.Context(), s.lab)
	if err != nil {
		return err
	}
	var file struct {
		Content string `json:"content"`
	}
	if err = call(srv.Context(), n, "read", map[string]any{"path": req.GetPath()}, &file); err != nil {
		return err
	}
	return sendChunks(bytes.NewReader([]byte(file.Content)), md, srv.Send)
}

// sendChunks streams a reader as common.Data messages of 1 KiB, as machined's chunker does.
func sendChunks(rd io.Reader, md *common.Metadata, send func(*common.Data) error) error {
	buf := make([]byte, 1024)
	for {
		n, err := rd.Read(buf)
		if n > 0 {
			if serr := send(&common.Data{Metadata: md, Bytes: append([]byte(nil), buf[:n]...)}); serr != nil {
				return serr
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading: %w", err)
		}
	}
}
