package integration

import (
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/opencontainers/runtime-spec/specs-go/features"
	tu "github.com/strata-runtime/strata/tests/testutil"
)

// The host as read here, independently of strata's probes.
type hostReading struct {
	namespaces []string // runtime-spec names of /proc/self/ns entries
	userns     bool     // user.max_user_namespaces > 0
	v1         []string // cgroup v1 mountpoints under /sys/fs/cgroup
	v2         string   // the cgroup2 mountpoint
	systemd    bool
	overlay    bool // listed in /proc/filesystems
}

// procNSSpec maps /proc/self/ns names to runtime-spec namespace types.
var procNSSpec = map[string]string{"cgroup": "cgroup", "ipc": "ipc", "mnt": "mount", "net": "network", "pid": "pid", "time": "time", "user": "user", "uts": "uts"}

func readHost(t *testing.T) hostReading {
	t.Helper()
	var h hostReading
	ents, err := os.ReadDir("/proc/self/ns")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if n, ok := procNSSpec[e.Name()]; ok {
			h.namespaces = append(h.namespaces, n)
		}
	}
	sort.Strings(h.namespaces)
	max, _ := os.ReadFile("/proc/sys/user/max_user_namespaces")
	h.userns = len(max) > 0 && strings.TrimSpace(string(max)) != "0"
	mounts, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(mounts), "\n") {
		f := strings.Fields(line)
		if len(f) < 3 || !strings.HasPrefix(f[1], "/sys/fs/cgroup") {
			continue
		}
		switch f[2] {
		case "cgroup":
			h.v1 = append(h.v1, f[1])
		case "cgroup2":
			h.v2 = f[1]
		}
	}
	if st, err := os.Lstat("/run/systemd/system"); err == nil && st.IsDir() {
		h.systemd = true
	}
	fs, _ := os.ReadFile("/proc/filesystems")
	h.overlay = strings.Contains(string(fs), "\toverlay\n")
	return h
}

func runFeatures(t *testing.T) features.Features {
	t.Helper()
	r := tu.Must(t, tu.Exec(t, tu.Command(filepath.Join(t.TempDir(), "root"), "features", "features")))
	var f features.Features
	if err := json.Unmarshal([]byte(r.Stdout), &f); err != nil {
		t.Fatalf("features: %v\n%s", err, r.Stdout)
	}
	if f.Linux == nil || f.Linux.Cgroup == nil || f.Linux.MountExtensions == nil || f.Linux.MountExtensions.IDMap == nil {
		t.Fatalf("features lacks linux.cgroup or mountExtensions.idmap: %s", r.Stdout)
	}
	return f
}

func TestFeaturesMatchHost(t *testing.T) {
	tu.StrataOnly(t, "features: what other runtimes report is theirs")
	t.Parallel()
	h := readHost(t)
	f := runFeatures(t)
	var want []string
	for _, n := range h.namespaces {
		if n != "user" || h.userns {
			want = append(want, n)
		}
	}
	got := append([]string(nil), f.Linux.Namespaces...)
	sort.Strings(got)
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("features namespaces %v, the host has %v", got, want)
	}
	c := f.Linux.Cgroup
	if *c.V1 != (len(h.v1) > 0) || *c.V2 != (h.v2 != "") {
		t.Errorf("features cgroup v1=%v v2=%v; host v1 mounts %v, cgroup2 at %q", *c.V1, *c.V2, h.v1, h.v2)
	}
	// --systemd-cgroup where systemd is the init of a pure cgroup v2 host
	// (the guests), not on a hybrid host or without systemd; the user
	// manager's driver (rootless) is not done.
	pureV2 := h.v2 == "/sys/fs/cgroup" && len(h.v1) == 0
	if *c.Systemd != (h.systemd && pureV2) || *c.SystemdUser {
		t.Errorf("features cgroup systemd=%v systemdUser=%v; host: systemd %v, pure cgroup v2 %v", *c.Systemd, *c.SystemdUser, h.systemd, pureV2)
	}
}

// idmapUsernsContainer is what containerd asks for together: a user
// namespace and an idmapped bind mount, with the container's mapping. The
// destination is one the rootfs has: the container's root (a host uid of
// 100000) may not create one in the test's root-owned rootfs.
func idmapUsernsContainer(t *testing.T, dir string) *tu.Container {
	maps := []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
	return tu.NewContainer(t, with(withUserns, sh("stat -c %u:%g /tmp"), func(s *specs.Spec) {
		s.Mounts = append(s.Mounts, specs.Mount{Destination: "/tmp", Source: dir, Type: "bind",
			Options: []string{"rbind"}, UIDMappings: maps, GIDMappings: maps})
	}))
}

