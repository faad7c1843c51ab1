//go:build e2e

package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/strata-runtime/strata/tests/rootfs"
	tu "github.com/strata-runtime/strata/tests/testutil"
)

// The rootless tests run the runtime (and podman) as a real login user of
// the machine, named by E2E_ROOTLESS_USER: one with ranges in /etc/subuid
// and /etc/subgid and a runtime directory /run/user/<uid> of its own (the
// guests of tests/vm make strata-test for the rootless suite).
// The test binary runs as root, as every suite does, only to prepare and
// check; each command under test runs with the user's uid, gid and login
// environment and no privilege. make e2e leaves them out (-skip): a machine
// without such a user cannot run them, and here they fail rather than skip.
type loginUser struct {
	name, home, xdg string
	uid, gid        int
	subuid, subgid  int // the first id of the user's subordinate range
}

// rootlessLogin looks the user up and checks everything the tests need of
// the machine, failing by name for what is missing.
func rootlessLogin(t *testing.T) *loginUser {
	t.Helper()
	name := os.Getenv("E2E_ROOTLESS_USER")
	if name == "" {
		t.Fatal("E2E_ROOTLESS_USER must name a non-root user with /etc/subuid and /etc/subgid ranges and a /run/user/<uid> (tests/vm's rootless suite runs these tests as strata-test)")
	}
	pw, err := user.Lookup(name)
	if err != nil {
		t.Fatalf("E2E_ROOTLESS_USER %q: %v", name, err)
	}
	u := &loginUser{name: name, home: pw.HomeDir}
	u.uid, _ = strconv.Atoi(pw.Uid)
	u.gid, _ = strconv.Atoi(pw.Gid)
	if u.uid == 0 {
		t.Fatalf("E2E_ROOTLESS_USER %q is root", name)
	}
	for _, tool := range []string{"newuidmap", "newgidmap"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%v: rootless id maps need the uidmap package", err)
		}
	}
	if u.subuid, err = subordinateStart("/etc/subuid", name); err != nil {
		t.Fatal(err)
	}
	if u.subgid, err = subordinateStart("/etc/subgid", name); err != nil {
		t.Fatal(err)
	}
	u.xdg = fmt.Sprintf("/run/user/%d", u.uid)
	if st, err := os.Stat(u.xdg); err != nil || st.Sys().(*syscall.Stat_t).Uid != uint32(u.uid) {
		t.Fatalf("the user's runtime directory %s: %v (want it owned by %s, as logind makes it for a login, or `loginctl enable-linger %[3]s`)", u.xdg, err, name)
	}
	return u
}

// subordinateStart is the first id of name's range in file (/etc/subuid
// format: name:start:count), which must hold at least 65536 ids.
func subordinateStart(file, name string) (int, error) {
	f, err := os.Open(file)
	if err != nil {
		return 0, fmt.Errorf("%s: %v (the user needs a subordinate id range)", file, err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		fields := strings.Split(s.Text(), ":")
		if len(fields) == 3 && fields[0] == name {
			start, err1 := strconv.Atoi(fields[1])
			count, err2 := strconv.Atoi(fields[2])
			if err1 == nil && err2 == nil && count >= 65536 {
				return start, nil
			}
		}
	}
	return 0, fmt.Errorf("%s has no range of 65536 ids for %s", file, name)
}

// command is name args run as the user, with its login environment.
func (u *loginUser) command(dir string, env []string, name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append([]string{"PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", "HOME=" + u.home, "USER=" + u.name,
		"LOGNAME=" + u.name, "XDG_RUNTIME_DIR=" + u.xdg}, env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(u.uid), Gid: uint32(u.gid), Groups: []uint32{}}}
	return cmd
}

