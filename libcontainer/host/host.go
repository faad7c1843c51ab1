// Package host probes the kernel and the machine strata runs on: what the
// kernel can do, which cgroup layout is mounted, whether systemd is the
// init. Each probe tries the real thing (a syscall, a detached mount, a
// file read) rather than comparing kernel versions, because distribution
// kernels backport features and configs turn them off. A probe returns a
// Result that says why a feature is absent: the errno or the file read.
//
// The probes write nothing outside temporary directories and remove every
// directory and mount they make. Each is cheap, but not free (the idmap
// probe starts a process): Probe runs them all once per strata process;
// callers that need one fact call its function alone.
package host

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// A Result is what one probe found.
type Result struct {
	OK bool `json:"ok"`
	// Detail is what was found when that says more than "yes" (a version,
	// the filesystem the probe used).
	Detail string `json:"detail,omitempty"`
	// Reason is why the feature is absent: the failing call and its errno,
	// or the file that said so.
	Reason string `json:"reason,omitempty"`
}

func ok(detail string) Result { return Result{OK: true, Detail: detail} }

func absent(format string, args ...any) Result {
	return Result{Reason: fmt.Sprintf(format, args...)}
}

// fromErr is ok when err is nil, else absent with what failed.
func fromErr(what string, err error) Result {
	if err != nil {
		return absent("%s: %v", what, errnoName(err))
	}
	return ok("")
}

// errnoName spells an errno with its symbol (ENOSYS) as well as its text:
// that is what a reader searches for.
func errnoName(err error) string {
	var e unix.Errno
	if errors.As(err, &e) {
		if name := unix.ErrnoName(e); name != "" {
			return fmt.Sprintf("%s (%s)", name, e.Error())
		}
	}
	return err.Error()
}

// Facts is every probe's result, for `strata check`.
type Facts struct {
	Kernel     string            `json:"kernel"`
	Root       bool              `json:"root"`
	Proc       Result            `json:"proc"`
	Cgroup     Cgroups           `json:"cgroup"`
	Systemd    Result            `json:"systemd"`
	Namespaces map[string]Result `json:"namespaces"`
	UserNS     Result            `json:"userNamespaces"`

	MountAPI     Result `json:"mountAPI"`
	OpenTree     Result `json:"openTree"`
	MoveMount    Result `json:"moveMount"`
	MountSetattr Result `json:"mountSetattr"`
	IDMapMount   Result `json:"idmapMount"`
	Overlay      Result `json:"overlay"`
	LowerdirPlus Result `json:"overlayLowerdirPlus"`
	Openat2      Result `json:"openat2"`

	Pidfd           Result `json:"pidfd"`
	Clone3          Result `json:"clone3"`
	CloneIntoCgroup Result `json:"cloneIntoCgroup"`

	Seccomp       Result   `json:"seccomp"`
	SeccompNotify Result   `json:"seccompNotify"`
	LSMs          []string `json:"lsms"`
}

// Probe runs every probe, once per process.
var Probe = sync.OnceValue(func() *Facts {
	f := &Facts{
		Kernel:     Kernel(),
		Root:       os.Geteuid() == 0,
		Proc:       Proc(),
		Cgroup:     ProbeCgroups(),
		Systemd:    Systemd(),
		Namespaces: Namespaces(),
		UserNS:     UserNamespaces(),

		MountAPI:     MountAPI(),
		OpenTree:     OpenTree(),
		MoveMount:    MoveMount(),
		MountSetattr: MountSetattr(),
		IDMapMount:   IDMapMount(),
		Overlay:      Overlay(),
		LowerdirPlus: OverlayLowerdirPlus(),
		Openat2:      Openat2(),

		Pidfd:   Pidfd(),
		Clone3:  Clone3(),
		Seccomp: Seccomp(),
		LSMs:    LSMs(),
	}
	f.CloneIntoCgroup = CloneIntoCgroup(f.Clone3, f.Cgroup)
	f.SeccompNotify = SeccompNotify()
	return f
})

// Kernel is the running kernel's release and version, from uname(2).
func Kernel() string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return "unknown (uname: " + err.Error() + ")"
	}
	return unix.ByteSliceToString(u.Release[:]) + " " + unix.ByteSliceToString(u.Version[:])
}

// Systemd tells whether systemd is the init, as sd_booted(3) does: it
// creates /run/systemd/system early at boot and nothing else does.
func Systemd() Result {
	st, err := os.Lstat("/run/systemd/system")
	if err != nil {
		return absent("%v", err)
	}
	if !st.IsDir() {
		return absent("/run/systemd/system is not a directory")
	}
	return ok("")
}

// Proc tells whether /proc is a procfs: the runtime reads and writes
// /proc/PID files of every container it starts.
func Proc() Result {
	var st unix.Statfs_t
	if err := unix.Statfs("/proc", &st); err != nil {
		return absent("statfs /proc: %v", errnoName(err))
	}
	if st.Type != unix.PROC_SUPER_MAGIC {
		return absent("/proc is not a procfs (filesystem magic %#x)", st.Type)
	}
	return ok("")
}

// LSMs lists the security modules the kernel has active, from securityfs
// (empty when securityfs is not mounted or says none).
func LSMs() []string {
	data, err := os.ReadFile("/sys/kernel/security/lsm")
	if err != nil {
		return nil
	}
	var l []string
	for _, s := range strings.Split(strings.TrimSpace(string(data)), ",") {
		if s != "" {
			l = append(l, s)
		}
	}
	return l
}
