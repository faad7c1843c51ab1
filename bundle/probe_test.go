package bundle

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestProbeIDMappedLayers: the probe `strata check` runs agrees with
// TestIDMappedBundles (which needs idmapped layers on every kernel the
// suites run on: 6.1, 6.12, this host's), and leaves no mount or directory.
func TestProbeIDMappedLayers(t *testing.T) {
	requireRoot(t)
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	res := ProbeIDMappedLayers()
	if !res.OK {
		t.Fatalf("probe: %s", res.Reason)
	}
	if res.Detail != "in "+tmp {
		t.Errorf("detail %q, want where it tried (%s)", res.Detail, tmp)
	}
	if left, _ := filepath.Glob(filepath.Join(tmp, "*")); len(left) != 0 {
		t.Errorf("the probe left %v", left)
	}
	mi, _ := os.ReadFile("/proc/self/mountinfo")
	if strings.Contains(string(mi), tmp) || strings.Contains(string(mi), "strata-idmap") {
		t.Errorf("the probe left a mount:\n%s", mi)
	}
}