// userDir is a directory of workDir owned by the user.
func (u *loginUser) userDir(t *testing.T, dir, name string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.Mkdir(p, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(p, u.uid, u.gid); err != nil {
		t.Fatal(err)
	}
	return p
}

// runtimeEntries lists what the runtime keeps in the user's runtime
// directory: <xdg>/<runtime>/ and below, relative to it.
func (u *loginUser) runtimeEntries() map[string]bool {
	return entriesBelow(filepath.Join(u.xdg, filepath.Base(tu.RuntimePath())))
}

// specBundle makes the user's busybox bundle in dir: the test rootfs, and
// the config of `spec --rootless` run as the user.
func (u *loginUser) specBundle(t *testing.T, dir string) string {
	t.Helper()
	bundle := u.userDir(t, dir, "bundle")
	src, err := rootfs.Cached()
	if err != nil {
		t.Fatal(err)
	}
	// The rootfs stays root's (readable by all): unmapped in the user's
	// namespace, it shows as nobody's, and busybox runs all the same.
	must(t, tu.Exec(t, exec.Command("cp", "-a", src, filepath.Join(bundle, "rootfs"))))
	must(t, tu.Exec(t, u.command(bundle, nil, tu.RuntimePath(), "spec", "--rootless")))
	return bundle
}

// TestRootlessRun: as the user, `spec --rootless`, then `run` of the busybox
// bundle: the container's root is the user (uid and gid 0 inside, mapped to
// the user's own ids, written without newuidmap), its state lives under the
// user's runtime directory and nothing of it is left there after delete.
// The same with the user's subordinate range mapped as well (1..65536),
// which only newuidmap and newgidmap may write.
func TestRootlessRun(t *testing.T) {
	u := rootlessLogin(t)
	dir := workDir(t, "rootless")
	bundle := u.specBundle(t, dir)
	before := u.runtimeEntries()

	script := "id; cat /proc/self/uid_map /proc/self/gid_map"
	t.Run("own-ids", func(t *testing.T) {
		setProcess(t, bundle, nil, "sh", "-c", script)
		out := u.runContainer(t, bundle)
		want := fmt.Sprintf("uid=0(root) gid=0(root)\n0 %d 1\n0 %d 1\n", u.uid, u.gid)
		if normalizeMaps(out) != want {
			t.Errorf("inside: %q, want %q (root mapped to the user)", out, want)
		}
		u.nothingLeft(t, before)
	})
	t.Run("subordinate-ids", func(t *testing.T) {
		setProcess(t, bundle, func(s *specs.Spec) {
			s.Linux.UIDMappings = append(s.Linux.UIDMappings, specs.LinuxIDMapping{ContainerID: 1, HostID: uint32(u.subuid), Size: 65536})
			s.Linux.GIDMappings = append(s.Linux.GIDMappings, specs.LinuxIDMapping{ContainerID: 1, HostID: uint32(u.subgid), Size: 65536})
		}, "sh", "-c", script)
		out := u.runContainer(t, bundle)
		want := fmt.Sprintf("uid=0(root) gid=0(root)\n0 %d 1\n1 %d 65536\n0 %d 1\n1 %d 65536\n", u.uid, u.subuid, u.gid, u.subgid)
		if normalizeMaps(out) != want {
			t.Errorf("inside: %q, want %q (root mapped to the user, 1-65536 to its subordinate ranges)", out, want)
		}
		u.nothingLeft(t, before)
	})
}

// runContainer runs the bundle as the user under a fresh ID (no --root: the
// runtime picks $XDG_RUNTIME_DIR/<runtime>) and returns its stdout.
func (u *loginUser) runContainer(t *testing.T, bundle string) string {
	t.Helper()
	id := tu.UniqueID(t)
	t.Cleanup(func() { tu.Exec(t, u.command(bundle, nil, tu.RuntimePath(), "delete", "--force", id)) })
	return must(t, tu.Exec(t, u.command(bundle, nil, tu.RuntimePath(), "run", id)))
}

// nothingLeft fails the test for anything the runtime added under the user's
// runtime directory since before (its state directory itself may stay, and
// strata's compiled seccomp filters, as in any root).
func (u *loginUser) nothingLeft(t *testing.T, before map[string]bool) {
	t.Helper()
	for rel := range u.runtimeEntries() {
		if !before[rel] && !strings.HasPrefix(rel, ".cache~") {
			t.Errorf("left under %s after delete: %s", u.xdg, rel)
		}
	}
}

// normalizeMaps squeezes the id maps' column padding to single spaces.
func normalizeMaps(s string) string {
	var b strings.Builder
	for _, line := range strings.SplitAfter(s, "\n") {
		if line == "" {
			continue
		}
		if strings.HasPrefix(line, "uid=") {
			b.WriteString(line)
			continue
		}
		b.WriteString(strings.Join(strings.Fields(line), " ") + "\n")
	}
	return b.String()
}

// setProcess rewrites the bundle's config.json (the user's file, written in
// place) with args and no terminal, after mutate.
func setProcess(t *testing.T, bundle string, mutate func(*specs.Spec), args ...string) {
	t.Helper()
	path := filepath.Join(bundle, "config.json")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var s specs.Spec
	if err := json.Unmarshal(data, &s); err != nil {
		t.Fatal(err)
	}
	s.Process.Args, s.Process.Terminal = args, false
	if mutate != nil {
		mutate(&s)
	}
	if data, err = json.Marshal(&s); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}
