//go:build cri

package cri

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	tu "github.com/strata-runtime/strata/tests/testutil"
)

// TestMain checks the tools before any daemon starts: a missing one fails
// the run by name rather than skipping what needs it.
func TestMain(m *testing.M) { tu.MainWithStrata(toolCheck{m}) }

type toolCheck struct{ m *testing.M }

func (c toolCheck) Run() int {
	for _, p := range []string{crictlPath(), cniDir()} {
		if _, err := os.Stat(p); err != nil {
			fmt.Fprintf(os.Stderr, "cri: %v ($CRI_TOOLS names the directory `make cri-tools` fills)\n", err)
			return 1
		}
	}
	if err := checkDriver(); err != nil {
		fmt.Fprintln(os.Stderr, "cri:", err)
		return 1
	}
	for _, name := range []string{containerdBinary(), "docker-registry", "nsenter", "unshare", "ip", runcPath} {
		if _, err := exec.LookPath(name); err != nil {
			fmt.Fprintf(os.Stderr, "cri: %v (apt-get install containerd docker-registry runc iproute2)\n", err)
			return 1
		}
	}
	return c.m.Run()
}

// runcPath is the reference runtime behind the `runc` handler.
const runcPath = "/usr/sbin/runc"

// toolsDir holds crictl, critest and cni/ with the CNI plugins, built from
// tools/go.mod by the Makefile.
func toolsDir() string {
	if d := os.Getenv("CRI_TOOLS"); d != "" {
		return d
	}
	repo, _ := tu.RepoRoot()
	return filepath.Join(repo, "tests", "cri", "bin")
}

func crictlPath() string  { return filepath.Join(toolsDir(), "crictl") }
func critestPath() string { return filepath.Join(toolsDir(), "critest") }
func cniDir() string      { return filepath.Join(toolsDir(), "cni") }
