package bundle_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	tu "github.com/strata-runtime/strata/tests/testutil"
)

// TestEngineCapabilities: a bundle's root can chown, as under podman (runc's
// three default capabilities lack CAP_CHOWN); --cap-drop takes it away.
func TestEngineCapabilities(t *testing.T) {
	layout := busyboxLayout(t)
	chown := "touch /f && chown 1000:1000 /f && stat -c %u /f"
	b := newBundle(t)
	strata(t, "bundle", "create", b, "--image", "oci:"+layout+":v1", "--store", t.TempDir(), "--", "sh", "-c", chown)
	if out := runBundle(t, b); strings.TrimSpace(out) != "1000" {
		t.Fatalf("chown in the container printed %q", out)
	}
	strata(t, "bundle", "rm", b)

	b = newBundle(t)
	strata(t, "bundle", "create", b, "--image", "oci:"+layout+":v1", "--store", t.TempDir(), "--cap-drop", "chown", "--", "sh", "-c", chown)
	r := tu.BundleContainer(t, b).Run()
	if r.Code == 0 || !strings.Contains(r.Stderr, "Operation not permitted") {
		t.Fatalf("chown without CAP_CHOWN: %s", r)
	}
	strata(t, "bundle", "rm", b)
}

// TestSpecFlags: --cgroups-path and --no-new-privileges reach config.json.
func TestSpecFlags(t *testing.T) {
	b := newBundle(t)
	strata(t, "bundle", "create", b, "--image", "oci:"+busyboxLayout(t)+":v1", "--store", t.TempDir(),
		"--cgroups-path", "/strata-test/flags", "--no-new-privileges", "--cap-add", "NET_RAW")
	data, err := os.ReadFile(filepath.Join(b, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var s specs.Spec
	if err := json.Unmarshal(data, &s); err != nil {
		t.Fatal(err)
	}
	if s.Linux.CgroupsPath != "/strata-test/flags" || !s.Process.NoNewPrivileges || !strings.Contains(strings.Join(s.Process.Capabilities.Bounding, ","), "CAP_NET_RAW") {
		t.Fatalf("config.json: cgroupsPath %q noNewPrivileges %v bounding %v", s.Linux.CgroupsPath, s.Process.NoNewPrivileges, s.Process.Capabilities.Bounding)
	}
	bad, store := newBundle(t), filepath.Join(t.TempDir(), "store")
	_, stderr, err := strataResult("bundle", "create", bad, "--image", "oci:"+busyboxLayout(t)+":v1", "--store", store, "--cap-add", "CAP_BOGUS")
	if err == nil || !strings.Contains(stderr, `--cap-add "CAP_BOGUS": unknown capability`) {
		t.Fatalf("unknown capability: %v %s", err, stderr)
	}
	for _, p := range []string{bad, store} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("the refused create left %s (%v)", p, err)
		}
	}
	strata(t, "bundle", "rm", b)
}
