package seccomp

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// The child half of TestNewerSyscallsGetENOSYS: it loads the program in
// $STRATA_SECCOMP_BPF_TEST and prints the errno of each syscall number in
// $STRATA_SECCOMP_NRS.
func init() {
	path := os.Getenv("STRATA_SECCOMP_BPF_TEST")
	if path == "" {
		return
	}
	b, err := os.ReadFile(path)
	if err == nil {
		runtime.LockOSThread()
		if err = unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err == nil {
			_, err = (&Program{BPF: b}).Load(0)
		}
	}
	if err != nil {
		fmt.Println("load:", err)
		os.Exit(2)
	}
	var out []string
	for _, f := range strings.Fields(os.Getenv("STRATA_SECCOMP_NRS")) {
		var nr uintptr
		fmt.Sscan(f, &nr)
		// Arguments no syscall accepts: whatever passes the filter fails
		// in the kernel with EBADF, EINVAL or ESPIPE, not with the
		// filter's EPERM or ENOSYS (the kernel's own ENOSYS for a number
		// it does not know is the stub's, so only known ones are used).
		_, _, e := unix.RawSyscall6(nr, ^uintptr(0), ^uintptr(0), ^uintptr(0), 0, 0, 0)
		name := "kernel" // passed the filter
		if e == unix.EPERM || e == unix.ENOSYS {
			name = unix.ErrnoName(e)
		}
		out = append(out, f+"="+name)
	}
	fmt.Println(strings.Join(out, " "))
	os.Exit(0)
}

// runFiltered compiles s, loads it in a child process and returns what the
// syscalls nrs answered there, as "nr=ERRNO" words.
func runFiltered(t *testing.T, s *specs.LinuxSeccomp, nrs string) string {
	t.Helper()
	p, _, err := Compile(s)
	if err != nil {
		t.Fatal(err)
	}
	path := t.TempDir() + "/prog.bpf"
	if err := os.WriteFile(path, p.BPF, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "STRATA_SECCOMP_BPF_TEST="+path, "STRATA_SECCOMP_NRS="+nrs)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v: %s", err, out)
	}
	return strings.TrimSpace(string(out))
}

func TestNewerSyscallsGetENOSYS(t *testing.T) {
	if runtime.GOARCH != "amd64" {
		t.Fatalf("the syscall numbers below are x86_64's; this test needs porting to %s", runtime.GOARCH)
	}
	// Allowed: read (0), write (1), close (3), and pidfd_getfd (438), the
	// highest number named. 439 (faccessat2) and 451 (cachestat) are
	// newer than the profile: ENOSYS. 8 (lseek) is older and not
	// allowed: the default EPERM. Exit and the Go runtime's own syscalls
	// must pass too.
	profile := func(def specs.LinuxSeccompAction, archs ...specs.Arch) *specs.LinuxSeccomp {
		names := []string{"read", "write", "close", "exit_group", "exit", "futex", "rt_sigreturn",
			"rt_sigprocmask", "rt_sigaction", "sigaltstack", "mmap", "munmap", "madvise", "nanosleep",
			"sched_yield", "getpid", "gettid", "tgkill", "clone", "epoll_pwait", "epoll_ctl", "fcntl", "pidfd_getfd"}
		return &specs.LinuxSeccomp{DefaultAction: def, Architectures: archs,
			Syscalls: []specs.LinuxSyscall{{Names: names, Action: specs.ActAllow}}}
	}
	for _, tc := range []struct {
		name string
		s    *specs.LinuxSeccomp
		want string
	}{
		{"newer than the profile", profile(specs.ActErrno, specs.ArchX86_64, specs.ArchX86, specs.ArchX32),
			"8=EPERM 438=kernel 439=ENOSYS 451=ENOSYS"},
		// As runc: no stub without architectures, nor when the default
		// lets everything through.
		{"no architectures", profile(specs.ActErrno), "8=EPERM 438=kernel 439=EPERM 451=EPERM"},
		{"default allow", profile(specs.ActAllow, specs.ArchX86_64), "8=kernel 438=kernel 439=kernel 451=kernel"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := runFiltered(t, tc.s, "8 438 439 451"); got != tc.want {
				b, _ := json.Marshal(tc.s)
				t.Errorf("got %q, want %q (profile %s)", got, tc.want, b)
			}
		})
	}
}
