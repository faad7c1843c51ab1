package integration

import (
	"encoding/binary"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unsafe"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	tu "github.com/strata-runtime/strata/tests/testutil"
)

// withSeccomp sets linux.seccomp.
func withSeccomp(sc *specs.LinuxSeccomp) func(*specs.Spec) {
	return func(s *specs.Spec) { s.Linux.Seccomp = sc }
}

func errnoRet(e unix.Errno) *uint { v := uint(e); return &v }

// denyMkdir answers mkdir with errno (EPERM when nil) and allows the rest.
func denyMkdir(errno *uint) *specs.LinuxSeccomp {
	return &specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		Syscalls:      []specs.LinuxSyscall{{Names: []string{"mkdir", "mkdirat"}, Action: specs.ActErrno, ErrnoRet: errno}},
	}
}

func TestSeccompErrnoAndDefaultEPERM(t *testing.T) {
	t.Parallel()
	script := `mkdir /tmp/x 2>&1; echo "mkdir=$?"; touch /tmp/y && echo touched`
	for _, tc := range []struct {
		name  string
		errno *uint
		want  string
	}{
		{"errnoRet ENOSPC", errnoRet(unix.ENOSPC), "No space left on device"},
		{"default EPERM", nil, "Operation not permitted"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			out := runOutput(t, with(sh(script), withSeccomp(denyMkdir(tc.errno))))
			if !strings.Contains(out, tc.want) || !strings.Contains(out, "mkdir=1") || !strings.Contains(out, "touched") {
				t.Errorf("want mkdir to fail with %q and touch to work, got %q", tc.want, out)
			}
		})
	}
}

func TestSeccompArgs(t *testing.T) {
	t.Parallel()
	// SCMP_CMP_MASKED_EQ: chmod whose mode has all of o+rwx is refused;
	// SCMP_CMP_EQ on kill's signal: SIGUSR1 is refused, signal 0 is not.
	masked := specs.LinuxSeccompArg{Index: 1, Value: 0o7, ValueTwo: 0o7, Op: specs.OpMaskedEqual}
	maskedAt := masked
	maskedAt.Index = 2
	sc := &specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		Syscalls: []specs.LinuxSyscall{
			{Names: []string{"chmod"}, Action: specs.ActErrno, ErrnoRet: errnoRet(unix.EROFS), Args: []specs.LinuxSeccompArg{masked}},
			{Names: []string{"fchmodat", "fchmodat2"}, Action: specs.ActErrno, ErrnoRet: errnoRet(unix.EROFS), Args: []specs.LinuxSeccompArg{maskedAt}},
			{Names: []string{"kill"}, Action: specs.ActErrno, Args: []specs.LinuxSeccompArg{{Index: 1, Value: uint64(unix.SIGUSR1), Op: specs.OpEqualTo}}},
		},
	}
	out := runOutput(t, with(sh(`touch /tmp/f
chmod 770 /tmp/f && echo chmod770=ok
chmod 777 /tmp/f 2>&1; echo "chmod777=$?"
kill -0 $$ && echo kill0=ok
kill -USR1 $$ 2>&1; echo "usr1=$?"`), withSeccomp(sc)))
	for _, want := range []string{"chmod770=ok", "Read-only file system", "chmod777=1", "kill0=ok", "usr1=1"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestSeccompKillProcess(t *testing.T) {
	t.Parallel()
	sc := &specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		Syscalls:      []specs.LinuxSyscall{{Names: []string{"mkdir", "mkdirat"}, Action: specs.ActKillProcess}},
	}
	c := tu.NewContainer(t, with(func(s *specs.Spec) { s.Process.Args = []string{"mkdir", "/tmp/x"} }, withSeccomp(sc)))
	r := c.Run()
	if r.Code != 128+int(unix.SIGSYS) {
		t.Errorf("want the process killed by SIGSYS (exit %d): %s", 128+int(unix.SIGSYS), r)
	}
	if _, err := os.Stat(filepath.Join(c.Rootfs(), "tmp/x")); err == nil {
		t.Error("mkdir ran despite SCMP_ACT_KILL_PROCESS")
	}
}

