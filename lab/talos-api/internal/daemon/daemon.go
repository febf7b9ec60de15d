// Package daemon calls the lab daemon, the one process that owns the simulated nodes' state
// (power, versions, etcd membership, faults) and the lab's Kubernetes objects. This server only
// speaks Talos's wire protocol; every question about a node is answered there.
package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Client talks to one cluster's part of the lab daemon's API.
type Client struct {
	BaseURL string
	HTTP    *http.Client
}

// New returns a client for the daemon API at baseURL (e.g. http://127.0.0.1:4000/clusters/c1).
func New(baseURL string) *Client {
	// Upgrades and reboots are held for minutes by the lab on purpose; no overall timeout here.
	// An idle connection is dropped here long before the daemon's keep-alive ends (lab/daemon/api.ts):
	// a POST on a connection the server is closing fails with EOF and is never retried, which showed
	// as one node's etcd status failing at random under load.
	transport := &http.Transport{MaxIdleConnsPerHost: 64, IdleConnTimeout: 5 * time.Second}
	return &Client{BaseURL: baseURL, HTTP: &http.Client{Transport: transport}}
}

type apiError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

type envelope struct {
	Error  *apiError       `json:"error,omitempty"`
	Result json.RawMessage `json:"result,omitempty"`
}

var codeNames = map[string]codes.Code{
	"Unavailable":        codes.Unavailable,
	"FailedPrecondition": codes.FailedPrecondition,
	"InvalidArgument":    codes.InvalidArgument,
	"NotFound":           codes.NotFound,
	"Unknown":            codes.Unknown,
	"Unimplemented":      codes.Unimplemented,
	"AlreadyExists":      codes.AlreadyExists,
	"PermissionDenied":   codes.PermissionDenied,
	"Canceled":           codes.Canceled,
	"DeadlineExceeded":   codes.DeadlineExceeded,
	"Internal":           codes.Internal,
}

// hangCode is the daemon's answer for a call the real node would never answer by itself.
const hangCode = "Hang"

// Call posts request to /talos/<op> and decodes the result into result. An error the lab reports for
// the node comes back as a gRPC status error with the code Talos would use.
func (c *Client) Call(ctx context.Context, op string, request, result any) error {
	body, err := json.Marshal(request)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.BaseURL+"/talos/"+op, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := c.HTTP.Do(req)
	if err != nil {
		return status.Errorf(codes.Internal, "talos lab daemon did not answer %s: %v", op, err)
	}
	defer res.Body.Close() //nolint:errcheck
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		return status.Errorf(codes.Internal, "talos lab daemon %s: %v", op, err)
	}
	var env envelope
	if err = json.Unmarshal(raw, &env); err != nil {
		return status.Errorf(codes.Internal, "talos lab daemon %s answered %d: %s", op, res.StatusCode, raw)
	}
	if env.Error != nil && env.Error.Code == hangCode {
		// The node's call blocks until its caller gives up (requireLocalEtcd in lab/talos/etcd.ts): the lab
		// answers only that it would, and the wait happens here, where the caller's context is.
		<-ctx.Done()
		return status.FromContextError(ctx.Err()).Err()
	}
	if env.Error != nil {
		code, ok := codeNames[env.Error.Code]
		if !ok {
			code = codes.Unknown
		}
		return status.Error(code, env.Error.Message)
	}
	if res.StatusCode != http.StatusOK {
		return status.Errorf(codes.Internal, "talos lab daemon %s answered %d: %s", op, res.StatusCode, raw)
	}
	if result == nil || len(env.Result) == 0 {
		return nil
	}
	return json.Unmarshal(env.Result, result)
}
