package machine

import (
	"context"

	"github.com/siderolabs/talos/pkg/machinery/api/storage"
	"google.golang.org/protobuf/types/known/emptypb"

	"talos-upgrade/lab/talos-api/internal/apid"
)

// maintenanceStorage is the StorageService a VM in maintenance mode answers without a client
// certificate: Talos v1.13.8 internal/app/storaged/server.go serves Disks to any reader while the config
// is not complete for boot (the role check there applies only once configured). The siderolabs/talos
// Terraform provider probes it to tell a VM waiting for its config from a configured node.
type maintenanceStorage struct {
	storage.UnimplementedStorageServiceServer
	lab *apid.Lab
}

// Disks lists the one virtio disk every lab VM has, where the machine config installs Talos.
func (s *maintenanceStorage) Disks(ctx context.Context, _ *emptypb.Empty) (*storage.DisksResponse, error) {
	if _, err := s.lab.LocalNode(ctx); err != nil {
		return nil, err
	}
	return &storage.DisksResponse{Messages: []*storage.Disks{{Disks: []*storage.Disk{{
		DeviceName: "/dev/sda",
		Name:       "sda",
		Model:      "QEMU HARDDISK",
		Size:       32 << 30,
		Type:       storage.Disk_HDD,
	}}}}}, nil
}
