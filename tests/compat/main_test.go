// Package compat is a differential test suite: every test runs the same
// command lines against runc (the reference, Debian's 1.1.5 at
// /usr/sbin/runc) and strata, each with its own --root, bundles, container
// IDs and cgroups, and compares exit statuses, stdout (exactly, or by the
// shape of its JSON or table), whether stderr is empty, and what the
// commands left behind (pid files, states). Where strata deliberately
// differs, the case says why (docs/compat.md lists them all).
//
// runc missing is a failure, not a skip: without it nothing is compared.
// $COMPAT_RUNC names another reference binary; $STRATA_BINARY a prebuilt
// strata (else one is built through the Makefile).
package compat

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"sync"
	"syscall"
	"testing"

	"github.com/strata-runtime/strata/tests/cgroupfs"
	"github.com/strata-runtime/strata/tests/rootfs"
	tu "github.com/strata-runtime/strata/tests/testutil"
)

// A runtime under comparison. runtimes[0] is the reference.
type runtime struct {
	name string // "runc" or "strata": also what normalisation replaces by $RT
	path string
}

var (
	runtimes [2]*runtime
	// baseRootfs is the busybox rootfs with the probe in /bin, which every
	// bundle's rootfs hard-links.
	baseRootfs string
)

// tally counts what was compared, for the closing summary.
var tally struct {
	sync.Mutex
	lines, notes, deliberate int
	diffs                    []string
}

func TestMain(m *testing.M) { os.Exit(mainCode(m)) }

func mainCode(m *testing.M) int {
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "compat: these tests need root")
		return 1
	}
	runc := os.Getenv("COMPAT_RUNC")
	if runc == "" {
		runc = "/usr/sbin/runc"
	}
	runcPath, err := exec.LookPath(runc)
	if err != nil {
		fmt.Fprintf(os.Stderr, "compat: FAIL: the reference runtime %s is not installed (apt-get install runc): %v\n", runc, err)
		return 1
	}
	tmp, err := os.MkdirTemp("", "strata-compat-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "compat:", err)
		return 1
	}
	defer os.RemoveAll(tmp)
	strataPath, err := strataBinary(tmp)
	if err != nil {
		fmt.Fprintln(os.Stderr, "compat:", err)
		return 1
	}
	if baseRootfs, err = makeBaseRootfs(tmp); err != nil {
		fmt.Fprintln(os.Stderr, "compat:", err)
		return 1
	}
	runtimes = [2]*runtime{{"runc", runcPath}, {"strata", strataPath}}
	fmt.Fprintf(os.Stderr, "compat: %s against %s\n", strataPath, runcPath)

	code := m.Run()

	for _, h := range cgroupfs.Hierarchies() {
		// Other test packages may still use it: failure is not an error.
		syscall.Rmdir(filepath.Join(h, tu.CgroupParent))
	}
	tally.Lock()
	defer tally.Unlock()
	sort.Strings(tally.diffs)
	for _, d := range tally.diffs {
		fmt.Println("compat: difference:", d)
	}
	fmt.Printf("compat: %d command lines compared (and %d observations), %d differences, %d deliberate\n",
		tally.lines, tally.notes, len(tally.diffs), tally.deliberate)
	return code
}

// makeBaseRootfs copies the busybox test rootfs into dir and builds the
// probe (static, no cgo: the rootfs has no libc) into its /bin.
func makeBaseRootfs(dir string) (string, error) {
	src, err := rootfs.Cached()
	if err != nil {
		return "", err
	}
	base := filepath.Join(dir, "rootfs")
	if out, err := exec.Command("cp", "-a", src, base).CombinedOutput(); err != nil {
		return "", fmt.Errorf("copying the rootfs: %v: %s", err, out)
	}
	build := exec.Command("go", "build", "-o", filepath.Join(base, "bin", "probe"), "./probe")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building the probe: %v\n%s", err, out)
	}
	return base, nil
}

// strataBinary is $STRATA_BINARY, or strata built into dir through the
// Makefile, the one place that knows how strata is built.
func strataBinary(dir string) (string, error) {
	if p := os.Getenv("STRATA_BINARY"); p != "" {
		return filepath.Abs(p)
	}
	repo, err := tu.RepoRoot()
	if err != nil {
		return "", err
	}
	out := filepath.Join(dir, "strata")
	build := exec.Command("make", "--no-print-directory", "-s", "strata", "OUT="+out)
	build.Dir = repo
	if msg, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building strata: %v\n%s", err, msg)
	}
	return out, nil
}
