package host

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("the probes that make mounts need root")
	}
}

// kernelAtLeast compares the running kernel's release with major.minor:
// a lower bound only (distributions backport, so an older release may
// have a feature, never a newer one lack it unless configured out).
func kernelAtLeast(t *testing.T, major, minor int) bool {
	data, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.SplitN(strings.TrimSpace(string(data)), ".", 3)
	ma, _ := strconv.Atoi(parts[0])
	mi, _ := strconv.Atoi(strings.TrimLeftFunc(parts[1], func(r rune) bool { return r < '0' || r > '9' }))
	return ma > major || ma == major && mi >= minor
}

func TestNamespacesMatchProc(t *testing.T) {
	ents, err := os.ReadDir("/proc/self/ns")
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, e := range ents {
		have[e.Name()] = true
	}
	for kind, r := range Namespaces() {
		if r.OK != have[kind] {
			t.Errorf("namespace %s: probe says %+v, /proc/self/ns has it: %v", kind, r, have[kind])
		}
		if !r.OK && r.Reason == "" {
			t.Errorf("namespace %s absent without a reason", kind)
		}
	}
}

// The cgroup layout against /proc/self/mounts, read here independently.
func TestCgroupsMatchMounts(t *testing.T) {
	data, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		t.Fatal(err)
	}
	var v2 string
	v1 := map[string]bool{}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) < 3 || !strings.HasPrefix(f[1], "/sys/fs/cgroup") {
			continue
		}
		switch f[2] {
		case "cgroup2":
			if f[1] == "/sys/fs/cgroup" || f[1] == "/sys/fs/cgroup/unified" {
				v2 = f[1]
			}
		case "cgroup":
			v1[f[1]] = true
		}
	}
	c := ProbeCgroups()
	if c.V2Root != v2 {
		t.Errorf("v2 root %q, /proc/self/mounts says %q", c.V2Root, v2)
	}
	var got []string
	for _, h := range c.V1 {
		got = append(got, h.Mountpoint)
		if len(h.Controllers) == 0 {
			t.Errorf("v1 hierarchy %s without controllers", h.Mountpoint)
		}
	}
	var want []string
	for m := range v1 {
		want = append(want, m)
	}
	sort.Strings(want)
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("v1 hierarchies %v, /proc/self/mounts says %v", got, want)
	}
	wantMode := map[bool]map[bool]string{
		true:  {true: CgroupHybrid, false: CgroupV1},
		false: {true: CgroupHybrid, false: CgroupNone},
	}[len(want) > 0][v2 != ""]
	if v2 == "/sys/fs/cgroup" {
		wantMode = CgroupUnified
	}
	if c.Mode != wantMode {
		t.Errorf("mode %s, want %s", c.Mode, wantMode)
	}
	if v2 != "" {
		ctrl, _ := os.ReadFile(filepath.Join(v2, "cgroup.controllers"))
		if strings.Join(c.V2Controllers, " ") != strings.TrimSpace(string(ctrl)) {
			t.Errorf("v2 controllers %v, the file says %q", c.V2Controllers, ctrl)
		}
	}
}

func TestSeccompMatchesProc(t *testing.T) {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	// The Seccomp: line is there exactly with CONFIG_SECCOMP.
	if has := strings.Contains(string(status), "\nSeccomp:"); Seccomp().OK && !has {
		t.Errorf("seccomp probed usable, but /proc/self/status has no Seccomp line")
	}
	avail, err := os.ReadFile("/proc/sys/kernel/seccomp/actions_avail")
	if err == nil && strings.Contains(string(avail), "user_notif") != SeccompNotify().OK {
		t.Errorf("seccomp notify %+v, actions_avail %q", SeccompNotify(), avail)
	}
}

// Features as old as the oldest kernel strata supports must be there; newer
// ones must be there on kernels that have them.
func TestProbesAgainstKernelRelease(t *testing.T) {
	needRoot(t)
	for _, c := range []struct {
		name         string
		major, minor int
		probe        func() Result
	}{
		{"mount API", 5, 2, MountAPI},
		{"open_tree", 5, 2, OpenTree},
		{"move_mount", 5, 2, MoveMount},
		{"pidfd_open", 5, 3, Pidfd},
		{"clone3", 5, 3, Clone3},
		{"openat2", 5, 6, Openat2},
		{"mount_setattr", 5, 12, MountSetattr},
		{"overlay lowerdir+", 6, 8, OverlayLowerdirPlus},
	} {
		r := c.probe()
		if kernelAtLeast(t, c.major, c.minor) && !r.OK {
			t.Errorf("%s: absent on a kernel >= %d.%d: %s", c.name, c.major, c.minor, r.Reason)
		}
		if !r.OK && r.Reason == "" {
			t.Errorf("%s: absent without a reason", c.name)
		}
	}
	if fs, _ := os.ReadFile("/proc/filesystems"); strings.Contains(string(fs), "\toverlay\n") && !Overlay().OK {
		t.Errorf("overlay listed in /proc/filesystems, probe says %+v", Overlay())
	}
}

func TestIDMapMountAndUserNS(t *testing.T) {
	needRoot(t)
	u := UserNamespaces()
	if max, _ := os.ReadFile("/proc/sys/user/max_user_namespaces"); strings.TrimSpace(string(max)) == "0" && u.OK {
		t.Errorf("user namespaces usable with max_user_namespaces 0")
	}
	r := IDMapMount()
	var st unix.Statfs_t
	if err := unix.Statfs(os.TempDir(), &st); err != nil {
		t.Fatal(err)
	}
	// Every disk filesystem strata's hosts use had idmapped mounts by 5.19,
	// tmpfs by 6.3.
	if u.OK && kernelAtLeast(t, 6, 3) && !r.OK {
		t.Errorf("idmapped mounts absent on a kernel >= 6.3: %s", r.Reason)
	}
	if r.OK && !u.OK {
		t.Errorf("idmapped mount made without user namespaces (%s)", u.Reason)
	}
}

// The probes leave no directory and no mount behind.
func TestProbesLeaveNothing(t *testing.T) {
	needRoot(t)
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	start := time.Now()
	for _, p := range []func() Result{MountAPI, OpenTree, MoveMount, MountSetattr, IDMapMount, Overlay, OverlayLowerdirPlus, Openat2, UserNamespaces} {
		p()
	}
	t.Logf("mount probes took %v", time.Since(start))
	// Only the probes' own mounts count: other tests on the machine may
	// mount and unmount meanwhile. Every probe mounts below a strata-probe-
	// directory or detached (in no mount table).
	after, _ := os.ReadFile("/proc/self/mountinfo")
	for _, l := range strings.Split(string(after), "\n") {
		if strings.Contains(l, "strata-probe-") || strings.Contains(l, tmp) {
			t.Errorf("a probe's mount is left: %s", l)
		}
	}
	left, _ := os.ReadDir(tmp)
	for _, e := range left {
		t.Errorf("left behind: %s", filepath.Join(tmp, e.Name()))
	}
	vt, _ := filepath.Glob("/var/tmp/strata-probe-*")
	for _, p := range vt {
		t.Errorf("left behind: %s", p)
	}
}

func TestProbeDump(t *testing.T) {
	needRoot(t)
	start := time.Now()
	f := Probe()
	t.Logf("Probe took %v", time.Since(start))
	out, _ := json.MarshalIndent(f, "", "  ")
	t.Logf("%s", out)
}
