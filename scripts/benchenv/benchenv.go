// Package benchenv gives the child processes of the benchmark and check
// programs (scripts/*bench, examples/lake) an environment without the
// bridge's and the simulator's settings: a FLEET_IDS or SCHEMA_REGISTRY_URL
// left in the developer's shell must not change what is measured.
package benchenv

import (
	"os"
	"slices"
	"strings"
)

// settings are the prefixes of the bridge's and the simulator's variables.
var settings = []string{"CATENA_", "KAFKA_", "SCHEMA_REGISTRY_", "FLEET_", "BACKFILL_", "POLL_", "SWEEP_",
	"LOOKBACK", "GAP_", "ADMIN_", "LOG_", "SHUTDOWN_", "H3_", "SIM_"}

// Clean returns this process's environment without the variables whose
// names start with one of the settings' prefixes or with one of also.
func Clean(also ...string) []string {
	drop := append(slices.Clip(settings), also...)
	var out []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if !slices.ContainsFunc(drop, func(p string) bool { return strings.HasPrefix(k, p) }) {
			out = append(out, kv)
		}
	}
	return out
}
