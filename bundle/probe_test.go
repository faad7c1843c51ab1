package bundle

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestProbeIDMappedLayers: the probe `strata check` runs (here for a store
// not made yet, so on the nearest directory that exists) agrees with
// TestIDMappedBundles (which needs idmapped layers on every kernel the
// suites run on: 6.1, 6.12, this host's), and leaves no mount or directory.
func TestProbeIDMappedLayers(t *testing.T) {
	requireRoot(t)
	tmp := t.TempDir()
	res := ProbeIDMappedLayers(filepath.Join(tmp, "store", "not-made-yet"))
	if !res.OK {
		t.Fatalf("probe: %s", res.Reason)
	}
	if res.Detail != "in "+tmp {
		t.Errorf("detail %q, want where it tried (%s)", res.Detail, tmp)
	}
	if left, err := os.ReadDir(tmp); err != nil || len(left) != 0 {
		t.Errorf("the probe left %v (%v)", left, err)
	}
	mi, _ := os.ReadFile("/proc/self/mountinfo")
	if strings.Contains(string(mi), tmp) || strings.Contains(string(mi), "strata-idmap") {
		t.Errorf("the probe left a mount:\n%s", mi)
	}
}
