package integration

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	tu "github.com/strata-runtime/strata/tests/testutil"
)

// --systemd-cgroup: the container's cgroup is a transient scope that
// systemd makes over D-Bus, named by linux.cgroupsPath "slice:prefix:name".
// Where systemd is the init of a pure cgroup v2 host (the Debian guests of
// tests/vm) it must work; elsewhere (the development machine: no systemd,
// hybrid cgroups) it must be refused by name, leaving nothing behind.

// systemdInit says whether systemd is this host's init, as sd_booted(3).
func systemdInit() bool {
	st, err := os.Lstat("/run/systemd/system")
	return err == nil && st.IsDir()
}

// systemctl runs systemctl, failing the test if it cannot be run at all
// (a systemd host without it is broken, not a reason to skip).
func systemctl(t *testing.T, args ...string) (string, int) {
	t.Helper()
	out, err := exec.Command("systemctl", args...).CombinedOutput()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			return string(out), ee.ExitCode()
		}
		t.Fatalf("systemctl %s: %v", strings.Join(args, " "), err)
	}
	return string(out), 0
}

// unitProps reads properties of a unit with `systemctl show`.
func unitProps(t *testing.T, unit string, names ...string) map[string]string {
	t.Helper()
	out, code := systemctl(t, "show", "--property="+strings.Join(names, ","), unit)
	if code != 0 {
		t.Fatalf("systemctl show %s: exit %d: %s", unit, code, out)
	}
	props := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			props[k] = v
		}
	}
	return props
}

// wantProps checks unit properties against their expected values.
func wantProps(t *testing.T, unit string, want map[string]string) {
	t.Helper()
	var names []string
	for k := range want {
		names = append(names, k)
	}
	got := unitProps(t, unit, names...)
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %s=%q, want %q", unit, k, got[k], v)
		}
	}
}

// scopeGone checks that systemd no longer knows the unit (not even as
// failed) and that its cgroup directory is gone.
func scopeGone(t *testing.T, unit, slice string) {
	t.Helper()
	p := unitProps(t, unit, "LoadState", "ActiveState")
	if p["LoadState"] != "not-found" || p["ActiveState"] != "inactive" {
		t.Errorf("%s is still there: LoadState=%s ActiveState=%s", unit, p["LoadState"], p["ActiveState"])
	}
	dir := filepath.Join("/sys/fs/cgroup", slice, unit)
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("cgroup %s is still there (%v)", dir, err)
	}
}

// stopScopeAtEnd stops and forgets the unit *unit names once the test is
// over, after the container's own cleanup: a failed test leaves no scope.
// Register it before NewContainer (cleanups run last-registered first).
func stopScopeAtEnd(t *testing.T, unit *string) {
	t.Cleanup(func() {
		if *unit == "" {
			return
		}
		if p := unitProps(t, *unit, "LoadState"); p["LoadState"] != "not-found" {
			systemctl(t, "stop", *unit)
			systemctl(t, "reset-failed", *unit)
		}
	})
}

// systemdContainer is a test container whose cgroupsPath is
// system.slice:strata:<its ID>, changed by mutate after that.
func systemdContainer(t *testing.T, unit *string, mutate func(*specs.Spec)) *tu.Container {
	t.Helper()
	stopScopeAtEnd(t, unit)
	c := tu.NewContainer(t, mutate)
	c.Spec.Linux.CgroupsPath = "system.slice:strata:" + c.ID
	c.WriteSpec()
	*unit = "strata-" + c.ID + ".scope"
	return c
}

// sliceHas says whether the host's system.slice cgroup has a file: swap
// accounting and I/O weights depend on the kernel's configuration.
func sliceHas(file string) bool {
	_, err := os.Stat(filepath.Join("/sys/fs/cgroup/system.slice", file))
	return err == nil
}

func TestSystemdCgroup(t *testing.T) {
	t.Parallel()
	switch {
	case !systemdInit():
		testSystemdRefused(t, "systemd is not running on this host", "/run/systemd/private")
	case !cgV2():
		tu.StrataOnly(t, "strata's systemd driver is for pure cgroup v2 hosts; runc's also drives v1")
		testSystemdRefused(t, "needs a pure cgroup v2 host")
	default:
		t.Run("scope", testSystemdScope)
		t.Run("default path", testSystemdDefaultPath)
		t.Run("failed create", testSystemdFailedCreate)
	}
}

