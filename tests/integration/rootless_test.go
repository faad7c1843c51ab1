package integration

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	tu "github.com/strata-runtime/strata/tests/testutil"
)

// rootlessUser is the runtime run as an unprivileged uid with its own
// XDG_RUNTIME_DIR and no --root: what a user without root gets.
type rootlessUser struct {
	t        *testing.T
	uid      int
	bin, xdg string
	bundle   string
}

// newRootlessUser makes a uid of its own (no passwd entry is needed), a
// link to the runtime it may execute, its runtime dir and a bundle
// directory it owns holding the busybox rootfs (root's, readable by all).
func newRootlessUser(t *testing.T) *rootlessUser {
	c := tu.NewContainer(t, nil)
	u := &rootlessUser{t: t, uid: 20000 + os.Getpid()%10000, bundle: c.Bundle}
	u.bin = filepath.Join(c.Dir, "bin", "runtime")
	u.xdg = filepath.Join(c.Dir, "xdg")
	if err := os.MkdirAll(filepath.Dir(u.bin), 0o755); err != nil {
		t.Fatal(err)
	}
	// The runtime's own directory is 0700. Linked, or copied by cp where
	// it is on another filesystem: a file this test process held open for
	// writing while a parallel test forks would be "text file busy" to
	// exec for as long as that child holds the fd.
	if err := os.Link(tu.RuntimePath(), u.bin); err != nil {
		if out, err := exec.Command("cp", tu.RuntimePath(), u.bin).CombinedOutput(); err != nil {
			t.Fatalf("cp %s: %v: %s", tu.RuntimePath(), err, out)
		}
	}
	if err := os.Mkdir(u.xdg, 0o700); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(c.Bundle, "config.json"))
	for _, d := range []string{u.xdg, c.Bundle} {
		if err := os.Chown(d, u.uid, u.uid); err != nil {
			t.Fatal(err)
		}
	}
	return u
}

// run runs the runtime as the user, in the bundle directory.
func (u *rootlessUser) run(args ...string) tu.Result {
	cmd := exec.Command(u.bin, args...)
	cmd.Dir = u.bundle
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "XDG_RUNTIME_DIR=" + u.xdg, "HOME=" + u.xdg}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(u.uid), Gid: uint32(u.uid), Groups: []uint32{}}}
	return tu.Exec(u.t, cmd)
}

// setArgs changes the process of the bundle's config.json.
func (u *rootlessUser) setArgs(args ...string) {
	path := filepath.Join(u.bundle, "config.json")
	data, err := os.ReadFile(path)
	if err != nil {
		u.t.Fatal(err)
	}
	var s specs.Spec
	if err := json.Unmarshal(data, &s); err != nil {
		u.t.Fatal(err)
	}
	s.Process.Args, s.Process.Terminal = args, false
	if data, err = json.Marshal(&s); err != nil {
		u.t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		u.t.Fatal(err)
	}
}

// The rootless path of issue 14: `spec --rootless`, then run, create,
// exec, kill and delete as a user without root. Inside, the container's
// root is the user; the state lives under $XDG_RUNTIME_DIR and nothing is
// left there after delete.
func TestRootlessLifecycle(t *testing.T) {
	t.Parallel()
	u := newRootlessUser(t)
	tu.Must(t, u.run("spec", "--rootless"))
	u.setArgs("sh", "-c", "id -u; cat /proc/self/uid_map")
	id := tu.UniqueID(t)
	t.Cleanup(func() { u.run("delete", "--force", id) })

	r := tu.Must(t, u.run("run", id))
	if fields := strings.Fields(r.Stdout); len(fields) != 4 || fields[0] != "0" || fields[2] != fmt.Sprint(u.uid) {
		t.Errorf("id and uid_map in the container: %q, want uid 0 mapped to %d", r.Stdout, u.uid)
	}

	u.setArgs("sleep", "60")
	tu.Must(t, u.run("create", id))
	tu.Must(t, u.run("start", id))
	var st struct{ Status string }
	if err := json.Unmarshal([]byte(tu.Must(t, u.run("state", id)).Stdout), &st); err != nil || st.Status != "running" {
		t.Errorf("state: %v %+v, want running", err, st)
	}
	if out := tu.Must(t, u.run("exec", id, "id", "-u")).Stdout; strings.TrimSpace(out) != "0" {
		t.Errorf("exec id -u: %q, want 0", out)
	}
	if _, err := os.Stat(filepath.Join(u.xdg, "strata", id)); tu.IsStrata() && err != nil {
		t.Errorf("the state is not under $XDG_RUNTIME_DIR/strata: %v", err)
	}
	// kill --all without a cgroup: the pid namespace delimits the
	// container. The init (pid 1 there, no handler) ignores SIGTERM; an
	// exec'd sleep dies of it.
	pidFile := filepath.Join(u.xdg, "exec.pid")
	tu.Must(t, u.run("exec", "-d", "--pid-file", pidFile, id, "sleep", "60"))
	data, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	tu.Must(t, u.run("kill", "--all", id, "TERM"))
	if !waitGone(strings.TrimSpace(string(data)), 5*time.Second) {
		t.Errorf("exec'd process %s outlived kill --all TERM", data)
	}
	if err := json.Unmarshal([]byte(tu.Must(t, u.run("state", id)).Stdout), &st); err != nil || st.Status != "running" {
		t.Errorf("state after kill --all TERM: %v %+v, want running (the init ignores it)", err, st)
	}
	tu.Must(t, u.run("kill", id, "KILL"))
	tu.Must(t, u.run("delete", "--force", id))
	left, _ := filepath.Glob(filepath.Join(u.xdg, "*", "*"))
	if len(left) != 0 {
		t.Errorf("left under $XDG_RUNTIME_DIR after delete: %v", left)
	}
}

// waitGone polls for /proc/pid to disappear.
func waitGone(pid string, d time.Duration) bool {
	for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat("/proc/" + pid); err != nil {
			return true
		}
	}
	return false
}

// Without a user namespace the unprivileged init could not build the
// container: refused by field, nothing made.
func TestRootlessNeedsUserNamespace(t *testing.T) {
	tu.StrataOnly(t, "strata's wording")
	t.Parallel()
	u := newRootlessUser(t)
	tu.Must(t, u.run("spec"))
	r := u.run("run", tu.UniqueID(t))
	if r.Code == 0 || !strings.Contains(r.Stderr, "linux.namespaces must include a new user namespace") {
		t.Errorf("a rootless run without a user namespace: %s", r)
	}
	if left, _ := filepath.Glob(filepath.Join(u.xdg, "*", "*")); len(left) != 0 {
		t.Errorf("left under $XDG_RUNTIME_DIR: %v", left)
	}
}
