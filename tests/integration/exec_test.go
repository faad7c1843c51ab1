package integration

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	tu "github.com/strata-runtime/strata/tests/testutil"
)

// runningContainer starts a detached container whose init sleeps, changed by
// mutate, and returns it with its init's host PID.
func runningContainer(t *testing.T, mutate func(*specs.Spec)) (*tu.Container, int) {
	t.Helper()
	c := tu.NewContainer(t, func(s *specs.Spec) {
		sleeper(s)
		if mutate != nil {
			mutate(s)
		}
	})
	tu.Must(t, c.Run("--detach"))
	s := c.State()
	if s.Status != "running" || s.Pid <= 0 {
		t.Fatalf("detached container: %+v", s)
	}
	return c, s.Pid
}

// execIn runs `exec FLAGS ID ARGS...` in the container.
func execIn(c *tu.Container, flags []string, args ...string) tu.Result {
	return c.Runtime(append(append(append([]string{"exec"}, flags...), c.ID), args...)...)
}

// readPidFile reads a --pid-file: a host PID.
func readPidFile(t *testing.T, path string) int {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("pid file: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || pid <= 0 {
		t.Fatalf("pid file holds %q, not a pid", data)
	}
	return pid
}

// nsLinks reads /proc/PID/ns/NAME for each name: "pid:[4026531836]".
func nsLinks(t *testing.T, pid int, names []string) map[string]string {
	t.Helper()
	links := map[string]string{}
	for _, n := range names {
		l, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/%s", pid, n))
		if err != nil {
			t.Fatalf("namespace %s of %d: %v", n, pid, err)
		}
		links[n] = l
	}
	return links
}

// execLeakSnap is what a failed exec must not change: the processes in the container (same PID namespace as its init,
// or in its cgroup) plus the runtime's own helpers (marked through their
// environment), and the mount tables of the host and of the container.
type execLeakSnap struct {
	procs      map[int]string // pid: command line
	hostMounts []string
	ctrMounts  []string
}

func snapContainer(c *tu.Container, initPid int) execLeakSnap {
	s := execLeakSnap{procs: map[int]string{}}
	var pidns string
	if initPid > 0 {
		pidns, _ = os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", initPid))
	}
	marker := []byte("STRATA_TEST_ID=" + c.ID + "\x00")
	cgroup := []byte(tu.CgroupParent + "/" + c.ID)
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		dir := "/proc/" + e.Name()
		ns, _ := os.Readlink(dir + "/ns/pid")
		env, _ := os.ReadFile(dir + "/environ")
		cg, _ := os.ReadFile(dir + "/cgroup")
		stat, _ := os.ReadFile(dir + "/stat")
		if bytes.Contains(stat, []byte(") Z ")) {
			continue // exited; only its parent's wait is missing
		}
		if (pidns != "" && ns == pidns) || bytes.Contains(env, marker) || bytes.Contains(cg, cgroup) {
			cmd, _ := os.ReadFile(dir + "/cmdline")
			s.procs[pid] = string(bytes.ReplaceAll(bytes.TrimSpace(cmd), []byte{0}, []byte{' '}))
		}
	}
	s.hostMounts = mountLines("/proc/self/mountinfo")
	if initPid > 0 {
		s.ctrMounts = mountLines(fmt.Sprintf("/proc/%d/mountinfo", initPid))
	}
	return s
}

// mountLines is a mount table without mount and parent IDs, sorted.
func mountLines(path string) []string {
	data, _ := os.ReadFile(path)
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		if f := strings.SplitN(l, " ", 3); len(f) == 3 {
			lines = append(lines, f[2])
		}
	}
	sort.Strings(lines)
	return lines
}

// diff lists what b has that a does not.
func added(a, b []string) []string {
	have := map[string]bool{}
	for _, x := range a {
		have[x] = true
	}
	var extra []string
	for _, x := range b {
		if !have[x] {
			extra = append(extra, x)
		}
	}
	return extra
}