// testSystemdRefused: where the driver cannot work, create and run are
// refused by the flag's name and leave no state or cgroup.
func testSystemdRefused(t *testing.T, want ...string) {
	c := tu.NewContainer(t, nil)
	c.Spec.Linux.CgroupsPath = "system.slice:strata:" + c.ID
	c.WriteSpec()
	for _, cmd := range []string{"run", "create"} {
		r := c.Runtime("--systemd-cgroup", cmd, "--bundle", c.Bundle, c.ID)
		wantErrorText(t, r, "--systemd-cgroup")
		for _, w := range want {
			wantErrorText(t, r, w)
		}
		if r := c.Runtime("state", c.ID); r.Code == 0 {
			t.Errorf("%s with --systemd-cgroup was refused, but the container exists: %s", cmd, r)
		}
	}
	for _, d := range []string{"/sys/fs/cgroup/system.slice", "/sys/fs/cgroup/unified/system.slice", "/sys/fs/cgroup/memory/system.slice"} {
		if _, err := os.Stat(filepath.Join(d, "strata-"+c.ID+".scope")); !os.IsNotExist(err) {
			t.Errorf("refused, but %s/strata-%s.scope exists (%v)", d, c.ID, err)
		}
	}
}

// testSystemdScope is the whole life of a container in its scope: the
// scope's properties come from linux.resources, its init and exec'd
// processes are in it, update goes through systemd, delete removes it.
func testSystemdScope(t *testing.T) {
	const mib = 1 << 20
	swap, ioWeight := sliceHas("memory.swap.max"), sliceHas("io.weight") || sliceHas("io.bfq.weight")
	t.Logf("host: memory.swap.max %v, an I/O weight file %v", swap, ioWeight)
	var unit string
	c := systemdContainer(t, &unit, with(sleeper, func(s *specs.Spec) {
		r := s.Linux.Resources
		r.Memory = &specs.LinuxMemory{Limit: i64(64 * mib), Reservation: i64(16 * mib)}
		if swap {
			r.Memory.Swap = i64(96 * mib)
		}
		r.Pids = &specs.LinuxPids{Limit: i64(64)}
		r.CPU = &specs.LinuxCPU{Shares: u64(512), Quota: i64(50000), Period: u64(100000), Cpus: "0", Mems: "0"}
		if ioWeight {
			r.BlockIO = &specs.LinuxBlockIO{Weight: u16(500)}
		}
	}))
	tu.Must(t, c.Runtime("--systemd-cgroup", "create", "--bundle", c.Bundle, c.ID))
	tu.Must(t, c.Runtime("start", c.ID))
	pid := c.State().Pid

	status, code := systemctl(t, "status", "--no-pager", unit)
	t.Logf("systemctl status %s:\n%s", unit, status)
	if code != 0 || !strings.Contains(status, "Active: active (running)") {
		t.Errorf("systemctl status %s: exit %d, not active (running)", unit, code)
	}
	scopeDir := "/sys/fs/cgroup/system.slice/" + unit
	want := map[string]string{
		"Slice": "system.slice", "Delegate": "yes", "ActiveState": "active",
		"MemoryMax": strconv.Itoa(64 * mib), "MemoryLow": strconv.Itoa(16 * mib), "TasksMax": "64",
		"CPUQuotaPerSecUSec": "500ms", "CPUQuotaPeriodUSec": "100ms", "AllowedCPUs": "0", "AllowedMemoryNodes": "0",
		// The conversion from shares is the runtime's: the property
		// must be what it wrote to the file.
		"CPUWeight":    strings.TrimSpace(readFile(t, filepath.Join(scopeDir, "cpu.weight"))),
		"DevicePolicy": "strict",
	}
	if swap {
		want["MemorySwapMax"] = strconv.Itoa(32 * mib)
	}
	if ioWeight {
		want["IOWeight"] = strconv.Itoa(1 + (500-10)*9999/990)
	}
	wantProps(t, unit, want)

	// The init and a process exec'd into the container are in the scope
	// (no cgroup namespace: the host's view).
	inScope := "0::/system.slice/" + unit + "\n"
	if got := readFile(t, fmt.Sprintf("/proc/%d/cgroup", pid)); got != inScope {
		t.Errorf("init %d: /proc/PID/cgroup %q, want %q", pid, got, inScope)
	}
	if r := tu.Must(t, c.Runtime("exec", c.ID, "cat", "/proc/self/cgroup")); r.Stdout != inScope {
		t.Errorf("exec'd process: /proc/self/cgroup %q, want %q", r.Stdout, inScope)
	}

	update := []string{"update", "--memory", strconv.Itoa(80 * mib), "--pids-limit", "32"}
	if ioWeight {
		update = append(update, "--blkio-weight", "800")
	}
	tu.Must(t, c.Runtime(append(update, c.ID)...))
	want = map[string]string{"MemoryMax": strconv.Itoa(80 * mib), "TasksMax": "32"}
	if swap {
		want["MemorySwapMax"] = strconv.Itoa(16 * mib)
	}
	if ioWeight {
		want["IOWeight"] = strconv.Itoa(1 + (800-10)*9999/990)
	}
	wantProps(t, unit, want)
	if got := strings.TrimSpace(readFile(t, filepath.Join(scopeDir, "memory.max"))); got != strconv.Itoa(80*mib) {
		t.Errorf("after update: memory.max %s, want %d", got, 80*mib)
	}

	tu.Must(t, c.Runtime("kill", c.ID, "KILL"))
	pidGone(t, pid)
	tu.Must(t, c.Runtime("delete", c.ID))
	scopeGone(t, unit, "system.slice")
}

