package machine

import (
	"context"
	"strings"
	"time"

	"github.com/siderolabs/talos/pkg/machinery/api/common"
	"github.com/siderolabs/talos/pkg/machinery/api/machine"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"talos-upgrade/lab/talos-api/internal/apid"
	"talos-upgrade/lab/talos-api/internal/version"
)

// Talos 1.13's install path (internal/app/images, internal/app/lifecycle): the client pulls the
// installer into a containerd instance, asks the node to install it into the other boot slot, and
// reboots the node itself. Nothing here checks etcd or takes a lock beyond "one install at a time".

// ImageService answers image pulls.
type ImageService struct {
	machine.UnimplementedImageServiceServer
	lab *apid.Lab
}

// LifecycleService answers installs into the other boot slot.
type LifecycleService struct {
	machine.UnimplementedLifecycleServiceServer
	lab *apid.Lab
}

// installChunk is the size of the installer output pieces machined 1.13 streams (container.go at v1.13.8).
const installChunk = 512

// outputPieces is the installer's output as machined streams it: 512-byte chunks on 1.13, whole lines
// each with its newline from 1.14 (internal/output/stream.go at v1.14.1).
func outputPieces(output, talos string) []string {
	if version.AtLeast(talos, 1, 14) {
		lines := strings.SplitAfter(output, "\n")
		if lines[len(lines)-1] == "" {
			lines = lines[:len(lines)-1]
		}
		return lines
	}
	var pieces []string
	for len(output) > 0 {
		size := min(installChunk, len(output))
		pieces = append(pieces, output[:size])
		output = output[size:]
	}
	return pieces
}

// oneToOneTarget is the node of a streaming call apid only proxies one-to-one: the lifecycle and
// image services are outside its one-to-many list (internal/app/apid/pkg/director).
func oneToOneTarget(ctx context.Context, lab *apid.Lab) (*apid.Node, error) {
	if md, _ := metadata.FromIncomingContext(ctx); len(md["nodes"]) > 0 {
		method, _ := grpc.Method(ctx)
		return nil, status.Errorf(codes.InvalidArgument, "one-2-many proxying is not supported for method %s", method)
	}
	r, err := lab.RouteOf(ctx, false)
	if err != nil {
		return nil, err
	}
	return lab.Single(r)
}

// lifecycleTarget is the one node a call of Talos 1.13's image or lifecycle service goes to; a node
// whose machined predates the service (before 1.13) answers as it would: unknown service. The node's
// info comes with it, read once.
func lifecycleTarget(ctx context.Context, lab *apid.Lab, service string) (*apid.Node, NodeInfo, error) {
	n, err := oneToOneTarget(ctx, lab)
	if err != nil {
		return nil, NodeInfo{}, err
	}
	info, err := nodeInfo(ctx, n)
	if err != nil {
		return nil, NodeInfo{}, err
	}
	if !version.AtLeast(info.TalosVersion, 1, 13) {
		return nil, NodeInfo{}, status.Errorf(codes.Unimplemented, "unknown service %s", service)
	}
	return n, info, nil
}

// containerdNamespace validates the instance as ctrhelper does and names where the image goes.
func containerdNamespace(instance *common.ContainerdInstance) (string, error) {
	switch {
	case instance.GetNamespace() == common.ContainerdNamespace_NS_UNKNOWN:
		return "", status.Error(codes.InvalidArgument, "containerd namespace must be specified")
	case instance.GetDriver() == common.ContainerDriver_CONTAINERD && instance.GetNamespace() == common.ContainerdNamespace_NS_CRI:
		return "", status.Error(codes.InvalidArgument, "CRI namespace is not supported with containerd driver")
	}
	return instance.GetDriver().String() + "/" + instance.GetNamespace().String(), nil
}

// Pull pulls an image into the node's containerd: layer progress, then the name pinned by digest.
func (s *ImageService) Pull(req *machine.ImageServicePullRequest, srv grpc.ServerStreamingServer[machine.ImageServicePullResponse]) error {
	ctx := srv.Context()
	n, _, err := lifecycleTarget(ctx, s.lab, "machine.ImageService")
	if err != nil {
		return err
	}
	namespace, err := containerdNamespace(req.GetContainerd())
	if err != nil {
		return err
	}
	var pulled struct {
		Name   string `json:"name"`
		Layer  string `json:"layer"`
		Size   int64  `json:"size"`
		Millis int64  `json:"millis"`
	}
	if err = call(ctx, n, "image-pull", map[string]any{"image": req.GetImageRef(), "namespace": namespace}, &pulled); err != nil {
		return err
	}
	progress := &machine.ImageServicePullProgress{
		LayerId: pulled.Layer,
		Progress: &machine.ImageServicePullLayerProgress{
			Status:  machine.ImageServicePullLayerProgress_EXTRACT_COMPLETE,
			Elapsed: durationpb.New(time.Duration(pulled.Millis) * time.Millisecond),
			Offset:  pulled.Size,
			Total:   pulled.Size,
		},
	}
	if err = srv.Send(&machine.ImageServicePullResponse{Response: &machine.ImageServicePullResponse_PullProgress{PullProgress: progress}}); err != nil {
		return err
	}
	return srv.Send(&machine.ImageServicePullResponse{Response: &machine.ImageServicePullResponse_Name{Name: pulled.Name}})
}

