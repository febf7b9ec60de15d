package machine

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/siderolabs/talos/pkg/machinery/api/common"
	"github.com/siderolabs/talos/pkg/machinery/api/machine"
	bolt "go.etcd.io/bbolt"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/emptypb"

	"talos-upgrade/lab/talos-api/internal/apid"
)

type etcdMember struct {
	ID         string   `json:"id"` // 16 hex digits, as etcd prints ids
	Hostname   string   `json:"hostname"`
	PeerURLs   []string `json:"peerUrls"`
	ClientURLs []string `json:"clientUrls"`
	Learner    bool     `json:"learner"`
}

func hexID(id string) uint64 {
	v, _ := strconv.ParseUint(id, 16, 64) //nolint:errcheck // the lab writes its ids itself
	return v
}

// EtcdMemberList answers the members as the node's etcd sees them.
func (s *Service) EtcdMemberList(ctx context.Context, _ *machine.EtcdMemberListRequest) (*machine.EtcdMemberListResponse, error) {
	msgs, err := answer(ctx, s.lab, func(ctx context.Context, n *apid.Node) (*machine.EtcdMembers, error) {
		var out struct {
			Members []etcdMember `json:"members"`
		}
		if err := call(ctx, n, "etcd/members", nil, &out); err != nil {
			return nil, err
		}
		msg := &machine.EtcdMembers{}
		for _, m := range out.Members {
			msg.Members = append(msg.Members, &machine.EtcdMember{Id: hexID(m.ID), Hostname: m.Hostname,
				PeerUrls: m.PeerURLs, ClientUrls: m.ClientURLs, IsLearner: m.Learner})
		}
		return msg, nil
	}, func(m *machine.EtcdMembers, md *common.Metadata) { m.Metadata = md })
	if err != nil {
		return nil, err
	}
	return &machine.EtcdMemberListResponse{Messages: msgs}, nil
}

// EtcdStatus answers the local member's status.
func (s *Service) EtcdStatus(ctx context.Context, _ *emptypb.Empty) (*machine.EtcdStatusResponse, error) {
	msgs, err := answer(ctx, s.lab, func(ctx context.Context, n *apid.Node) (*machine.EtcdStatus, error) {
		var st struct {
			MemberID        string   `json:"memberId"`
			Leader          string   `json:"leader"`
			DBSize          int64    `json:"dbSize"`
			DBSizeInUse     int64    `json:"dbSizeInUse"`
			RaftIndex       uint64   `json:"raftIndex"`
			RaftTerm        uint64   `json:"raftTerm"`
			ProtocolVersion string   `json:"protocolVersion"`
			StorageVersion  string   `json:"storageVersion"`
			IsLearner       bool     `json:"isLearner"`
			Errors          []string `json:"errors"`
		}
		if err := call(ctx, n, "etcd/status", nil, &st); err != nil {
			return nil, err
		}
		return &machine.EtcdStatus{MemberStatus: &machine.EtcdMemberStatus{
			MemberId: hexID(st.MemberID), Leader: hexID(st.Leader), DbSize: st.DBSize, DbSizeInUse: st.DBSizeInUse,
			RaftIndex: st.RaftIndex, RaftTerm: st.RaftTerm, RaftAppliedIndex: st.RaftIndex,
			ProtocolVersion: st.ProtocolVersion, StorageVersion: st.StorageVersion, IsLearner: st.IsLearner,
			Errors: st.Errors,
		}}, nil
	}, func(m *machine.EtcdStatus, md *common.Metadata) { m.Metadata = md })
	if err != nil {
		return nil, err
	}
	return &machine.EtcdStatusResponse{Messages: msgs}, nil
}

// EtcdLeaveCluster takes the node's member out of etcd.
func (s *Service) EtcdLeaveCluster(ctx context.Context, _ *machine.EtcdLeaveClusterRequest) (*machine.EtcdLeaveClusterResponse, error) {
	msgs, err := answer(ctx, s.lab, func(ctx context.Context, n *apid.Node) (*machine.EtcdLeaveCluster, error) {
		return &machine.EtcdLeaveCluster{}, call(ctx, n, "etcd/leave", nil, nil)
	}, func(m *machine.EtcdLeaveCluster, md *common.Metadata) { m.Metadata = md })
	if err != nil {
		return nil, err
	}
	return &machine.EtcdLeaveClusterResponse{Messages: msgs}, nil
}

// EtcdRemoveMemberByID removes another member, by its numeric id.
func (s *Service) EtcdRemoveMemberByID(ctx context.Context, req *machine.EtcdRemoveMemberByIDRequest) (*machine.EtcdRemoveMemberByIDResponse, error) {
	msgs, err := answer(ctx, s.lab, func(ctx context.Context, n *apid.Node) (*machine.EtcdRemoveMemberByID, error) {
		return &machine.EtcdRemoveMemberByID{}, call(ctx, n, "etcd/remove-member",
			map[string]any{"id": fmt.Sprintf("%016x", req.GetMemberId()), "decimal": strconv.FormatUint(req.GetMemberId(), 10)}, nil)
	}, func(m *machine.EtcdRemoveMemberByID, md *common.Metadata) { m.Metadata = md })
	if err != nil {
		return nil, err
	}
	return &machine.EtcdRemoveMemberByIDResponse{Messages: msgs}, nil
}

type snapshotContent struct {
	Revision int64 `json:"revision"`
	Keys     []struct {
		Key   string `json:"key"`
		Value string `json:"value"`
	} `json:"keys"`
}