// testSystemdDefaultPath: an empty cgroupsPath is, as in runc,
// system.slice:<runtime>:<id> (runc's prefix is "runc", strata's "strata").
// The container has a cgroup namespace and mounts cgroup2: systemd moved
// the init into its scope before it unshared the one and mounted the
// other, so both are rooted at the scope.
func testSystemdDefaultPath(t *testing.T) {
	prefix := "strata"
	if !tu.IsStrata() {
		prefix = filepath.Base(tu.RuntimePath())
	}
	var unit string
	c := systemdContainer(t, &unit, with(sleeper, func(s *specs.Spec) {
		s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.CgroupNamespace})
		s.Mounts = append(s.Mounts, specs.Mount{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: []string{"nosuid", "noexec", "nodev", "relatime", "ro"}})
		s.Linux.Resources.Memory = &specs.LinuxMemory{Limit: i64(48 << 20)}
	}))
	unit = prefix + "-" + c.ID + ".scope"
	c.Spec.Linux.CgroupsPath = ""
	c.WriteSpec()
	tu.Must(t, c.Runtime("--systemd-cgroup", "create", "--bundle", c.Bundle, c.ID))
	pid := c.State().Pid
	if got, want := readFile(t, fmt.Sprintf("/proc/%d/cgroup", pid)), "0::/system.slice/"+unit+"\n"; got != want {
		t.Errorf("init %d: /proc/PID/cgroup %q, want %q", pid, got, want)
	}
	tu.Must(t, c.Runtime("start", c.ID))
	want := "0::/\n" + strconv.Itoa(48<<20) + "\n"
	if r := tu.Must(t, c.Runtime("exec", c.ID, "cat", "/proc/1/cgroup", "/sys/fs/cgroup/memory.max")); r.Stdout != want {
		t.Errorf("inside: /proc/1/cgroup and /sys/fs/cgroup/memory.max %q, want %q (the init's cgroup namespace and mount at its scope)", r.Stdout, want)
	}
	// delete --force of a running container, without the flag: the
	// state says the cgroup is a scope.
	tu.Must(t, c.Runtime("delete", "--force", c.ID))
	scopeGone(t, unit, "system.slice")
}

// testSystemdFailedCreate: a create that fails after systemd made the
// scope (a mount whose source does not exist) leaves no scope.
func testSystemdFailedCreate(t *testing.T) {
	var unit string
	c := systemdContainer(t, &unit, func(s *specs.Spec) {
		s.Mounts = append(s.Mounts, specs.Mount{Destination: "/missing", Type: "bind", Source: "/nonexistent-" + strconv.Itoa(os.Getpid()), Options: []string{"bind"}})
	})
	r := c.Runtime("--systemd-cgroup", "create", "--bundle", c.Bundle, c.ID)
	wantErrorText(t, r, "/missing")
	if r := c.Runtime("state", c.ID); r.Code == 0 {
		t.Errorf("create failed, but the container exists: %s", r)
	}
	scopeGone(t, unit, "system.slice")
}

// TestSystemdCgroupBadPath: a cgroupsPath that names no scope is refused
// by its field before systemd is asked for anything, on every host.
func TestSystemdCgroupBadPath(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ path, want string }{
		{"system:strata:%s", `slice "system": expected a systemd slice name`},
		{"system.slice:strata", `expected "slice:prefix:name"`},
		{"/strata-test/%s", `expected "slice:prefix:name"`},
		{"a/b.slice:strata:%s", `slice "a/b.slice"`},
	} {
		t.Run(tc.path, func(t *testing.T) {
			c := tu.NewContainer(t, nil)
			path := tc.path
			if strings.Contains(path, "%s") {
				path = fmt.Sprintf(path, c.ID)
			}
			c.Spec.Linux.CgroupsPath = path
			c.WriteSpec()
			r := c.Runtime("--systemd-cgroup", "run", "--bundle", c.Bundle, c.ID)
			wantErrorText(t, r, "linux.cgroupsPath")
			wantErrorText(t, r, tc.want)
			if r := c.Runtime("state", c.ID); r.Code == 0 {
				t.Errorf("refused, but the container exists: %s", r)
			}
			if systemdInit() {
				for _, unit := range []string{"strata-" + c.ID + ".scope", "strata-.scope"} {
					if p := unitProps(t, unit, "LoadState"); p["LoadState"] != "not-found" {
						t.Errorf("refused, but systemd has %s (LoadState=%s)", unit, p["LoadState"])
					}
				}
			}
		})
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