// TestSeccompDefaultDeny: a whitelist profile (defaultAction ERRNO) must
// still let the runtime reach the program: strata's own syscalls after
// the filter is loaded are execve alone.
func TestSeccompDefaultDenyWhitelist(t *testing.T) {
	t.Parallel()
	allow := []string{"execve", "brk", "arch_prctl", "set_tid_address", "exit_group", "write", "getuid",
		"mmap", "munmap", "rt_sigprocmask", "rt_sigaction", "getpid", "ioctl", "prlimit64", "geteuid", "uname",
		"readlink", "getppid", "getcwd", "stat", "newfstatat", "fstat", "exit", "open", "openat", "read", "close",
		"mprotect", "prctl", "set_robust_list", "getrandom", "rseq"}
	sc := &specs.LinuxSeccomp{
		DefaultAction: specs.ActErrno, DefaultErrnoRet: errnoRet(unix.ENOSYS),
		Architectures: []specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchX32},
		Syscalls:      []specs.LinuxSyscall{{Names: allow, Action: specs.ActAllow}},
	}
	out := runOutput(t, with(func(s *specs.Spec) { s.Process.Args = []string{"echo", "whitelisted"} }, withSeccomp(sc)))
	if out != "whitelisted\n" {
		t.Errorf("echo under a whitelist: %q", out)
	}
}

func TestSeccompUnknownSyscallSkipped(t *testing.T) {
	t.Parallel()
	sc := denyMkdir(nil)
	sc.Syscalls[0].Names = append(sc.Syscalls[0].Names, "no_such_syscall_42")
	c := tu.NewContainer(t, with(sh("mkdir /tmp/x 2>&1; echo mkdir=$?"), withSeccomp(sc)))
	r := c.Runtime("--debug", "run", "--bundle", c.Bundle, c.ID)
	if r.Code != 0 || !strings.Contains(r.Stdout, "Operation not permitted") {
		t.Fatalf("the known names must still be filtered: %s", r)
	}
	if tu.IsStrata() && (!strings.Contains(r.Stderr, "linux.seccomp.syscalls[0].names[2]: unknown syscall") ||
		!strings.Contains(r.Stderr, "no_such_syscall_42")) {
		t.Errorf("no warning naming the skipped syscall: %q", r.Stderr)
	}
}

// TestSeccompBadProfile: each field that is wrong is named, and nothing
// is made (NewContainer's guard checks the host afterwards).
func TestSeccompBadProfile(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		sc   *specs.LinuxSeccomp
		want string
	}{
		{"action", &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{
			{Names: []string{"getpid"}, Action: specs.ActErrno}, {Names: []string{"mkdir"}, Action: "SCMP_ACT_FOO"}}},
			`linux.seccomp.syscalls[1].action: unknown action "SCMP_ACT_FOO"`},
		{"defaultAction", &specs.LinuxSeccomp{DefaultAction: "SCMP_ACT_NOPE"}, `linux.seccomp.defaultAction: unknown action "SCMP_ACT_NOPE"`},
		{"arch", &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Architectures: []specs.Arch{specs.ArchX86_64, "SCMP_ARCH_Z80"}},
			`linux.seccomp.architectures[1]: unknown architecture "SCMP_ARCH_Z80"`},
		{"op", &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{Names: []string{"kill"}, Action: specs.ActErrno,
			Args: []specs.LinuxSeccompArg{{Index: 1, Value: 9, Op: "SCMP_CMP_ABOUT"}}}}},
			`linux.seccomp.syscalls[0].args[0].op: unknown operator "SCMP_CMP_ABOUT"`},
		{"flag", &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Flags: []specs.LinuxSeccompFlag{"SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_MAGIC"}},
			`linux.seccomp.flags[1]: unknown flag "SECCOMP_FILTER_FLAG_MAGIC"`},
		{"errnoRet on allow", &specs.LinuxSeccomp{DefaultAction: specs.ActErrno, Syscalls: []specs.LinuxSyscall{{Names: []string{"read"}, Action: specs.ActAllow, ErrnoRet: errnoRet(1)}}},
			`linux.seccomp.syscalls[0].errnoRet`},
		{"notify without listener", &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{Names: []string{"mkdir"}, Action: specs.ActNotify}}},
			`linux.seccomp.listenerPath`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := tu.NewContainer(t, withSeccomp(tc.sc))
			r := c.Run()
			wantErrorText(t, r, tc.want)
			if tu.IsStrata() {
				if _, err := os.Stat(filepath.Join(c.Root, c.ID)); err == nil {
					t.Errorf("a state directory was made for a refused config")
				}
			}
		})
	}
}

func TestSeccompFlagLog(t *testing.T) {
	t.Parallel()
	sc := denyMkdir(nil)
	sc.Flags = []specs.LinuxSeccompFlag{"SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"}
	out := runOutput(t, with(sh("mkdir /tmp/x 2>&1; echo mkdir=$?"), withSeccomp(sc)))
	if !strings.Contains(out, "Operation not permitted") {
		t.Errorf("filter with flags not in force: %q", out)
	}
}

