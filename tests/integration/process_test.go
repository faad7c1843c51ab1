package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	tu "github.com/strata-runtime/strata/tests/testutil"
	"golang.org/x/sys/unix"
)

func TestHostname(t *testing.T) {
	t.Parallel()
	out := runOutput(t, with(sh("hostname"), func(s *specs.Spec) { s.Hostname = "box-42" }))
	if out != "box-42\n" {
		t.Errorf("hostname: %q", out)
	}
}

func TestEnvAndCwd(t *testing.T) {
	t.Parallel()
	out := runOutput(t, with(sh(`echo "$FOO"; pwd`), func(s *specs.Spec) {
		s.Process.Env = append(s.Process.Env, "FOO=bar baz")
		s.Process.Cwd = "/tmp"
	}))
	if out != "bar baz\n/tmp\n" {
		t.Errorf("env and cwd: %q", out)
	}
}

func TestUserAndGroups(t *testing.T) {
	t.Parallel()
	out := runOutput(t, with(sh("id -u; id -g; id -G"), func(s *specs.Spec) {
		s.Process.User = specs.User{UID: 1000, GID: 1000, AdditionalGids: []uint32{10, 29}}
	}))
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || lines[0] != "1000" || lines[1] != "1000" {
		t.Fatalf("id: %q", out)
	}
	groups := strings.Fields(lines[2])
	sort.Strings(groups)
	if strings.Join(groups, " ") != "10 1000 29" {
		t.Errorf("id -G: %q, want the groups 1000 10 29", lines[2])
	}
}

func TestUmask(t *testing.T) {
	t.Parallel()
	umask := uint32(0o027)
	out := runOutput(t, with(sh("umask"), func(s *specs.Spec) { s.Process.User.Umask = &umask }))
	if out != "0027\n" {
		t.Errorf("umask: %q", out)
	}
}

// statusField returns a field of /proc/self/status as printed by the container.
func statusField(t *testing.T, status, field string) string {
	t.Helper()
	for _, line := range strings.Split(status, "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	t.Fatalf("no %s in /proc/self/status:\n%s", field, status)
	return ""
}

func TestCapabilitiesAndNoNewPrivs(t *testing.T) {
	t.Parallel()
	// CAP_KILL=5, CAP_NET_BIND_SERVICE=10, CAP_CHOWN=0 in the bounding set only.
	status := runOutput(t, with(sh("cat /proc/self/status"), func(s *specs.Spec) {
		s.Process.Capabilities = &specs.LinuxCapabilities{
			Bounding:  []string{"CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"},
			Permitted: []string{"CAP_KILL", "CAP_NET_BIND_SERVICE"},
			Effective: []string{"CAP_KILL", "CAP_NET_BIND_SERVICE"},
		}
	}))
	want := map[string]string{
		"CapBnd": "0000000000000421", "CapPrm": "0000000000000420", "CapEff": "0000000000000420",
		"CapInh": "0000000000000000", "CapAmb": "0000000000000000", "NoNewPrivs": "1",
	}
	for field, v := range want {
		if got := statusField(t, status, field); got != v {
			t.Errorf("%s = %s, want %s", field, got, v)
		}
	}
}

func TestRlimits(t *testing.T) {
	t.Parallel()
	// Raising a hard limit needs CAP_SYS_RESOURCE, which this host's bounding
	// set lacks: stay below the test process's own hard limit.
	var cur unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &cur); err != nil {
		t.Fatal(err)
	}
	hard := min(uint64(1000), cur.Max)
	out := runOutput(t, with(sh("cat /proc/self/limits"), func(s *specs.Spec) {
		s.Process.Rlimits = []specs.POSIXRlimit{
			{Type: "RLIMIT_NOFILE", Soft: hard / 2, Hard: hard},
			{Type: "RLIMIT_CORE", Soft: 0, Hard: 0},
		}
	}))
	for _, want := range [][]string{
		{"Max open files", strconv.FormatUint(hard/2, 10), strconv.FormatUint(hard, 10)},
		{"Max core file size", "0", "0"},
	} {
		found := false
		for _, line := range strings.Split(out, "\n") {
			if rest, ok := strings.CutPrefix(line, want[0]); ok {
				found = true
				if f := strings.Fields(rest); len(f) < 2 || f[0] != want[1] || f[1] != want[2] {
					t.Errorf("%s: %q, want soft %s hard %s", want[0], rest, want[1], want[2])
				}
			}
		}
		if !found {
			t.Errorf("no %q in /proc/self/limits:\n%s", want[0], out)
		}
	}
}

