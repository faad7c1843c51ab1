//go:build cri

package cri

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	tu "github.com/strata-runtime/strata/tests/testutil"
)

// crictl runs crictl against the private containerd, in the test's network
// namespace (streaming exec reaches the CRI streaming server on its
// loopback), with the test's config file (never /etc/crictl.yaml).
func (e *criEnv) crictl(t *testing.T, args ...string) tu.Result {
	t.Helper()
	return tu.Exec(t, e.ns.command(crictlPath(), append([]string{"--config", e.crictlCfg}, args...)...))
}

// must fails the test unless r succeeded, and returns its trimmed stdout.
func must(t *testing.T, r tu.Result) string {
	t.Helper()
	if r.Code != 0 {
		t.Fatalf("unexpected failure: %s", r)
	}
	return strings.TrimSpace(r.Stdout)
}

// writeJSON writes v as JSON into the test's directory and returns the path.
func (e *criEnv) writeJSON(t *testing.T, name string, v any) string {
	t.Helper()
	p := filepath.Join(e.dir, name)
	writeFile(t, p, string(mustJSON(t, v)))
	return p
}

// inspect is `crictl inspect ID` (or inspectp), decoded into v.
func (e *criEnv) inspect(t *testing.T, cmd, id string, v any) {
	t.Helper()
	out := must(t, e.crictl(t, cmd, "-o", "json", id))
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("crictl %s %s: %v\n%s", cmd, id, err, out)
	}
}

// runtimeList is the IDs `RUNTIME --root ROOT list -q` knows: what the shim
// really made with the handler's binary.
func runtimeList(t *testing.T, h handler) []string {
	t.Helper()
	if _, err := os.Stat(h.stateRoot()); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	r := tu.Exec(t, exec.Command(h.binary, "--root", h.stateRoot(), "list", "-q"))
	if r.Code != 0 {
		t.Fatalf("%s list: %s", h.name, r)
	}
	return strings.Fields(r.Stdout)
}