// TestSeccompWithoutNoNewPrivs: an unprivileged user without
// no_new_privs cannot load a filter itself: strata must load it before
// dropping privileges.
func TestSeccompWithoutNoNewPrivs(t *testing.T) {
	t.Parallel()
	out := runOutput(t, with(sh("grep -E '^(NoNewPrivs|Seccomp):' /proc/self/status; id -u; mkdir /tmp/x 2>&1; true"),
		withSeccomp(denyMkdir(errnoRet(unix.ENOSPC))), func(s *specs.Spec) {
			s.Process.NoNewPrivileges = false
			s.Process.User = specs.User{UID: 1000, GID: 1000}
			s.Process.Capabilities = &specs.LinuxCapabilities{}
		}))
	for _, want := range []string{"NoNewPrivs:\t0", "Seccomp:\t2", "1000", "No space left on device"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// TestSeccompExec: a process exec'd into the container gets the
// container's filter too.
func TestSeccompExec(t *testing.T) {
	t.Parallel()
	c := tu.NewContainer(t, with(sleeper, withSeccomp(denyMkdir(errnoRet(unix.ENOSPC)))))
	tu.Must(t, c.Run("--detach"))
	r := c.Runtime("exec", c.ID, "sh", "-c", "mkdir /tmp/x 2>&1; grep ^Seccomp: /proc/self/status")
	if !strings.Contains(r.Stdout, "No space left on device") || !strings.Contains(r.Stdout, "Seccomp:\t2") {
		t.Errorf("exec'd process without the container's filter: %s", r)
	}
}

// TestSeccompCache: the parent compiles once per profile and --root; a
// cached program is used as is (here, replaced by one that allows all:
// mkdir then works, which proves no recompilation happened).
func TestSeccompCache(t *testing.T) {
	tu.StrataOnly(t, "the compiled-program cache under --root is strata's")
	t.Parallel()
	c := tu.NewContainer(t, with(sh("mkdir /tmp/x 2>&1; echo mkdir=$?"), withSeccomp(denyMkdir(nil))))
	if out := c.MustRun(); !strings.Contains(out, "mkdir=1") {
		t.Fatalf("filter not in force: %q", out)
	}
	files, _ := filepath.Glob(filepath.Join(c.Root, ".cache~", "seccomp", "*.bpf"))
	if len(files) != 1 {
		t.Fatalf("want one cached program under --root, got %v", files)
	}
	if len(strings.TrimSuffix(filepath.Base(files[0]), ".bpf")) != 64 {
		t.Errorf("cache file is not named by a sha256: %s", files[0])
	}
	// BPF_RET|BPF_K SECCOMP_RET_ALLOW
	allowAll := make([]byte, 8)
	binary.LittleEndian.PutUint16(allowAll[0:], 0x06)
	binary.LittleEndian.PutUint32(allowAll[4:], 0x7fff0000)
	if err := os.WriteFile(files[0], allowAll, 0o600); err != nil {
		t.Fatal(err)
	}
	if out := c.MustRun(); !strings.Contains(out, "mkdir=0") {
		t.Errorf("the cached program was not used: %q", out)
	}
	if out := tu.Must(t, c.Runtime("list", "-q")).Stdout; strings.Contains(out, "cache") {
		t.Errorf("list shows the cache as a container: %q", out)
	}
}

// TestSeccompDockerDefaultProfile runs the docker-style profile the bench
// uses: ordinary programs work, namespace creation and AF_VSOCK do not.
func TestSeccompDockerDefaultProfile(t *testing.T) {
	t.Parallel()
	sc := loadDefaultProfile(t)
	out := runOutput(t, with(sh(`echo hello > /tmp/f && cat /tmp/f && ls / >/dev/null && echo ls=ok
unshare -m true 2>&1; echo "unshare=$?"`), withSeccomp(sc)))
	for _, want := range []string{"hello", "ls=ok", "Operation not permitted", "unshare=1"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func loadDefaultProfile(t *testing.T) *specs.LinuxSeccomp {
	t.Helper()
	repo, err := tu.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(repo, "tests", "seccomp", "default.json"))
	if err != nil {
		t.Fatal(err)
	}
	var sc specs.LinuxSeccomp
	if err := json.Unmarshal(b, &sc); err != nil {
		t.Fatal(err)
	}
	if n := len(sc.Syscalls[0].Names); n < 300 {
		t.Fatalf("default profile has %d names, want several hundred", n)
	}
	return &sc
}

// TestSeccompNotify: SCMP_ACT_NOTIFY with listenerPath. The test is the
// seccomp agent: it receives the container process state and the notify
// fd, and answers the container's mkdir with EXDEV.
func TestSeccompNotify(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	sock := filepath.Join(dir, "agent.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	sc := &specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow, ListenerPath: sock, ListenerMetadata: "agent-metadata",
		Syscalls: []specs.LinuxSyscall{{Names: []string{"mkdir", "mkdirat"}, Action: specs.ActNotify}},
	}
	c := tu.NewContainer(t, with(sh("mkdir /tmp/x 2>&1; echo mkdir=$?"), withSeccomp(sc)))

	type agentResult struct {
		state    specs.ContainerProcessState
		answered int
		err      error
	}
	done, stop := make(chan agentResult, 1), make(chan struct{})
	go func() {
		var res agentResult
		defer func() { done <- res }()
		ln.SetDeadline(time.Now().Add(30 * time.Second))
		conn, err := ln.AcceptUnix()
		if err != nil {
			res.err = err
			return
		}
		defer conn.Close()
		buf, oob := make([]byte, 1<<16), make([]byte, unix.CmsgSpace(4))
		n, oobn, _, _, err := conn.ReadMsgUnix(buf, oob)
		if err != nil {
			res.err = err
			return
		}
		if res.err = json.Unmarshal(buf[:n], &res.state); res.err != nil {
			return
		}
		msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
		if err != nil || len(msgs) != 1 {
			res.err = err
			return
		}
		fds, err := unix.ParseUnixRights(&msgs[0])
		if err != nil || len(fds) != 1 {
			res.err = err
			return
		}
		notifyFd := fds[0]
		defer unix.Close(notifyFd)
		// Answer until the container has exited: the fd then hangs up.
		for {
			pfd := []unix.PollFd{{Fd: int32(notifyFd), Events: unix.POLLIN}}
			if n, err := unix.Poll(pfd, 200); err == unix.EINTR || n == 0 {
				select {
				case <-stop:
					return
				default:
					continue
				}
			}
			if pfd[0].Revents&unix.POLLIN == 0 {
				return
			}
			id, err := notifRecv(notifyFd)
			if err != nil {
				return
			}
			if notifRespond(notifyFd, id, -int32(unix.EXDEV)) == nil {
				res.answered++
			}
		}
	}()
	out := c.MustRun()
	close(stop)
	res := <-done
	if res.err != nil {
		t.Fatalf("agent: %v", res.err)
	}
	if !strings.Contains(out, "Invalid cross-device link") || !strings.Contains(out, "mkdir=1") {
		t.Errorf("mkdir not answered by the agent: %q", out)
	}
	if res.answered == 0 {
		t.Error("the agent answered no notification")
	}
	st := res.state
	if st.Metadata != "agent-metadata" || len(st.Fds) != 1 || st.Fds[0] != specs.SeccompFdName ||
		st.Pid <= 0 || st.State.ID != c.ID || st.State.Bundle != c.Bundle || st.Version == "" {
		t.Errorf("container process state: %+v", st)
	}
}

// notifRecv and notifRespond are the two ioctls of a seccomp agent
// (linux/seccomp.h): struct seccomp_notif is 80 bytes (id first), struct
// seccomp_notif_resp 24 (id, val, error, flags).
func notifRecv(fd int) (uint64, error) {
	const ioctlRecv = 0xc0502100
	var req [80]byte
	for {
		_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), ioctlRecv, uintptr(unsafe.Pointer(&req[0])))
		if errno == unix.EINTR {
			continue
		}
		if errno != 0 {
			return 0, errno
		}
		return binary.LittleEndian.Uint64(req[0:]), nil
	}
}

func notifRespond(fd int, id uint64, errno int32) error {
	const ioctlSend = 0xc0182101
	var resp [24]byte
	binary.LittleEndian.PutUint64(resp[0:], id)
	binary.LittleEndian.PutUint32(resp[16:], uint32(errno))
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), ioctlSend, uintptr(unsafe.Pointer(&resp[0]))); e != 0 {
		return e
	}
	return nil
}

// As runc: startContainer hooks run under the container's filter (runc
// loads it before them), with or without no_new_privs.
func TestSeccompAppliesToStartContainerHooks(t *testing.T) {
	t.Parallel()
	for _, nnp := range []bool{true, false} {
		t.Run(map[bool]string{true: "noNewPrivileges", false: "privileged"}[nnp], func(t *testing.T) {
			t.Parallel()
			hook := specs.Hook{Path: "/bin/sh", Args: []string{"sh", "-c", "mkdir /tmp/by-hook; echo $? > /tmp/hook-rc"}}
			out := runOutput(t, with(sh("cat /tmp/hook-rc"), withSeccomp(denyMkdir(nil)), func(s *specs.Spec) {
				s.Process.NoNewPrivileges = nnp
				s.Hooks = &specs.Hooks{StartContainer: []specs.Hook{hook}}
			}))
			if strings.TrimSpace(out) != "1" {
				t.Errorf("the hook's mkdir exited %q, want 1 (refused by the container's filter)", strings.TrimSpace(out))
			}
		})
	}
}