// What features claims must work; what it denies must be for a reason
// that still holds.
func TestFeaturesClaimsWork(t *testing.T) {
	t.Parallel()
	f := runFeatures(t)
	hasUser := false
	for _, n := range f.Linux.Namespaces {
		hasUser = hasUser || n == "user"
	}
	if hasUser {
		c := tu.NewContainer(t, with(withUserns, sh("cat /proc/self/uid_map")))
		if out := c.MustRun(); !strings.Contains(out, "100000") {
			t.Errorf("user namespace container: uid_map %q", out)
		}
	}
	if !hasUser {
		return
	}
	// Owned by the host's root: through the mount's mapping, by host uid
	// 100000, which is the container's root.
	dir := t.TempDir()
	r := idmapUsernsContainer(t, dir).Run()
	if *f.Linux.MountExtensions.IDMap.Enabled {
		if r.Code != 0 || strings.TrimSpace(r.Stdout) != "0:0" {
			t.Errorf("features claims idmapped mounts, but a user namespace container with one: %s", r)
		}
	} else if tu.IsStrata() && r.Code == 0 {
		t.Errorf("features denies idmapped mounts, yet a user namespace container with one ran: %s", r)
	}
}

// An "idmap" mount without mappings of its own takes the container's user
// namespace (runtime-spec config.md): two containers with different
// mappings see one host directory owned by their own root at once, and
// nothing is chowned on the host.
func TestIDMapMountTakesContainerMapping(t *testing.T) {
	tu.StrataOnly(t, "runc 1.1 has no idmapped mounts")
	t.Parallel()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "f"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	container := func(hostID uint32, args ...string) *tu.Container {
		maps := []specs.LinuxIDMapping{{ContainerID: 0, HostID: hostID, Size: 65536}}
		return tu.NewContainer(t, func(s *specs.Spec) {
			s.Process.Args = args
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
			s.Linux.UIDMappings, s.Linux.GIDMappings = maps, maps
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/tmp", Source: dir, Type: "bind", Options: []string{"rbind", "idmap"}})
		})
	}
	a := container(100000, "sleep", "60")
	tu.Must(t, a.Create())
	tu.Must(t, a.Runtime("start", a.ID))
	b := container(200000, "stat", "-c", "%u:%g", "/tmp/f")
	if out := strings.TrimSpace(b.MustRun()); out != "0:0" {
		t.Errorf("container mapped to 200000 sees /tmp/f as %s, want 0:0", out)
	}
	r := tu.Must(t, a.Runtime("exec", a.ID, "stat", "-c", "%u:%g", "/tmp/f"))
	if out := strings.TrimSpace(r.Stdout); out != "0:0" {
		t.Errorf("container mapped to 100000 (running beside the other) sees /tmp/f as %s, want 0:0", out)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(filepath.Join(dir, "f"), &st); err != nil || st.Uid != 0 || st.Gid != 0 {
		t.Errorf("the host file after both: %v, owner %d:%d, want 0:0 untouched", err, st.Uid, st.Gid)
	}
}

type checkOut struct {
	Kernel   string `json:"kernel"`
	Runnable bool   `json:"runnable"`
	Checks   []struct {
		Name   string `json:"name"`
		OK     bool   `json:"ok"`
		Found  string `json:"found"`
		Strata string `json:"strata"`
		Fatal  bool   `json:"fatal"`
	} `json:"checks"`
	Facts struct {
		Root   bool `json:"root"`
		Cgroup struct {
			Mode   string `json:"mode"`
			V2Root string `json:"v2Root"`
			V1     []struct {
				Mountpoint string `json:"mountpoint"`
			} `json:"v1"`
		} `json:"cgroup"`
		Namespaces map[string]struct {
			OK bool `json:"ok"`
		} `json:"namespaces"`
		UserNS struct {
			OK bool `json:"ok"`
		} `json:"userNamespaces"`
		Systemd struct {
			OK bool `json:"ok"`
		} `json:"systemd"`
		Overlay struct {
			OK bool `json:"ok"`
		} `json:"overlay"`
	} `json:"facts"`
}

func checkIsStrata(t *testing.T) {
	t.Helper()
	tu.StrataOnly(t, "check is strata's own command")
}

func TestCheckJSONMatchesHost(t *testing.T) {
	checkIsStrata(t)
	t.Parallel()
	h := readHost(t)
	r := tu.Exec(t, tu.Command(filepath.Join(t.TempDir(), "root"), "check", "check", "--format", "json"))
	if r.Code != 0 {
		t.Fatalf("check on a host that runs containers: %s", r)
	}
	var c checkOut
	if err := json.Unmarshal([]byte(r.Stdout), &c); err != nil {
		t.Fatalf("check --format json: %v\n%s", err, r.Stdout)
	}
	rel, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	if !strings.HasPrefix(c.Kernel, strings.TrimSpace(string(rel))) {
		t.Errorf("kernel %q, osrelease %q", c.Kernel, rel)
	}
	if !c.Runnable || !c.Facts.Root {
		t.Errorf("runnable=%v root=%v as root on the test host", c.Runnable, c.Facts.Root)
	}
	var nsGot []string
	for k, v := range c.Facts.Namespaces {
		if v.OK {
			nsGot = append(nsGot, procNSSpec[k])
		}
	}
	sort.Strings(nsGot)
	if strings.Join(nsGot, " ") != strings.Join(h.namespaces, " ") {
		t.Errorf("check namespaces %v, /proc/self/ns %v", nsGot, h.namespaces)
	}
	if c.Facts.UserNS.OK && !h.userns {
		t.Errorf("check says user namespaces are usable with max_user_namespaces 0")
	}
	wantMode := "v1"
	switch {
	case h.v2 == "/sys/fs/cgroup":
		wantMode = "unified"
	case h.v2 != "":
		wantMode = "hybrid"
	case len(h.v1) == 0:
		wantMode = "none"
	}
	if c.Facts.Cgroup.Mode != wantMode || c.Facts.Cgroup.V2Root != h.v2 || len(c.Facts.Cgroup.V1) != len(h.v1) {
		t.Errorf("check cgroup %+v; host: v1 %v, cgroup2 at %q", c.Facts.Cgroup, h.v1, h.v2)
	}
	if c.Facts.Systemd.OK != h.systemd {
		t.Errorf("check systemd %v, /run/systemd/system is a directory: %v", c.Facts.Systemd.OK, h.systemd)
	}
	if h.overlay && !c.Facts.Overlay.OK {
		t.Errorf("overlay listed in /proc/filesystems, check says absent")
	}
	names := map[string]bool{}
	for _, it := range c.Checks {
		names[it.Name] = true
		if it.Fatal {
			t.Errorf("fatal on the test host: %+v", it)
		}
		if !it.OK && it.Found == "" {
			t.Errorf("%s absent without a reason", it.Name)
		}
	}
	for _, n := range []string{"root", "/proc", "cgroups", "systemd", "namespaces", "user namespaces", "new mount API",
		"open_tree/move_mount", "mount_setattr", "idmapped mounts", "overlayfs", "overlay lowerdir+", "openat2", "pidfd",
		"clone3/CLONE_INTO_CGROUP", "seccomp", "seccomp notify", "LSMs"} {
		if !names[n] {
			t.Errorf("check reports nothing on %s", n)
		}
	}
}

func TestCheckText(t *testing.T) {
	checkIsStrata(t)
	t.Parallel()
	r := tu.Must(t, tu.Exec(t, tu.Command(filepath.Join(t.TempDir(), "root"), "check", "check")))
	for _, want := range []string{"kernel: ", "cgroups", "overlay lowerdir+", "idmapped mounts", "-> ", "containers can run on this host"} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("check output lacks %q:\n%s", want, r.Stdout)
		}
	}
	if strings.Contains(r.Stdout, "FATAL") {
		t.Errorf("FATAL on the test host:\n%s", r.Stdout)
	}
	bad := tu.Exec(t, tu.Command(filepath.Join(t.TempDir(), "root"), "check", "check", "--format", "yaml"))
	if bad.Code == 0 || !strings.Contains(bad.Stderr, "--format") {
		t.Errorf("check --format yaml: %s", bad)
	}
}

// Not root: strata runs rootless containers, and check says what rootless
// means rather than failing.
func TestCheckWhenNotRoot(t *testing.T) {
	checkIsStrata(t)
	t.Parallel()
	// The binary may sit in a directory only root can enter: run a copy.
	dir := t.TempDir()
	for _, d := range []string{dir, filepath.Dir(dir)} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	bin := filepath.Join(dir, "strata")
	copyBinary(t, tu.RuntimePath(), bin)
	// check runs strata-image, which strata looks for beside itself.
	copyBinary(t, filepath.Join(filepath.Dir(tu.RuntimePath()), "strata-image"), filepath.Join(dir, "strata-image"))
	cmd := tu.Command(filepath.Join(dir, "root"), "check", "check")
	cmd.Path, cmd.Args[0] = bin, bin
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	r := tu.Exec(t, cmd)
	if r.Code != 0 || strings.Contains(r.Stdout, "[FATAL]  root") || !strings.Contains(r.Stdout, "-> rootless: containers need a user namespace") {
		t.Errorf("check as uid 65534: %s", r)
	}
}

func copyBinary(t *testing.T, src, dst string) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}
