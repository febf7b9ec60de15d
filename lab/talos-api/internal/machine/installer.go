package machine

import (
	"strings"

	"github.com/siderolabs/talos/pkg/machinery/api/machine"
	"github.com/siderolabs/talos/pkg/machinery/compatibility"
	"github.com/siderolabs/talos/pkg/machinery/constants"

	"talos-upgrade/lab/talos-api/internal/version"
)

// installerRefusal is what an installer's pre-flight says of the host it would upgrade, "" when it
// installs. The installer asks machined's socket for the host's version and refuses a host older than
// its release's MinimumHostUpgradeVersion or not older than its MaximumHostDowngradeVersion
// (cmd/installer/pkg/install/preflight.go talosVersion, compatibility/talos_version.go UpgradeableFrom
// at v1.14.1; the same check and tables from 1.11, and both the legacy upgrade's installer container
// and the lifecycle service mount the socket). Every installer is judged by machinery 1.14.1's tables,
// whose rows for 1.11 to 1.14 are those releases' own. An installer of a release it has no table for
// (the lab's 2.0.0) is taken to install: nothing here can say what its check will be.
func installerRefusal(host, image string) (message string, exitCode int32) {
	ref, _, _ := strings.Cut(image, "@") // a digest after the tag
	tag := ref[strings.LastIndex(ref, ":")+1:]
	installer, err := compatibility.ParseTalosVersion(&machine.VersionInfo{Tag: tag})
	if err != nil {
		return "", 0
	}
	hostVersion, err := compatibility.ParseTalosVersion(&machine.VersionInfo{Tag: "v" + strings.TrimPrefix(host, "v")})
	if err != nil {
		return "", 0
	}
	err = installer.UpgradeableFrom(hostVersion)
	if err == nil || strings.HasPrefix(err.Error(), "upgrades to version") {
		return "", 0
	}
	// From 1.14 the installer's exit code says what kind of failure it was (pkg/installer/exitcode,
	// the pre-flight's EnvironmentTag); before, every failure exited 1 (cmd/installer root.go at v1.13.8).
	exitCode = constants.ExitUnknownError
	if version.AtLeast(tag, 1, 14) {
		exitCode = constants.ExitEnvironment
	}
	return "pre-flight checks failed: " + err.Error(), int32(exitCode)
}
