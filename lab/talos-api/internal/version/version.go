// Package version compares the Talos versions of lab nodes, where Talos's behaviour differs.
package version

import (
	"strconv"
	"strings"
)

// AtLeast reports whether v ("1.12.0" or "v1.12.0") is major.minor or later.
func AtLeast(v string, major, minor int) bool {
	parts := strings.SplitN(strings.TrimPrefix(v, "v"), ".", 3)
	if len(parts) < 2 {
		return false
	}
	maj, err1 := strconv.Atoi(parts[0])
	min, err2 := strconv.Atoi(parts[1])
	if err1 != nil || err2 != nil {
		return false
	}
	return maj > major || (maj == major && min >= minor)
}
