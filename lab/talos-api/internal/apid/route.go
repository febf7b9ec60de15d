package apid

import (
	"context"
	"fmt"
	"net"
	"sync"

	"github.com/siderolabs/talos/pkg/machinery/api/common"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

// Route is where apid's director sends one call (internal/app/apid/pkg/director): to the node that
// received it, to the single "node" of the metadata (one2one), or to every "nodes" (one2many, each
// answer tagged with the target's address and per-target errors folded into the answer).
type Route struct {
	Local   *Node
	Targets []string
	Many    bool
}

// LocalNode is the node whose listener accepted the call.
func (l *Lab) LocalNode(ctx context.Context) (*Node, error) {
	p, ok := peer.FromContext(ctx)
	if !ok || p.LocalAddr == nil {
		return nil, status.Error(codes.Internal, "lab: no local address on the call")
	}
	host, _, err := net.SplitHostPort(p.LocalAddr.String())
	if err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	n := l.NodeByIP(host)
	if n == nil {
		return nil, status.Errorf(codes.Internal, "lab: no node at %s", host)
	}
	return n, nil
}

// RouteOf reads the call's metadata as apid does.
func (l *Lab) RouteOf(ctx context.Context, cosi bool) (Route, error) {
	local, err := l.LocalNode(ctx)
	if err != nil {
		return Route{}, err
	}
	md, _ := metadata.FromIncomingContext(ctx)
	nodes, okNodes := md["nodes"]
	node, okNode := md["node"]
	if okNode && len(node) != 1 {
		return Route{}, status.Error(codes.InvalidArgument, "node metadata must be single-valued")
	}
	switch {
	case okNodes:
		if cosi {
			return Route{}, status.Error(codes.InvalidArgument, "one-2-many proxying is not supported for COSI methods")
		}
		return Route{Local: local, Targets: nodes, Many: true}, nil
	case okNode:
		return Route{Local: local, Targets: node}, nil
	default:
		return Route{Local: local, Targets: []string{local.IP}}, nil
	}
}

// Backend is the node a target names, as apid's dial to it would find it.
func (l *Lab) Backend(r Route, target string) (*Node, error) {
	if target == r.Local.IP {
		return r.Local, nil
	}
	host := target
	if h, _, err := net.SplitHostPort(target); err == nil {
		host = h
	}
	n := l.NodeByIP(host)
	if n == nil || n.Mode() == Off {
		return nil, Unreachable(host)
	}
	// apid dials a node with the cluster's CA: a node in maintenance mode, or another machine at its
	// address (Foreign), serves a certificate that CA did not sign.
	if n.Cluster != r.Local.Cluster || n.Mode() == Maintenance || n.Mode() == Foreign {
		return nil, status.Error(codes.Unavailable,
			`connection error: desc = "transport: authentication handshake failed: tls: failed to verify certificate: x509: certificate signed by unknown authority"`)
	}
	return n, nil
}

// Unreachable is the error of a dial to a node that does not listen.
func Unreachable(host string) error {
	return status.Errorf(codes.Unavailable,
		`connection error: desc = "transport: Error while dialing: dial tcp %s: connect: connection refused"`,
		net.JoinHostPort(host, fmt.Sprint(TalosPort)))
}

// ErrorMetadata is how one2many proxying reports one target's failure inside the answer.
func ErrorMetadata(target string, err error) *common.Metadata {
	return &common.Metadata{Hostname: target, Error: err.Error(), Status: status.Convert(err).Proto()}
}

// Unary runs call for every target of the route. One target: its answer or its error. Many: every
// answer with Metadata{Hostname}, a failed target as an empty message whose metadata holds the error.
func Unary[M any](ctx context.Context, l *Lab, r Route, call func(context.Context, *Node) (*M, error),
	setMeta func(*M, *common.Metadata),
) ([]*M, error) {
	if !r.Many {
		n, err := l.Backend(r, r.Targets[0])
		if err != nil {
			return nil, err
		}
		m, err := call(ctx, n)
		if err != nil {
			return nil, err
		}
		return []*M{m}, nil
	}
	out := make([]*M, len(r.Targets))
	var wg sync.WaitGroup
	for i, target := range r.Targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n, err := l.Backend(r, target)
			var m *M
			if err == nil {
				m, err = call(ctx, n)
			}
			if err != nil {
				m = new(M)
				setMeta(m, ErrorMetadata(target, err))
				out[i] = m
				return
			}
			setMeta(m, &common.Metadata{Hostname: target})
			out[i] = m
		}()
	}
	wg.Wait()
	return out, nil
}

// Single resolves a route that must name exactly one node (streams and COSI calls).
func (l *Lab) Single(r Route) (*Node, error) {
	if r.Many && len(r.Targets) != 1 {
		return nil, status.Error(codes.InvalidArgument, "this call takes exactly one node")
	}
	return l.Backend(r, r.Targets[0])
}