// noExecLeftovers fails the test if, after a failed exec, the container has
// a process or a mount it did not have before (a moment is allowed for a
// killed helper to be reaped). Host mounts are checked for the test's
// directory only: other tests mount at the same time.
func noExecLeftovers(t *testing.T, c *tu.Container, initPid int, before execLeakSnap) {
	t.Helper()
	var leaks []string
	for range 30 {
		after := snapContainer(c, initPid)
		leaks = nil
		// By PID: a process's command line changes when it execs (runc's
		// init may still be "runc init" in the first snapshot).
		for pid, cmd := range after.procs {
			if _, ok := before.procs[pid]; !ok {
				leaks = append(leaks, fmt.Sprintf("process: %d %s", pid, cmd))
			}
		}
		for _, m := range added(before.ctrMounts, after.ctrMounts) {
			leaks = append(leaks, "container mount: "+m)
		}
		for _, m := range added(before.hostMounts, after.hostMounts) {
			if strings.Contains(m, c.Dir) || strings.Contains(m, c.Root) {
				leaks = append(leaks, "host mount: "+m)
			}
		}
		if len(leaks) == 0 {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Errorf("failed exec left behind:\n  %s", strings.Join(leaks, "\n  "))
}

func TestExecOutputAndExitStatus(t *testing.T) {
	t.Parallel()
	c, _ := runningContainer(t, nil)
	r := tu.Must(t, execIn(c, nil, "sh", "-c", "echo out-$((2+3)); echo err-$((3+4)) >&2; hostname"))
	if r.Stdout != "out-5\nstrata-test\n" || r.Stderr != "err-7" {
		t.Errorf("exec output: stdout %q stderr %q", r.Stdout, r.Stderr)
	}
	if r := execIn(c, nil, "sh", "-c", "exit 7"); r.Code != 7 {
		t.Errorf("want exit 7: %s", r)
	}
	// The exec'd shell is not the PID namespace's init: signals kill it, and
	// the runtime reports 128+N.
	if r := execIn(c, nil, "sh", "-c", "kill -9 $$; exit 1"); r.Code != 128+9 {
		t.Errorf("want exit 137 for SIGKILL: %s", r)
	}
	if r := execIn(c, nil, "sh", "-c", "kill -TERM $$; exit 1"); r.Code != 128+15 {
		t.Errorf("want exit 143 for SIGTERM: %s", r)
	}
	// The container goes on running after its exec'd processes exit.
	if s := c.State(); s.Status != "running" {
		t.Errorf("container after execs: %+v", s)
	}
}

func TestExecStdin(t *testing.T) {
	t.Parallel()
	c, _ := runningContainer(t, nil)
	cmd := tu.Command(c.Root, c.ID, "exec", c.ID, "sh", "-c", "read a; echo got-$a")
	cmd.Stdin = strings.NewReader("line-1\n")
	r := tu.Must(t, tu.Exec(t, cmd))
	if r.Stdout != "got-line-1\n" {
		t.Errorf("exec with stdin: %q", r.Stdout)
	}
}

func TestExecEnvCwdUser(t *testing.T) {
	t.Parallel()
	c, _ := runningContainer(t, nil)
	r := tu.Must(t, execIn(c, []string{"-e", "FOO=bar baz", "-e", "ANSWER=42", "--cwd", "/tmp", "-u", "1000:1000", "--additional-gids", "10", "--additional-gids", "29"},
		"sh", "-c", `echo "$FOO|$ANSWER|$PATH"; pwd; id -u; id -g; id -G`))
	lines := strings.Split(strings.TrimSpace(r.Stdout), "\n")
	if len(lines) != 5 {
		t.Fatalf("exec output: %q", r.Stdout)
	}
	// -e adds to the container's environment: PATH is the spec's.
	if lines[0] != "bar baz|42|/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" {
		t.Errorf("env: %q", lines[0])
	}
	if lines[1] != "/tmp" {
		t.Errorf("cwd: %q", lines[1])
	}
	if lines[2] != "1000" || lines[3] != "1000" {
		t.Errorf("uid %q gid %q, want 1000 1000", lines[2], lines[3])
	}
	groups := strings.Fields(lines[4])
	sort.Strings(groups)
	if strings.Join(groups, " ") != "10 1000 29" {
		t.Errorf("id -G: %q, want the groups 1000 10 29", lines[4])
	}
	// Without flags the process is the container's: root in /.
	r = tu.Must(t, execIn(c, nil, "sh", "-c", "pwd; id -u; id -G"))
	if r.Stdout != "/\n0\n0\n" {
		t.Errorf("exec without flags: %q", r.Stdout)
	}
}

// capBit tells whether capability bit n is set in a hex mask of
// /proc/self/status.
func capBit(t *testing.T, mask string, n uint) bool {
	t.Helper()
	v, err := strconv.ParseUint(mask, 16, 64)
	if err != nil {
		t.Fatalf("capability mask %q: %v", mask, err)
	}
	return v&(1<<n) != 0
}

func TestExecCapAndNoNewPrivs(t *testing.T) {
	t.Parallel()
	const capSysAdmin = 21
	// The container's process has no_new_privs off, so that --no-new-privs
	// is what turns it on.
	c, _ := runningContainer(t, func(s *specs.Spec) { s.Process.NoNewPrivileges = false })

	plain := tu.Must(t, execIn(c, nil, "cat", "/proc/self/status")).Stdout
	if capBit(t, statusField(t, plain, "CapEff"), capSysAdmin) || capBit(t, statusField(t, plain, "CapBnd"), capSysAdmin) {
		t.Errorf("CAP_SYS_ADMIN without --cap:\n%s", plain)
	}
	if !capBit(t, statusField(t, plain, "CapEff"), 5) { // CAP_KILL, the spec's
		t.Errorf("exec lacks the container's CAP_KILL: CapEff %s", statusField(t, plain, "CapEff"))
	}
	if v := statusField(t, plain, "NoNewPrivs"); v != "0" {
		t.Errorf("NoNewPrivs %s without --no-new-privs, want 0", v)
	}

	status := tu.Must(t, execIn(c, []string{"--cap", "CAP_SYS_ADMIN", "--no-new-privs"}, "cat", "/proc/self/status")).Stdout
	for _, set := range []string{"CapEff", "CapPrm", "CapBnd"} {
		if !capBit(t, statusField(t, status, set), capSysAdmin) {
			t.Errorf("%s %s lacks CAP_SYS_ADMIN after --cap CAP_SYS_ADMIN", set, statusField(t, status, set))
		}
	}
	if !capBit(t, statusField(t, status, "CapEff"), 5) {
		t.Errorf("--cap dropped the container's CAP_KILL: CapEff %s", statusField(t, status, "CapEff"))
	}
	if v := statusField(t, status, "NoNewPrivs"); v != "1" {
		t.Errorf("NoNewPrivs %s with --no-new-privs, want 1", v)
	}
}

func TestExecProcessFile(t *testing.T) {
	t.Parallel()
	c, _ := runningContainer(t, nil)
	umask := uint32(0o077)
	p := specs.Process{
		Args: []string{"sh", "-c", `echo "$ONLY"; echo "${TERM:-noterm}"; pwd; id -u; id -g; umask`},
		Env:  []string{"PATH=/bin", "ONLY=from-process-json"},
		Cwd:  "/etc",
		User: specs.User{UID: 123, GID: 456, Umask: &umask},
	}
	data, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(c.Dir, "process.json")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	r := tu.Must(t, execIn(c, []string{"--process", path}))
	// The file is the whole process: nothing of the container's (its
	// TERM) is merged in. (runc 1.1 ignores user.umask for exec: strata
	// applies it as it does for the init.)
	want := "from-process-json\nnoterm\n/etc\n123\n456\n"
	if tu.IsStrata() {
		want += "0077\n"
	}
	if !strings.HasPrefix(r.Stdout, want) || strings.Count(r.Stdout, "\n") != 6 {
		t.Errorf("exec --process: %q, want %q then the umask", r.Stdout, want)
	}
}

func TestExecDetachedPidFile(t *testing.T) {
	t.Parallel()
	c, initPid := runningContainer(t, nil)
	pidFile := filepath.Join(c.Dir, "exec.pid")
	start := time.Now()
	r := tu.Must(t, execIn(c, []string{"-d", "--pid-file", pidFile}, "sleep", "1000"))
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("exec -d took %v: it must not wait for the process", d)
	}
	if r.Stdout != "" {
		t.Errorf("exec -d printed %q", r.Stdout)
	}
	pid := readPidFile(t, pidFile)
	var err error
	if pid == initPid {
		t.Fatalf("pid file holds the init's pid %d", pid)
	}
	// runc may return before its helper has exec'd the program: allow a
	// moment for the pid file's process to become sleep.
	var cmdline []byte
	for range 100 {
		if cmdline, err = os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); err != nil || string(cmdline) == "sleep\x001000\x00" {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("exec'd process %d: %v", pid, err)
	}
	if string(cmdline) != "sleep\x001000\x00" {
		t.Errorf("process %d runs %q, want sleep 1000", pid, cmdline)
	}
	// It is in the container: the same PID namespace as the init, and the
	// container itself sees it under its namespace PID.
	if nsLinks(t, pid, []string{"pid"})["pid"] != nsLinks(t, initPid, []string{"pid"})["pid"] {
		t.Errorf("exec'd process %d is not in the init's PID namespace", pid)
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	nspid := strings.Fields(statusField(t, string(status), "NSpid"))
	if len(nspid) != 2 || nspid[0] != strconv.Itoa(pid) {
		t.Fatalf("NSpid of %d: %q, want the host pid and one in the container", pid, nspid)
	}
	inside := tu.Must(t, execIn(c, nil, "cat", "/proc/"+nspid[1]+"/cmdline")).Stdout
	if inside != "sleep\x001000\x00" {
		t.Errorf("the container's /proc/%s/cmdline: %q", nspid[1], inside)
	}
	if s := c.State(); s.Status != "running" || s.Pid != initPid {
		t.Errorf("state after exec -d: %+v", s)
	}
	// Killing the container takes the exec'd process with it.
	tu.Must(t, c.Runtime("kill", c.ID, "KILL"))
	c.WaitStatus("stopped", 10*time.Second)
	pidGone(t, pid)
}

func TestExecNamespaces(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		mutate func(*specs.Spec)
		names  []string
	}{
		{"default", nil, []string{"pid", "mnt", "net", "ipc", "uts"}},
		{"userns-cgroupns", func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace}, specs.LinuxNamespace{Type: specs.CgroupNamespace})
			s.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
			s.Linux.GIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
		}, []string{"pid", "mnt", "net", "ipc", "uts", "user", "cgroup"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, initPid := runningContainer(t, tc.mutate)
			pidFile := filepath.Join(c.Dir, "exec.pid")
			tu.Must(t, execIn(c, []string{"-d", "--pid-file", pidFile}, "sleep", "1000"))
			pid := readPidFile(t, pidFile)
			all := []string{"pid", "mnt", "net", "ipc", "uts", "user", "cgroup"}
			host := nsLinks(t, os.Getpid(), all)
			init := nsLinks(t, initPid, all)
			got := nsLinks(t, pid, all)
			for _, n := range all {
				if got[n] != init[n] {
					t.Errorf("%s namespace: exec'd process %s, init %s", n, got[n], init[n])
				}
			}
			// The comparison means something: the container's namespaces
			// are not the host's.
			for _, n := range tc.names {
				if init[n] == host[n] {
					t.Errorf("%s namespace: the init shares the host's %s", n, host[n])
				}
			}
			// And the exec'd process is what the container's user namespace
			// maps: uid 0 inside, 100000 outside.
			if tc.name != "default" {
				out := tu.Must(t, execIn(c, nil, "sh", "-c", "id -u; cat /proc/self/uid_map")).Stdout
				if f := strings.Fields(out); len(f) != 4 || f[0] != "0" || f[2] != "100000" {
					t.Errorf("exec in a user namespace: %q", out)
				}
			}
		})
	}
}

