//go:build tools

// Keeps talosctl's packages in this module's requirements so `go build
// github.com/siderolabs/talos/cmd/talosctl` builds the pinned client with the versions above.
package tools

import _ "github.com/siderolabs/talos/cmd/talosctl/cmd"