func TestOOMScoreAdj(t *testing.T) {
	t.Parallel()
	// Lowering the score needs CAP_SYS_RESOURCE: pick a value at or above ours.
	data, err := os.ReadFile("/proc/self/oom_score_adj")
	if err != nil {
		t.Fatal(err)
	}
	own, _ := strconv.Atoi(strings.TrimSpace(string(data)))
	adj := max(own, 123)
	out := runOutput(t, with(sh("cat /proc/self/oom_score_adj"), func(s *specs.Spec) { s.Process.OOMScoreAdj = &adj }))
	if strings.TrimSpace(out) != strconv.Itoa(adj) {
		t.Errorf("oom_score_adj: %q, want %d", out, adj)
	}
}

// fdList returns the descriptors `ls /proc/self/fd` printed, sorted.
func fdList(out string) []int {
	var fds []int
	for _, f := range strings.Fields(out) {
		if n, err := strconv.Atoi(f); err == nil {
			fds = append(fds, n)
		}
	}
	sort.Ints(fds)
	return fds
}

func TestNoStrayFds(t *testing.T) {
	t.Parallel()
	fds := fdList(runOutput(t, sh("ls /proc/self/fd")))
	// 0, 1, 2 and the directory ls itself opened (the lowest free fd: 3).
	if len(fds) != 4 || fds[0] != 0 || fds[1] != 1 || fds[2] != 2 || fds[3] != 3 {
		t.Errorf("fds in the container: %v, want [0 1 2 3] (3 is ls's own)", fds)
	}
}

func TestPreserveFds(t *testing.T) {
	t.Parallel()
	c := tu.NewContainer(t, sh("ls /proc/self/fd; echo through-fd-3 >&3"))
	extra, err := os.Create(filepath.Join(c.Dir, "extra"))
	if err != nil {
		t.Fatal(err)
	}
	defer extra.Close()
	cmd := tu.Command(c.Root, c.ID, "run", "--preserve-fds", "1", "--bundle", c.Bundle, c.ID)
	cmd.ExtraFiles = []*os.File{extra} // fd 3 of the runtime
	r := tu.Must(t, tu.Exec(t, cmd))
	fds := fdList(r.Stdout)
	if len(fds) != 5 || fds[3] != 3 {
		t.Errorf("fds in the container: %v, want [0 1 2 3 4] (4 is ls's own)", fds)
	}
	if data, _ := os.ReadFile(extra.Name()); string(data) != "through-fd-3\n" {
		t.Errorf("preserved fd 3 does not reach the runtime's file: %q", data)
	}
}

// TestSignalsStartDefault: a runtime started with signals ignored (as under
// nohup, or a shell's `trap ” HUP`) still gives the container's program
// every signal at its default: an ignored one would stay ignored across
// execve, and the program's shell could not trap it. `create` is the case
// that matters: a foreground `run` handles the signals it forwards, which
// resets them for its children anyway.
func TestSignalsStartDefault(t *testing.T) {
	t.Parallel()
	c := tu.NewContainer(t, sh("grep -E '^Sig(Ign|Blk):' /proc/self/status > /tmp/signals"))
	cmd := tu.Command(c.Root, c.ID, "create", "--bundle", c.Bundle, c.ID)
	shell, err := exec.LookPath("sh")
	if err != nil {
		t.Fatal(err)
	}
	cmd.Args = append([]string{"sh", "-c", `trap '' HUP INT USR1 PIPE; exec "$0" "$@"`}, cmd.Args...)
	cmd.Path = shell
	tu.Must(t, tu.Exec(t, cmd))
	tu.Must(t, c.Runtime("start", c.ID))
	c.WaitStatus("stopped", 10*time.Second)
	got, err := os.ReadFile(filepath.Join(c.Rootfs(), "tmp", "signals"))
	if err != nil {
		t.Fatal(err)
	}
	// The four the runtime had ignored; busybox's shell itself ignores
	// SIGQUIT on the way, under every runtime.
	const trapped = 1<<(unix.SIGHUP-1) | 1<<(unix.SIGINT-1) | 1<<(unix.SIGUSR1-1) | 1<<(unix.SIGPIPE-1)
	for _, line := range strings.Split(strings.TrimSpace(string(got)), "\n") {
		name, hex, _ := strings.Cut(line, ":\t")
		mask, err := strconv.ParseUint(hex, 16, 64)
		if err != nil {
			t.Fatalf("/proc/self/status line %q: %v", line, err)
		}
		if mask&trapped != 0 {
			t.Errorf("the container's %s is %s with the runtime's HUP, INT, USR1 and PIPE ignored at create: want none of those four", name, hex)
		}
	}
}