func TestExecUnknownContainer(t *testing.T) {
	t.Parallel()
	id := tu.UniqueID(t)
	dir := t.TempDir()
	root := filepath.Join(dir, "root")
	guard := tu.NewGuard(id, root, dir)
	r := tu.Exec(t, tu.Command(root, id, "exec", id, "true"))
	wantErrorText(t, r, fmt.Sprintf("exec in container %q: does not exist", id))
	wantIDOnce(t, r, id)
	guard.Check(t)
}

func TestExecStoppedContainer(t *testing.T) {
	t.Parallel()
	c := tu.NewContainer(t, sh("exit 0"))
	tu.Must(t, c.Create())
	tu.Must(t, c.Runtime("start", c.ID))
	c.WaitStatus("stopped", 10*time.Second)
	before := snapContainer(c, 0)
	r := execIn(c, nil, "true")
	wantErrorText(t, r, "stopped")
	noExecLeftovers(t, c, 0, before)
	if s := c.State(); s.Status != "stopped" {
		t.Errorf("state after the refused exec: %+v", s)
	}
}

// TestExecRefused covers execs that must fail before or while the process is
// set up, each leaving the running container as it was.
func TestExecRefused(t *testing.T) {
	t.Parallel()
	c, initPid := runningContainer(t, nil)
	writeProcess := func(name, content string) string {
		path := filepath.Join(c.Dir, name)
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	for _, tc := range []struct {
		name  string
		flags []string
		args  []string
		want  string // in strata's message
	}{
		{"nonexistent-cwd", []string{"--cwd", "/no/such/dir"}, []string{"true"}, "/no/such/dir"},
		{"cwd-is-a-file", []string{"--cwd", "/bin/busybox"}, []string{"true"}, "/bin/busybox"},
		{"nonexistent-binary", nil, []string{"/no/such/binary"}, "/no/such/binary"},
		{"binary-not-in-path", nil, []string{"no-such-command-xyz"}, "no-such-command-xyz"},
		{"no-command", nil, nil, "command"},
		{"process-args-empty", []string{"--process", writeProcess("p1.json", `{"args":[],"cwd":"/"}`)}, nil, "process.args"},
		{"process-cwd-relative", []string{"--process", writeProcess("p2.json", `{"args":["true"],"cwd":"tmp"}`)}, nil, "process.cwd"},
		{"process-bad-rlimit", []string{"--process", writeProcess("p4.json", `{"args":["true"],"cwd":"/","rlimits":[{"type":"RLIMIT_BOGUS","hard":1,"soft":1}]}`)}, nil, "process.rlimits[0]"},
		{"process-not-json", []string{"--process", writeProcess("p5.json", `{"args":["true"],`)}, nil, "p5.json"},
		{"process-wrong-type", []string{"--process", writeProcess("p6.json", `{"args":"true","cwd":"/"}`)}, nil, "args"},
		{"process-missing", []string{"--process", filepath.Join(c.Dir, "absent.json")}, nil, "absent.json"},
		{"bad-user", []string{"-u", "nobody:x"}, []string{"true"}, "--user"},
	} {
		// Sequential: each checks the container for leftovers of its own.
		t.Run(tc.name, func(t *testing.T) {
			before := snapContainer(c, initPid)
			r := execIn(c, tc.flags, tc.args...)
			wantErrorText(t, r, tc.want)
			if r.Stdout != "" {
				t.Errorf("failed exec printed %q", r.Stdout)
			}
			noExecLeftovers(t, c, initPid, before)
		})
	}
	// The container is unharmed and still takes execs.
	if s := c.State(); s.Status != "running" || s.Pid != initPid {
		t.Errorf("state after refused execs: %+v", s)
	}
	if out := tu.Must(t, execIn(c, nil, "echo", "still-ok")).Stdout; out != "still-ok\n" {
		t.Errorf("exec after refused ones: %q", out)
	}
}

func TestExecPreserveFds(t *testing.T) {
	t.Parallel()
	c, _ := runningContainer(t, nil)
	extra3, err := os.Create(filepath.Join(c.Dir, "extra3"))
	if err != nil {
		t.Fatal(err)
	}
	defer extra3.Close()
	extra4, err := os.Create(filepath.Join(c.Dir, "extra4"))
	if err != nil {
		t.Fatal(err)
	}
	defer extra4.Close()
	cmd := tu.Command(c.Root, c.ID, "exec", "--preserve-fds", "2", c.ID, "sh", "-c", "ls /proc/self/fd; echo via-fd-3 >&3; echo via-fd-4 >&4")
	cmd.ExtraFiles = []*os.File{extra3, extra4} // fds 3 and 4 of the runtime
	r := tu.Must(t, tu.Exec(t, cmd))
	// 0-2, the two preserved, and ls's own directory fd (5).
	if fds := fdList(r.Stdout); len(fds) != 6 || fds[3] != 3 || fds[4] != 4 || fds[5] != 5 {
		t.Errorf("fds in the exec'd process: %v, want [0 1 2 3 4 5] (5 is ls's own)", fds)
	}
	if data, _ := os.ReadFile(extra3.Name()); string(data) != "via-fd-3\n" {
		t.Errorf("preserved fd 3: %q", data)
	}
	if data, _ := os.ReadFile(extra4.Name()); string(data) != "via-fd-4\n" {
		t.Errorf("preserved fd 4: %q", data)
	}
	// Without --preserve-fds the runtime's extra fds stay out.
	cmd = tu.Command(c.Root, c.ID, "exec", c.ID, "ls", "/proc/self/fd")
	cmd.ExtraFiles = []*os.File{extra3}
	r = tu.Must(t, tu.Exec(t, cmd))
	if fds := fdList(r.Stdout); len(fds) != 4 {
		t.Errorf("fds without --preserve-fds: %v, want [0 1 2 3] (3 is ls's own)", fds)
	}
}

// An exec into a paused container is refused unless --ignore-paused; with
// it, the process starts frozen with the rest and runs once resumed.
func TestExecPausedContainer(t *testing.T) {
	t.Parallel()
	c := tu.NewContainer(t, sleeper)
	tu.Must(t, c.Run("--detach"))
	pid := c.State().Pid
	tu.Must(t, c.Runtime("pause", c.ID))
	before := snapContainer(c, pid)
	r := execIn(c, nil, "true")
	wantErrorText(t, r, fmt.Sprintf("exec in container %q: status is paused", c.ID))
	wantIDOnce(t, r, c.ID)
	noExecLeftovers(t, c, pid, before)

	out := filepath.Join(c.Rootfs(), "tmp", "ran")
	done := make(chan tu.Result, 1)
	go func() { done <- execIn(c, []string{"--ignore-paused"}, "sh", "-c", "echo yes > /tmp/ran") }()
	time.Sleep(500 * time.Millisecond)
	if _, err := os.Stat(out); err == nil {
		t.Fatal("the exec'd process ran while the container was paused")
	}
	tu.Must(t, c.Runtime("resume", c.ID))
	select {
	case r := <-done:
		tu.Must(t, r)
	case <-time.After(20 * time.Second):
		t.Fatal("exec --ignore-paused did not finish after resume")
	}
	if b, err := os.ReadFile(out); err != nil || string(b) != "yes\n" {
		t.Fatalf("after resume the process wrote %q (%v)", b, err)
	}
}

// config.md: a capability that cannot be granted is logged as a warning,
// and the runtime should not fail; runc ignores unknown names with a
// warning, in the config and in exec --cap alike.
func TestUnknownCapabilityWarns(t *testing.T) {
	t.Parallel()
	t.Run("config", func(t *testing.T) {
		t.Parallel()
		c := tu.NewContainer(t, with(sh("echo ran"), func(s *specs.Spec) {
			s.Process.Capabilities.Bounding = append(s.Process.Capabilities.Bounding, "CAP_NOSUCH")
		}))
		r := tu.Must(t, c.Run())
		if strings.TrimSpace(r.Stdout) != "ran" || !strings.Contains(r.Stderr, "CAP_NOSUCH") {
			t.Errorf("want the process to run and a warning naming CAP_NOSUCH: %s", r)
		}
	})
	t.Run("exec --cap", func(t *testing.T) {
		t.Parallel()
		c, _ := runningContainer(t, nil)
		r := tu.Must(t, c.Runtime("exec", "--cap", "CAP_NOSUCH", c.ID, "echo", "ran"))
		if strings.TrimSpace(r.Stdout) != "ran" || !strings.Contains(r.Stderr, "CAP_NOSUCH") {
			t.Errorf("want the process to run and a warning naming CAP_NOSUCH: %s", r)
		}
	})
}
