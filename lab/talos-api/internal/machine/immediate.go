package machine

import (
	"fmt"
	"reflect"
	"strings"

	"github.com/siderolabs/talos/pkg/machinery/config/configloader"
	"github.com/siderolabs/talos/pkg/machinery/config/types/v1alpha1"
)

// Which machine config changes Talos applies while the node runs, and which only a reboot applies.
// Read in Talos v1.11.3, v1.12.5 and v1.13.8 (the same list in each):
// internal/app/machined/pkg/runtime/v1alpha1/v1alpha1_runtime.go, (*Runtime).CanApplyImmediate,
// used by ApplyConfiguration in internal/app/machined/internal/server/v1alpha1/v1alpha1_server.go:
// mode AUTO becomes REBOOT when a change lies outside the list, NO_REBOOT is refused (InvalidArgument).
// The list is kept here as field names of machinery's v1alpha1 types.

// liveMachineFields are the .machine fields a running node takes without a reboot.
var liveMachineFields = []string{
	"MachineCA", "MachineAcceptedCAs", "MachineTime", "MachineCertSANs", "MachineInstall", "MachineNetwork",
	"MachineSysfs", "MachineSysctls", "MachineLogging", "MachineControlPlane", "MachineKubelet",
	"MachineKernel", "MachineRegistries", "MachinePods", "MachineSeccompProfiles", "MachineNodeAnnotations",
	"MachineNodeLabels", "MachineNodeTaints",
}

// liveFeatureFields are the .machine.features fields a running node takes without a reboot.
var liveFeatureFields = []string{
	"KubernetesTalosAPIAccessConfig", "KubePrismSupport", "HostDNSSupport", "ImageCacheSupport",
	"FeatureNodeAddressSortAlgorithm",
}

// sameFields sets each named field of `to` to its value in `from` (both pointers to one struct type).
func sameFields(to, from any, names []string) {
	t, f := reflect.ValueOf(to).Elem(), reflect.ValueOf(from).Elem()
	for _, name := range names {
		if field := t.FieldByName(name); field.IsValid() && field.CanSet() {
			field.Set(f.FieldByName(name))
		}
	}
}

// liveChange says whether `next` differs from `current` only where a running node applies a change
// at once; otherwise the error Talos gives for a no-reboot apply.
func liveChange(current, next []byte) error {
	cur, err := configloader.NewFromBytes(current)
	if err != nil {
		return fmt.Errorf("the running config does not load: %w", err)
	}
	nxt, err := configloader.NewFromBytes(next)
	if err != nil {
		return fmt.Errorf("the new config does not load: %w", err)
	}
	was, will := cur.RawV1Alpha1(), nxt.RawV1Alpha1()
	if was == nil || will == nil {
		return fmt.Errorf("not a v1alpha1 config")
	}
	// What is left of the new config once every live field is taken from the running one.
	rest := will.DeepCopy()
	rest.ConfigDebug = was.ConfigDebug
	rest.ClusterConfig = was.ClusterConfig
	if rest.MachineConfig != nil && was.MachineConfig != nil {
		sameFields(rest.MachineConfig, was.MachineConfig, liveMachineFields)
		if rest.MachineConfig.MachineFeatures != nil && was.MachineConfig.MachineFeatures != nil {
			sameFields(rest.MachineConfig.MachineFeatures, was.MachineConfig.MachineFeatures, liveFeatureFields)
		}
	}
	if !reflect.DeepEqual(was, rest) {
		return fmt.Errorf("this config change can't be applied in immediate mode\ndiff: %s", changedMachineFields(was, rest))
	}
	return nil
}

// changedMachineFields names the top-level .machine fields that differ, for the refusal's text.
func changedMachineFields(was, rest *v1alpha1.Config) string {
	if was.MachineConfig == nil || rest.MachineConfig == nil {
		return "machine"
	}
	a, b := reflect.ValueOf(was.MachineConfig).Elem(), reflect.ValueOf(rest.MachineConfig).Elem()
	changed := ""
	for i := 0; i < a.NumField(); i++ {
		if !reflect.DeepEqual(a.Field(i).Interface(), b.Field(i).Interface()) {
			if changed != "" {
				changed += ", "
			}
			changed += "machine." + strings.Split(a.Type().Field(i).Tag.Get("yaml"), ",")[0]
		}
	}
	return changed
}