// EtcdSnapshot streams a snapshot in etcd's own format: a bbolt database with the "meta" and "key"
// buckets (revision keys, mvccpb.KeyValue values) followed by its SHA-256, which `talosctl etcd
// snapshot` checks and reads with etcdutl.
func (s *Service) EtcdSnapshot(_ *machine.EtcdSnapshotRequest, srv grpc.ServerStreamingServer[common.Data]) error {
	n, md, err := streamTarget(srv.Context(), s.lab)
	if err != nil {
		return err
	}
	var content snapshotContent
	if err = call(srv.Context(), n, "etcd/snapshot", nil, &content); err != nil {
		return err
	}
	file, err := writeSnapshot(content)
	if err != nil {
		return err
	}
	defer os.RemoveAll(filepath.Dir(file)) //nolint:errcheck
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close() //nolint:errcheck
	return sendChunks(f, md, srv.Send)
}

func revisionKey(main int64) []byte {
	b := make([]byte, 17)
	binary.BigEndian.PutUint64(b, uint64(main))
	b[8] = '_'
	return b
}

func writeSnapshot(content snapshotContent) (string, error) {
	dir, err := os.MkdirTemp("", "lab-etcd-snapshot-")
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "snapshot.db")
	written := false
	defer func() {
		if !written {
			os.RemoveAll(dir) //nolint:errcheck
		}
	}()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		return "", err
	}
	err = db.Update(func(tx *bolt.Tx) error {
		meta, err := tx.CreateBucket([]byte("meta"))
		if err != nil {
			return err
		}
		if err = meta.Put([]byte("storageVersion"), []byte("3.6.0")); err != nil {
			return err
		}
		keys, err := tx.CreateBucket([]byte("key"))
		if err != nil {
			return err
		}
		rev := content.Revision - int64(len(content.Keys))
		for _, kv := range content.Keys {
			rev++
			// etcd's api v3.7 types are protobuf-go messages (v3.6's had gogo's Marshal); the wire format is one.
			value, err := proto.Marshal(&mvccpb.KeyValue{Key: []byte(kv.Key), Value: []byte(kv.Value), CreateRevision: rev,
				ModRevision: rev, Version: 1})
			if err != nil {
				return err
			}
			if err = keys.Put(revisionKey(rev), value); err != nil {
				return err
			}
		}
		return nil
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", err
	}
	body, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(body)
	if err = os.WriteFile(path, append(body, sum[:]...), 0o600); err != nil {
		return "", err
	}
	written = true
	return path, nil
}

// etcdDowngrade is one of machined's three Downgrade calls (v1alpha1_server.go EtcdDowngradeCancel,
// EtcdDowngradeEnable, EtcdDowngradeValidate, L2259-2362 at v1.14.1): the daemon checks the role, the
// version's MAJOR.MINOR form and etcd, and answers the cluster version etcd gave back.
func etcdDowngrade(ctx context.Context, n *apid.Node, action, version string) (*machine.EtcdClusterDowngrade, error) {
	var out struct {
		ClusterVersion string `json:"clusterVersion"`
	}
	if err := call(ctx, n, "etcd/downgrade", map[string]any{"action": action, "version": version}, &out); err != nil {
		return nil, err
	}
	return &machine.EtcdClusterDowngrade{ClusterVersion: out.ClusterVersion}, nil
}

// EtcdDowngradeValidate asks etcd whether it could downgrade to the version.
func (s *Service) EtcdDowngradeValidate(ctx context.Context, req *machine.EtcdDowngradeValidateRequest) (*machine.EtcdDowngradeValidateResponse, error) {
	msgs, err := answer(ctx, s.lab, func(ctx context.Context, n *apid.Node) (*machine.EtcdDowngradeValidate, error) {
		d, err := etcdDowngrade(ctx, n, "validate", req.GetVersion())
		return &machine.EtcdDowngradeValidate{ClusterDowngrade: d}, err
	}, func(m *machine.EtcdDowngradeValidate, md *common.Metadata) { m.Metadata = md })
	if err != nil {
		return nil, err
	}
	return &machine.EtcdDowngradeValidateResponse{Messages: msgs}, nil
}

// EtcdDowngradeEnable starts etcd's downgrade to the version.
func (s *Service) EtcdDowngradeEnable(ctx context.Context, req *machine.EtcdDowngradeEnableRequest) (*machine.EtcdDowngradeEnableResponse, error) {
	msgs, err := answer(ctx, s.lab, func(ctx context.Context, n *apid.Node) (*machine.EtcdDowngradeEnable, error) {
		d, err := etcdDowngrade(ctx, n, "enable", req.GetVersion())
		return &machine.EtcdDowngradeEnable{ClusterDowngrade: d}, err
	}, func(m *machine.EtcdDowngradeEnable, md *common.Metadata) { m.Metadata = md })
	if err != nil {
		return nil, err
	}
	return &machine.EtcdDowngradeEnableResponse{Messages: msgs}, nil
}

// EtcdDowngradeCancel ends etcd's downgrade; the cluster version stays where it is.
func (s *Service) EtcdDowngradeCancel(ctx context.Context, _ *emptypb.Empty) (*machine.EtcdDowngradeCancelResponse, error) {
	msgs, err := answer(ctx, s.lab, func(ctx context.Context, n *apid.Node) (*machine.EtcdDowngradeCancel, error) {
		d, err := etcdDowngrade(ctx, n, "cancel", "")
		return &machine.EtcdDowngradeCancel{ClusterDowngrade: d}, err
	}, func(m *machine.EtcdDowngradeCancel, md *common.Metadata) { m.Metadata = md })
	if err != nil {
		return nil, err
	}
	return &machine.EtcdDowngradeCancelResponse{Messages: msgs}, nil
}
