package machine

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/siderolabs/talos/pkg/machinery/api/common"
	"github.com/siderolabs/talos/pkg/machinery/api/machine"
	"github.com/siderolabs/talos/pkg/machinery/config/configloader"
	machinetype "github.com/siderolabs/talos/pkg/machinery/config/machine"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"

	"talos-upgrade/lab/talos-api/internal/apid"
	"talos-upgrade/lab/talos-api/internal/cosi"
	"talos-upgrade/lab/talos-api/internal/version"
)

// validate loads a machine config as the node's machined does before it takes it: a running node
// answers InvalidArgument (v1alpha1_server.go ApplyConfiguration), the maintenance service a plain
// "failed to parse config" (internal/app/maintenance/server.go:101-104 at v1.11.3). A node decodes
// with its own version's machinery: a document kind newer than it is not registered there.
func validate(ctx context.Context, n *apid.Node, data []byte, maintenance bool) (string, error) {
	parseFailed := func(err error) error {
		if maintenance {
			return fmt.Errorf("failed to parse config: %w", err)
		}
		return status.Error(codes.InvalidArgument, err.Error())
	}
	cfg, err := configloader.NewFromBytes(data)
	if err != nil {
		return "", parseFailed(err)
	}
	var running struct {
		TalosVersion string `json:"talosVersion"`
	}
	if err = call(ctx, n, "talos-version", nil, &running); err != nil {
		return "", err
	}
	if unknown := unregisteredKind(data, running.TalosVersion); unknown != "" {
		return "", parseFailed(errors.New(unknown))
	}
	if cfg.RawV1Alpha1() == nil {
		return "", status.Error(codes.InvalidArgument,
			"the applied machine configuration doesn't contain v1alpha1 config, did you mean to patch the machine config instead?")
	}
	if cfg.Machine().Type() == machinetype.TypeUnknown {
		return "", status.Error(codes.InvalidArgument, "1 error occurred:\n\t* machine type is required\n\n")
	}
	return running.TalosVersion, nil
}

// modeDetails are machined's words for each mode (v1alpha1_server.go ApplyConfiguration, v1.13.8):
// AUTO is NO_REBOOT when every change applies live (liveChange) and REBOOT otherwise.
func modeDetails(mode machine.ApplyConfigurationRequest_Mode, live bool) (machine.ApplyConfigurationRequest_Mode, string) {
	switch mode {
	case machine.ApplyConfigurationRequest_REBOOT:
		return mode, "Applied configuration with a reboot"
	case machine.ApplyConfigurationRequest_STAGED:
		return mode, "Staged configuration to be applied after the next reboot"
	case machine.ApplyConfigurationRequest_TRY:
		return mode, tryDetails
	case machine.ApplyConfigurationRequest_AUTO:
		if !live {
			return machine.ApplyConfigurationRequest_REBOOT, "Applied configuration with a reboot"
		}
	}
	return machine.ApplyConfigurationRequest_NO_REBOOT, "Applied configuration without a reboot"
}

const tryDetails = "Applied configuration without a reboot\nThe config is applied in 'try' mode and will be automatically reverted back in 1m0s"

// modeFrom114 is Talos 1.14's ApplyConfiguration (v1alpha1_server.go L215-248 at v1.14.1): a configured
// node refuses REBOOT, AUTO is always NO_REBOOT, and nothing checks what applies live any more. A
// change only a boot applies (machine.files, written by the boot's WriteUserFiles task,
// v1alpha1_sequencer.go L246) is accepted and waits for whatever reboot comes next.
func modeFrom114(mode machine.ApplyConfigurationRequest_Mode) (machine.ApplyConfigurationRequest_Mode, string, error) {
	switch mode {
	case machine.ApplyConfigurationRequest_REBOOT:
		return mode, "", status.Error(codes.Unimplemented, "the REBOOT mode is not supported, please use AUTO or NO_REBOOT modes instead")
	case machine.ApplyConfigurationRequest_STAGED:
		return mode, "Staged configuration to be applied after the next reboot", nil
	case machine.ApplyConfigurationRequest_TRY:
		return mode, tryDetails, nil
	}
	return machine.ApplyConfigurationRequest_NO_REBOOT, "Applied configuration without a reboot", nil
}

// appliedMode is the mode a configured node applies a config in, and machined's words for it: per
// version, as modeDetails (to 1.13) and modeFrom114 read them.
func appliedMode(talos string, requested machine.ApplyConfigurationRequest_Mode, previous, next []byte) (machine.ApplyConfigurationRequest_Mode, string, error) {
	if version.AtLeast(talos, 1, 14) {
		return modeFrom114(requested)
	}
	liveErr := liveChange(previous, next)
	if requested == machine.ApplyConfigurationRequest_NO_REBOOT && liveErr != nil {
		return requested, "", status.Error(codes.InvalidArgument, liveErr.Error())
	}
	mode, details := modeDetails(requested, liveErr == nil)
	return mode, details, nil
}

