package identity

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Apply changes the ids of a whole process for good, so each case runs in a
// re-executed copy of the test binary. childEnv carries the case as JSON.
const childEnv = "STRATA_IDENTITY_CHILD"

type childCase struct {
	User             specs.User
	SetgroupsAllowed bool
}

// childResult holds the rows of /proc/self/status and of every thread's status.
type childResult struct {
	Process map[string]string
	Threads []map[string]string
}

func TestMain(m *testing.M) {
	if c := os.Getenv(childEnv); c != "" {
		child(c)
	}
	os.Exit(m.Run())
}

func child(data string) {
	runtime.LockOSThread()
	var cc childCase
	if err := json.Unmarshal([]byte(data), &cc); err != nil {
		die(err)
	}
	// A umask Apply must replace, whatever the test runner's.
	syscall.Umask(0o777)
	if err := Apply(cc.User, cc.SetgroupsAllowed); err != nil {
		die(err)
	}
	var res childResult
	var err error
	if res.Process, err = statusRows("/proc/self/status"); err != nil {
		die(err)
	}
	tasks, err := filepath.Glob("/proc/self/task/*/status")
	if err != nil {
		die(err)
	}
	for _, p := range tasks {
		rows, err := statusRows(p)
		if err != nil {
			die(err)
		}
		res.Threads = append(res.Threads, rows)
	}
	if err := json.NewEncoder(os.Stdout).Encode(res); err != nil {
		die(err)
	}
	os.Exit(0)
}

func die(err error) {
	fmt.Fprintln(os.Stderr, err)
	os.Exit(3)
}

func statusRows(path string) (map[string]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	rows := make(map[string]string)
	for _, line := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok {
			rows[k] = strings.Join(strings.Fields(v), " ")
		}
	}
	return rows, nil
}

func runChild(t *testing.T, cc childCase, cred *syscall.Credential) (childResult, error) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("identity tests need root (CI runs as root)")
	}
	data, err := json.Marshal(cc)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("/proc/self/exe", "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+string(data))
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return childResult{}, fmt.Errorf("%v: %s", err, strings.TrimSpace(stderr.String()))
	}
	var res childResult
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatal(err)
	}
	return res, nil
}

func checkRows(t *testing.T, where string, got, want map[string]string) {
	t.Helper()
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s %s = %q, want %q", where, k, got[k], w)
		}
	}
}

func TestApply(t *testing.T) {
	t.Parallel()
	umask := uint32(0o027)
	res, err := runChild(t, childCase{
		User:             specs.User{UID: 1000, GID: 1001, AdditionalGids: []uint32{7, 5}, Umask: &umask},
		SetgroupsAllowed: true,
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"Uid": "1000 1000 1000 1000", "Gid": "1001 1001 1001 1001",
		"Groups": "5 7", "Umask": "0027",
	}
	checkRows(t, "process", res.Process, want)
	if len(res.Threads) < 2 {
		t.Errorf("child had %d threads; the all-threads check needs a Go runtime with several", len(res.Threads))
	}
	// Every thread, not only the caller's, must have left root.
	delete(want, "Umask")
	for i, th := range res.Threads {
		checkRows(t, fmt.Sprintf("thread %d", i), th, want)
	}
}

func TestApplyDefaultUmaskAndNoGroups(t *testing.T) {
	t.Parallel()
	res, err := runChild(t, childCase{User: specs.User{UID: 0, GID: 0}, SetgroupsAllowed: true},
		&syscall.Credential{Uid: 0, Gid: 0, Groups: []uint32{3, 4}})
	if err != nil {
		t.Fatal(err)
	}
	checkRows(t, "process", res.Process, map[string]string{"Umask": "0022", "Groups": "", "Uid": "0 0 0 0"})
}

// In a user namespace with setgroups "deny", the inherited groups stay.
func TestApplySetgroupsDenied(t *testing.T) {
	t.Parallel()
	res, err := runChild(t, childCase{
		User:             specs.User{UID: 2000, GID: 2000, AdditionalGids: []uint32{9}},
		SetgroupsAllowed: false,
	}, &syscall.Credential{Uid: 0, Gid: 0, Groups: []uint32{3, 4}})
	if err != nil {
		t.Fatal(err)
	}
	checkRows(t, "process", res.Process, map[string]string{"Groups": "3 4", "Uid": "2000 2000 2000 2000", "Gid": "2000 2000 2000 2000"})
}

// PR_SET_KEEPCAPS keeps the caller's permitted set across the uid change, for
// capabilities.ApplyCaps; the effective set is cleared by the kernel.
func TestApplyKeepsPermittedCaps(t *testing.T) {
	t.Parallel()
	res, err := runChild(t, childCase{User: specs.User{UID: 1000, GID: 1000}, SetgroupsAllowed: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	self, err := statusRows("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	var kept bool
	for _, th := range res.Threads {
		if th["CapPrm"] == self["CapPrm"] && th["CapEff"] == "0000000000000000" {
			kept = true
		}
	}
	if !kept {
		t.Errorf("no thread kept CapPrm %s with an empty CapEff: %v", self["CapPrm"], res.Threads)
	}
}

func TestApplyErrorsNameTheField(t *testing.T) {
	t.Parallel()
	_, err := runChild(t, childCase{User: specs.User{UID: 1000, GID: 1000}, SetgroupsAllowed: true},
		&syscall.Credential{Uid: 65534, Gid: 65534})
	if err == nil || !strings.Contains(err.Error(), "process.user.additionalGids []: setgroups: operation not permitted") {
		t.Errorf("unprivileged Apply: err = %v, want the setgroups failure named", err)
	}
	bad := uint32(0o1777)
	if err := Apply(specs.User{Umask: &bad}, false); err == nil || !strings.Contains(err.Error(), "process.user.umask 01777") {
		t.Errorf("Apply(umask 01777) = %v", err)
	}
}

func TestHomeDir(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	passwd := "root:x:0:0:root:/root:/bin/sh\nweb:x:1000:1000::/srv/web:/bin/sh\nnohome:x:1001:1001:::/bin/sh\n"
	if err := os.WriteFile(filepath.Join(root, "etc/passwd"), []byte(passwd), 0o644); err != nil {
		t.Fatal(err)
	}
	for uid, want := range map[uint32]string{0: "/root", 1000: "/srv/web", 1001: "/", 4242: "/"} {
		if got := HomeDir(root, uid); got != want {
			t.Errorf("HomeDir(%d) = %q, want %q", uid, got, want)
		}
	}
	if got := HomeDir(t.TempDir(), 0); got != "/" {
		t.Errorf("HomeDir without /etc/passwd = %q, want /", got)
	}

	env := []string{"PATH=/bin"}
	got := WithHome(env, root, 1000)
	if !slices.Equal(got, []string{"PATH=/bin", "HOME=/srv/web"}) || len(env) != 1 {
		t.Errorf("WithHome = %q (input now %q)", got, env)
	}
	kept := []string{"HOME="}
	if got := WithHome(kept, root, 1000); !slices.Equal(got, kept) {
		t.Errorf("WithHome with HOME set = %q, want it unchanged", got)
	}
}