// Upgrade runs the installer of a pulled image into the other boot slot, without rebooting: its
// output in chunks, then its exit code. The next boot, whoever asks for it, boots the new slot.
func (s *LifecycleService) Upgrade(req *machine.LifecycleServiceUpgradeRequest, srv grpc.ServerStreamingServer[machine.LifecycleServiceUpgradeResponse]) error {
	ctx := srv.Context()
	n, info, err := lifecycleTarget(ctx, s.lab, "machine.LifecycleService")
	if err != nil {
		return err
	}
	if req.GetSource().GetImageName() == "" {
		return status.Error(codes.InvalidArgument, "installer image name is required")
	}
	namespace, err := containerdNamespace(req.GetContainerd())
	if err != nil {
		return status.Errorf(codes.Internal, "upgrade failed: %v", err)
	}
	// The installer's pre-flight asks machined's socket, which the lifecycle service mounts
	// (internal/app/lifecycle/container.go at v1.13.8 and v1.14.1): a host it refuses gets its exit code
	// in the stream, the call itself ends OK, and nothing is written.
	refusal, exitCode := installerRefusal(info.TalosVersion, req.GetSource().GetImageName())
	var installed struct {
		Output   string `json:"output"`
		ExitCode int32  `json:"exitCode"`
	}
	if err = call(ctx, n, "lifecycle-upgrade", map[string]any{
		"image": req.GetSource().GetImageName(), "namespace": namespace,
		"installerRefusal": refusal, "installerExitCode": exitCode,
	}, &installed); err != nil {
		return err
	}
	for _, piece := range outputPieces(installed.Output, info.TalosVersion) {
		msg := &machine.LifecycleServiceInstallProgress{Response: &machine.LifecycleServiceInstallProgress_Message{Message: piece}}
		if err = srv.Send(&machine.LifecycleServiceUpgradeResponse{Progress: msg}); err != nil {
			return err
		}
	}
	exit := &machine.LifecycleServiceInstallProgress{Response: &machine.LifecycleServiceInstallProgress_ExitCode{ExitCode: installed.ExitCode}}
	return srv.Send(&machine.LifecycleServiceUpgradeResponse{Progress: exit})
}

// registerLifecycle adds Talos 1.13's image and lifecycle services to apid.
func registerLifecycle(lab *apid.Lab) {
	machine.RegisterImageServiceServer(lab.Apid(), &ImageService{lab: lab})
	machine.RegisterLifecycleServiceServer(lab.Apid(), &LifecycleService{lab: lab})
}

// ImagePull is MachineService's legacy pull (internal/app/machined/internal/server/v1alpha1/
// v1alpha1_images.go ImagePull, the same at v1.11.3, v1.12.5 and v1.13.8): `talosctl upgrade-k8s`
// pre-pulls every component's image with it, one node at a time. machined always pulls into the CRI
// containerd, in the request's namespace (k8s.io or system); an image it already has is not pulled
// again (WithSkipIfAlreadyPulled); NotFound ends the pull at once (WithMaxNotFoundRetries(0)), with
// its own code, and any other failure comes back once Talos's pull budget is spent.
func (s *Service) ImagePull(ctx context.Context, req *machine.ImagePullRequest) (*machine.ImagePullResponse, error) {
	switch req.GetNamespace() {
	case common.ContainerdNamespace_NS_CRI, common.ContainerdNamespace_NS_SYSTEM:
	default:
		return nil, status.Errorf(codes.InvalidArgument, "invalid namespace %s", req.GetNamespace())
	}
	msgs, err := answer(ctx, s.lab, func(ctx context.Context, n *apid.Node) (*machine.ImagePull, error) {
		namespace := common.ContainerDriver_CRI.String() + "/" + req.GetNamespace().String()
		if err := call(ctx, n, "image-pull", map[string]any{"image": req.GetReference(), "namespace": namespace}, nil); err != nil {
			return nil, err
		}
		return &machine.ImagePull{}, nil
	}, func(m *machine.ImagePull, md *common.Metadata) { m.Metadata = md })
	if err != nil {
		return nil, err
	}
	return &machine.ImagePullResponse{Messages: msgs}, nil
}