// ApplyConfiguration replaces a configured node's machine config: at once, at the next boot
// (STAGED), or with a reboot the node starts by itself (to 1.13: REBOOT, or AUTO with a change that
// only a boot applies, such as machine.files).
func (s *Service) ApplyConfiguration(ctx context.Context, req *machine.ApplyConfigurationRequest) (*machine.ApplyConfigurationResponse, error) {
	msgs, err := answer(ctx, s.lab, func(ctx context.Context, n *apid.Node) (*machine.ApplyConfiguration, error) {
		talos, err := validate(ctx, n, req.GetData(), false)
		if err != nil {
			return nil, err
		}
		var previous struct {
			MachineConfig string `json:"machineConfig"`
		}
		if err = call(ctx, n, "machine-config", nil, &previous); err != nil {
			return nil, err
		}
		mode, details, err := appliedMode(talos, req.GetMode(), []byte(previous.MachineConfig), req.GetData())
		if err != nil {
			return nil, err
		}
		if req.GetDryRun() {
			return &machine.ApplyConfiguration{Mode: mode, ModeDetails: fmt.Sprintf("Dry run summary:\n%s (skipped in dry-run).", details)}, nil
		}
		if err = call(ctx, n, "apply-config", map[string]any{"config": string(req.GetData()), "mode": mode.String()}, nil); err != nil {
			return nil, err
		}
		// Only a config applied now changes what runs; a staged one, or one a reboot applies, waits for the boot.
		if mode == machine.ApplyConfigurationRequest_NO_REBOOT || mode == machine.ApplyConfigurationRequest_TRY {
			if err := cosi.ConfigApplied(ctx, n, previous.MachineConfig, req.GetData()); err != nil {
				return nil, status.Errorf(codes.Internal, "applying the config's Kubernetes changes: %v", err)
			}
		}
		return &machine.ApplyConfiguration{Mode: mode, ModeDetails: details}, nil
	}, func(m *machine.ApplyConfiguration, md *common.Metadata) { m.Metadata = md })
	if err != nil {
		return nil, err
	}
	return &machine.ApplyConfigurationResponse{Messages: msgs}, nil
}

// Maintenance is the API of a node waiting for its first config (internal/app/maintenance): no
// client certificates, every peer a reader, only apply-config really served.
type Maintenance struct {
	machine.UnimplementedMachineServiceServer
	lab *apid.Lab
}

func notInMaintenance() error {
	return status.Error(codes.Unimplemented, "API is not implemented in maintenance mode")
}

// ApplyConfiguration installs the node with its config; it reboots into the configured system.
func (m *Maintenance) ApplyConfiguration(ctx context.Context, req *machine.ApplyConfigurationRequest) (*machine.ApplyConfigurationResponse, error) {
	n, err := m.lab.LocalNode(ctx)
	if err != nil {
		return nil, err
	}
	switch req.GetMode() {
	case machine.ApplyConfigurationRequest_TRY, machine.ApplyConfigurationRequest_REBOOT, machine.ApplyConfigurationRequest_AUTO:
	default:
		return nil, status.Errorf(codes.Unimplemented, "apply configuration --mode='%s' is not supported in maintenance mode",
			strings.ReplaceAll(strings.ToLower(req.GetMode().String()), "_", "-"))
	}
	if _, err = validate(ctx, n, req.GetData(), true); err != nil {
		return nil, err
	}
	if req.GetDryRun() {
		return &machine.ApplyConfigurationResponse{Messages: []*machine.ApplyConfiguration{{
			ModeDetails: "Dry run summary:\nNode is running in maintenance mode and does not have a config yet.",
		}}}, nil
	}
	if err = call(ctx, n, "apply-config", map[string]any{"config": string(req.GetData()), "mode": "REBOOT", "maintenance": true}, nil); err != nil {
		return nil, err
	}
	return &machine.ApplyConfigurationResponse{Messages: []*machine.ApplyConfiguration{{}}}, nil
}

// Version in maintenance mode: Talos 1.11 and 1.12 serve it from their own maintenance server, which
// asks for the admin role that no certificate-less peer has (internal/app/maintenance/server.go
// assertAdminRole, v1.11.3 and v1.12.5); from 1.13 machined's own server answers there, and apid's
// read-only role mode lets any reader ask it (internal/app/apid/service.go ReadonlyRoleMode, v1.13.8).
// talosctl 1.14 asks Version before every `get`, so on 1.11 and 1.12 such a `get --insecure` fails.
func (m *Maintenance) Version(ctx context.Context, _ *emptypb.Empty) (*machine.VersionResponse, error) {
	n, err := m.lab.LocalNode(ctx)
	if err != nil {
		return nil, err
	}
	info, err := nodeInfo(ctx, n)
	if err != nil {
		return nil, err
	}
	if !version.AtLeast(info.TalosVersion, 1, 13) {
		return nil, notInMaintenance()
	}
	return &machine.VersionResponse{Messages: []*machine.Version{{
		Version:  versionInfo(info.TalosVersion),
		Platform: &machine.PlatformInfo{Name: "nocloud", Mode: "cloud"},
	}}}, nil
}

// Upgrade needs the admin role as well.
func (m *Maintenance) Upgrade(context.Context, *machine.UpgradeRequest) (*machine.UpgradeResponse, error) {
	return nil, notInMaintenance()
}
