// Package apid serves the Talos API of every simulated node of a lab: each node listens on its own
// loopback address at Talos's port 50000 (apid with mutual TLS while it runs, the maintenance API
// without client certificates before its first config, nothing while it is off or rebooting), and
// any node proxies to the others as apid does, by the "node"/"nodes" gRPC metadata.
package apid

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"talos-upgrade/lab/talos-api/internal/daemon"
	"talos-upgrade/lab/talos-api/internal/pki"
)

// TalosPort is apid's port on every Talos node.
const TalosPort = 50000

// Mode is what a node's Talos API answers with right now.
type Mode string

const (
	// Off: the VM is destroyed, powered off or rebooting; connections are refused.
	Off Mode = "off"
	// Maintenance: a fresh VM waiting for its machine config; no client certificate is needed.
	Maintenance Mode = "maintenance"
	// Running: apid with mutual TLS from the cluster's CA.
	Running Mode = "running"
	// Foreign: another machine answers at the node's address (a fault): a Talos API with a certificate
	// the cluster's CA did not sign, which wants client certificates of its own CA.
	Foreign Mode = "foreign"
)

// Cluster is one lab cluster: its CA and the daemon API that owns its state.
type Cluster struct {
	Name   string
	CA     *pki.CA
	Daemon *daemon.Client
}

// Node is one simulated Talos node.
type Node struct {
	IP      string
	Name    string
	Cluster *Cluster

	// Events is the node's runtime event buffer (Events RPC, upgrade --wait).
	Events *Hub

	mu       sync.Mutex
	boot     uint64
	gone     chan struct{}
	mode     Mode
	listener net.Listener
	conns    map[*trackedConn]struct{}
	apidCert tls.Certificate
	maintCrt tls.Certificate
}

// Boot counts the node's mode changes: what a node keeps in memory lives for one boot.
func (n *Node) Boot() uint64 {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.boot
}

// Gone is closed when this boot of the node ends, so streams proxied to it end as apid's would.
func (n *Node) Gone() <-chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.gone
}

// Mode reports what the node's API answers with now.
func (n *Node) Mode() Mode {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.mode
}

// Lab holds every node of every cluster the server answers for.
type Lab struct {
	mu    sync.RWMutex
	nodes map[string]*Node

	apid        *grpc.Server
	maintenance *grpc.Server
	apidConns   *connQueue
	maintConns  *connQueue

	// OnBoot runs in its own goroutine each time a node comes up running: what machined's
	// controllers start at boot (the bootstrap manifests' apply on a control plane node).
	OnBoot func(n *Node, boot uint64)
}

// NewLab builds the two gRPC servers; register services on them with Apid() and Maintenance().
func NewLab() *Lab {
	l := &Lab{nodes: map[string]*Node{}, apidConns: newConnQueue(), maintConns: newConnQueue()}
	l.apid = grpc.NewServer(grpc.Creds(credentials.NewTLS(&tls.Config{
		MinVersion:         tls.VersionTLS12,
		ClientAuth:         tls.RequireAndVerifyClientCert,
		GetConfigForClient: l.apidTLS,
	})))
	l.maintenance = grpc.NewServer(grpc.Creds(credentials.NewTLS(&tls.Config{
		MinVersion:         tls.VersionTLS12,
		ClientAuth:         tls.NoClientCert,
		GetConfigForClient: l.maintenanceTLS,
	})))
	return l
}

// Apid is the server of configured nodes (mutual TLS).
func (l *Lab) Apid() *grpc.Server { return l.apid }

// Maintenance is the server of nodes in maintenance mode.
func (l *Lab) Maintenance() *grpc.Server { return l.maintenance }

// Serve runs both gRPC servers until Stop.
func (l *Lab) Serve() {
	go l.apid.Serve(l.apidConns)         //nolint:errcheck
	go l.maintenance.Serve(l.maintConns) //nolint:errcheck
}

// Stop closes every listener and both servers.
func (l *Lab) Stop() {
	l.mu.RLock()
	for _, n := range l.nodes {
		n.mu.Lock()
		if n.listener != nil {
			n.listener.Close() //nolint:errcheck
		}
		n.mu.Unlock()
	}
	l.mu.RUnlock()
	l.apid.Stop()
	l.maintenance.Stop()
}

// AddNode registers a node; it listens once SetMode says it is up.
func (l *Lab) AddNode(cluster *Cluster, ip, name string) error {
	addr := net.ParseIP(ip)
	if addr == nil {
		return fmt.Errorf("node %s: %q is not an IP address", name, ip)
	}
	server, err := cluster.CA.ServerCertificate(addr, name)
	if err != nil {
		return err
	}
	apidCert, err := tls.X509KeyPair(server.Crt, server.Key)
	if err != nil {
		return err
	}
	self, err := pki.SelfSigned(addr)
	if err != nil {
		return err
	}
	maintCrt, err := tls.X509KeyPair(self.Crt, self.Key)
	if err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.nodes[ip] = &Node{IP: ip, Name: name, Cluster: cluster, Events: NewHub(), mode: Off, gone: make(chan struct{}),
		conns:    map[*trackedConn]struct{}{},
		apidCert: apidCert, maintCrt: maintCrt}
	return nil
}

// NodeByIP finds a node by its address.
func (l *Lab) NodeByIP(ip string) *Node {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.nodes[ip]
}

// SetMode opens, switches or closes a node's listener. Going off drops every connection and the
// node's events, as a power cut does; coming up running publishes its boot, whose machine status is
// ready only when the node's kubelet is (machined's nodeReady condition).
func (l *Lab) SetMode(ip string, mode Mode, ready bool) error {
	if mode != Off && mode != Maintenance && mode != Running && mode != Foreign {
		return fmt.Errorf("unknown mode %q (off, maintenance, running, foreign)", mode)
	}
	n := l.NodeByIP(ip)
	if n == nil {
		return fmt.Errorf("no lab node %s", ip)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if mode == n.mode {
		return nil
	}
	previous := n.mode
	n.mode = mode
	n.boot++
	close(n.gone)
	n.gone = make(chan struct{})
	if previous != Off {
		// A mode change is a reboot: clients reconnect and see the new mode's TLS.
		if n.listener != nil {
			n.listener.Close() //nolint:errcheck
			n.listener = nil
		}
		for c := range n.conns {
			c.Conn.Close() //nolint:errcheck // the raw close: trackedConn.Close would take n.mu again
		}
		n.conns = map[*trackedConn]struct{}{}
		n.Events.Down()
	}
	if mode == Off {
		return nil
	}
	lis, err := net.Listen("tcp", net.JoinHostPort(ip, fmt.Sprint(TalosPort)))
	if err != nil {
		n.mode = Off
		return fmt.Errorf("node %s cannot listen on %s:%d: %w", n.Name, ip, TalosPort, err)
	}
	n.listener = lis
	go l.accept(n, lis)
	if mode == Running {
		n.Events.PublishBoot(ready)
		if l.OnBoot != nil {
			go l.OnBoot(n, n.boot)
		}
	}
	return nil
}

// accept hands each connection to the server that matches the node's mode at that moment.
func (l *Lab) accept(n *Node, lis net.Listener) {
	for {
		raw, err := lis.Accept()
		if err != nil {
			return
		}
		conn := &trackedConn{Conn: raw, node: n}
		n.mu.Lock()
		if n.listener != lis {
			// Accepted just before a mode change: it belongs to the boot that ended.
			n.mu.Unlock()
			raw.Close() //nolint:errcheck
			return
		}
		n.conns[conn] = struct{}{}
		n.mu.Unlock()
		switch n.Mode() {
		case Running, Foreign:
			l.apidConns.push(conn)
		case Maintenance:
			l.maintConns.push(conn)
		default:
			conn.Close() //nolint:errcheck
		}
	}
}

func (l *Lab) localNode(hello *tls.ClientHelloInfo) (*Node, error) {
	host, _, err := net.SplitHostPort(hello.Conn.LocalAddr().String())
	if err != nil {
		return nil, err
	}
	n := l.NodeByIP(host)
	if n == nil {
		return nil, fmt.Errorf("no lab node at %s", host)
	}
	return n, nil
}

func (l *Lab) apidTLS(hello *tls.ClientHelloInfo) (*tls.Config, error) {
	n, err := l.localNode(hello)
	if err != nil {
		return nil, err
	}
	if n.Mode() == Foreign {
		// Its own certificate and its own clients: no certificate of this cluster passes, and none is
		// offered with --insecure, so every handshake fails, as with another cluster's apid.
		return &tls.Config{
			MinVersion:   tls.VersionTLS12,
			Certificates: []tls.Certificate{n.maintCrt},
			ClientAuth:   tls.RequireAndVerifyClientCert,
			ClientCAs:    x509.NewCertPool(),
			NextProtos:   []string{"h2"},
		}, nil
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{n.apidCert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    n.Cluster.CA.Pool,
		NextProtos:   []string{"h2"},
	}, nil
}

func (l *Lab) maintenanceTLS(hello *tls.ClientHelloInfo) (*tls.Config, error) {
	n, err := l.localNode(hello)
	if err != nil {
		return nil, err
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{n.maintCrt},
		ClientAuth:   tls.NoClientCert,
		NextProtos:   []string{"h2"},
	}, nil
}

// connQueue is a net.Listener fed by the nodes' accept loops.
type connQueue struct {
	conns  chan net.Conn
	closed chan struct{}
	once   sync.Once
}

func newConnQueue() *connQueue {
	return &connQueue{conns: make(chan net.Conn), closed: make(chan struct{})}
}

func (q *connQueue) push(c net.Conn) {
	select {
	case q.conns <- c:
	case <-q.closed:
		c.Close() //nolint:errcheck
	}
}

func (q *connQueue) Accept() (net.Conn, error) {
	select {
	case c := <-q.conns:
		return c, nil
	case <-q.closed:
		return nil, net.ErrClosed
	}
}

func (q *connQueue) Close() error {
	q.once.Do(func() { close(q.closed) })
	return nil
}

func (q *connQueue) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: TalosPort} }

// trackedConn leaves its node's connection set when closed, so a power cut can close the rest.
type trackedConn struct {
	net.Conn
	node *Node
	once sync.Once
}

func (c *trackedConn) Close() error {
	c.once.Do(func() {
		c.node.mu.Lock()
		delete(c.node.conns, c)
		c.node.mu.Unlock()
	})
	return c.Conn.Close()
}
