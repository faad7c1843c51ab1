// Package plan compiles what a container process must become into a list of
// steps, plain data that the executor in nsenter/executor.c carries out before
// any Go runtime starts in that process. Every decision is taken here, in Go,
// in the runtime's parent or in the Go half of the init: which syscalls, in
// which order, with which arguments, and what to say when one fails. The
// executor only performs the steps in order and reports the first failure with
// the step's own words (its What, which names the config field) and errno.
//
// Nothing here makes a syscall, so plans are tested without root
// (process_test.go: specs and the plans they give).
//
// Wire format, read by nsenter/executor.c (plan.h has the op numbers):
//
//	plan   := "SPL1" step*
//	step   := op:u8 len:u32 what:str eperm:str arg*     (len counts what follows it)
//	arg    := 'i' u64 | 's' len:u32 bytes               (integers little-endian)
//
// eperm is added to the message when the step fails with EPERM (the
// privilege that is missing); strings go without a NUL, the executor adds one.
package plan

import (
	"encoding/binary"
	"fmt"
	"strings"
)

// Op is one kind of step; nsenter/plan.h gives the executor the same numbers.
type Op uint8

const (
	OpSetsid         Op = 1  // setsid()
	OpTerminal       Op = 2  // console fd, rows, cols, bind /dev/console (0/1)
	OpRlimit         Op = 3  // resource, soft, hard
	OpSched          Op = 4  // policy, flags, nice, priority, runtime, deadline, period
	OpIOPrio         Op = 5  // ioprio value
	OpAffinity       Op = 6  // cpu mask bytes
	OpPersonality    Op = 7  // persona
	OpMempolicy      Op = 8  // mode, node mask bytes (may be empty)
	OpCapBounding    Op = 9  // mask of capabilities to keep, last capability
	OpChdir          Op = 10 // path, 1 if EACCES defers it until after the user change
	OpProcfs         Op = 11 // fd of a private procfs, or -1: mount one
	OpLSMAttr        Op = 12 // attr file, fallback attr file (or ""), value
	OpCloseFrom      Op = 13 // first fd to mark close-on-exec
	OpStdioOwner     Op = 14 // uid
	OpSeccomp        Op = 15 // BPF bytes, seccomp(2) flags, 1 if with a listener
	OpIdentity       Op = 16 // umask, 1 to call setgroups, gid, uid, gids...
	OpCaps           Op = 17 // effective, permitted, inheritable, ambient, last
	OpNoNewPrivs     Op = 18 // prctl(PR_SET_NO_NEW_PRIVS)
	OpChdirDeferred  Op = 19 // path: the OpChdir that EACCES deferred, if it did
	OpFindProgram    Op = 20 // name, $PATH
	OpClearDeathSig  Op = 21 // prctl(PR_SET_PDEATHSIG, 0)
	OpAwaitPlacement Op = 22 // wait for 'G' (or 'X') from the parent
	OpReady          Op = 23 // 1 to send the timings: send 'R' with them and the notes
	OpRelease        Op = 24 // wait for 'A', drop the death signal, send 'K'
	OpOpenFifo       Op = 25 // O_PATH fd of the exec fifo: reopen it for writing
	OpHook           Op = 26 // timeout s (0: none), state JSON, path, argc, args..., envs...
	OpWriteFifo      Op = 27 // write the byte `start` waits for
	OpExec           Op = 28 // argc, args..., envs...: execve the program found

	// The container's root filesystem (rootfs.go), in its init only.
	OpRuntimeHooks   Op = 29 // send 'H', wait for 'h': the parent runs prestart, createRuntime
	OpUmask          Op = 30 // mask
	OpMountPath      Op = 31 // source, target, fstype, flags, data: mount(2) on a runtime-chosen path
	OpOpenRoot       Op = 32 // path: the root later paths resolve beneath
	OpMount          Op = 33 // destination, target kind, source, fstype, flags, data, EPERM fallback bind source, its attr set, clear, 1 for tmpcopyup
	OpBind           Op = 34 // source, recursive, attr set, clear, recursive set, clear, destination
	OpSetAttr        Op = 35 // destination, attr set, clear, recursive, propagation flags...
	OpMknod          Op = 36 // path, mode (type and permissions), device number, uid, gid
	OpSymlink        Op = 37 // directory, name, link target, 1 to replace what is there
	OpPivot          Op = 38 // rootfs: pivot_root into it, detach the old root
	OpMask           Op = 39 // path: /dev/null or an empty read-only tmpfs over it
	OpReadonly       Op = 40 // path: bind it onto itself read-only
	OpStdioNull      Op = 41 // stdio on the host's /dev/null moves to the container's
	OpWriteProc      Op = 42 // path under the private procfs, value
	OpSetHostname    Op = 43 // 0 hostname or 1 domain name, value
	OpSessionKeyring Op = 44 // name: join a new session keyring
	OpUnshare        Op = 45 // CLONE_NEW* flags
	OpCloseRoot      Op = 46 // close the fds the rootfs steps held
	OpReceiveTrees   Op = 47 // count: the parent's mount trees ('F' index + fd each)
	OpAttachTree     Op = 48 // index in the spec's mounts, destination
)

var opNames = map[Op]string{
	OpSetsid: "setsid", OpTerminal: "terminal", OpRlimit: "rlimit", OpSched: "sched",
	OpIOPrio: "ioprio", OpAffinity: "affinity", OpPersonality: "personality",
	OpMempolicy: "mempolicy", OpCapBounding: "cap-bounding", OpChdir: "chdir",
	OpProcfs: "procfs", OpLSMAttr: "lsm-attr", OpCloseFrom: "close-from",
	OpStdioOwner: "stdio-owner", OpSeccomp: "seccomp", OpIdentity: "identity",
	OpCaps: "caps", OpNoNewPrivs: "no-new-privs", OpChdirDeferred: "chdir-deferred",
	OpFindProgram: "find-program", OpClearDeathSig: "clear-death-signal",
	OpAwaitPlacement: "await-placement", OpReady: "ready", OpRelease: "release",
	OpOpenFifo: "open-fifo", OpHook: "hook", OpWriteFifo: "write-fifo", OpExec: "exec",
	OpRuntimeHooks: "runtime-hooks", OpUmask: "umask", OpMountPath: "mount-path",
	OpOpenRoot: "open-root", OpMount: "mount", OpBind: "bind", OpSetAttr: "set-attr",
	OpMknod: "mknod", OpSymlink: "symlink", OpPivot: "pivot", OpMask: "mask",
	OpReadonly: "readonly", OpStdioNull: "stdio-null", OpWriteProc: "write-proc",
	OpSetHostname: "set-hostname", OpSessionKeyring: "session-keyring", OpUnshare: "unshare",
	OpCloseRoot: "close-root", OpReceiveTrees: "receive-trees", OpAttachTree: "attach-tree",
}

func (o Op) String() string {
	if n, ok := opNames[o]; ok {
		return n
	}
	return fmt.Sprintf("op%d", uint8(o))
}

// Arg is an integer or a byte string.
type Arg struct {
	Int   uint64
	Bytes []byte
	Str   bool // Bytes is the value
}

// I and S make arguments.
func I[T ~int | ~int32 | ~int64 | ~uint | ~uint16 | ~uint32 | ~uint64 | ~uintptr](v T) Arg {
	return Arg{Int: uint64(v)}
}

func S(s string) Arg { return Arg{Bytes: []byte(s), Str: true} }

func B(b []byte) Arg { return Arg{Bytes: b, Str: true} }

// Step is one operation of the executor.
type Step struct {
	Op    Op
	What  string // the failure message before ": <errno>", naming the config field
	EPERM string // added after the errno when it is EPERM
	Args  []Arg
}

// Plan is the steps of one process, in order, and what compiling them found
// worth a warning.
type Plan struct {
	Steps    []Step
	Warnings []string
}

func (p *Plan) add(op Op, what string, args ...Arg) *Step {
	p.Steps = append(p.Steps, Step{Op: op, What: what, Args: args})
	return &p.Steps[len(p.Steps)-1]
}

const magic = "SPL1"

// Encode returns the plan in the executor's wire format. Appended to one
// slice sized for the whole plan: bytes.Buffer and binary.Write allocated
// per argument, 0.1 ms per create.
func (p *Plan) Encode() []byte {
	size := len(magic)
	for _, s := range p.Steps {
		size += 5 + 5 + len(s.What) + 5 + len(s.EPERM)
		for _, a := range s.Args {
			size += 9 + len(a.Bytes)
		}
	}
	b := make([]byte, 0, size)
	b = append(b, magic...)
	for _, s := range p.Steps {
		// The op, then the length of the body, filled in once written.
		b = append(b, byte(s.Op), 0, 0, 0, 0)
		start := len(b)
		b = appendStr(b, s.What)
		b = appendStr(b, s.EPERM)
		for _, a := range s.Args {
			if a.Str {
				b = appendStr(b, a.Bytes)
			} else {
				b = binary.LittleEndian.AppendUint64(append(b, 'i'), a.Int)
			}
		}
		binary.LittleEndian.PutUint32(b[start-4:start], uint32(len(b)-start))
	}
	return b
}

// appendStr appends a string argument: 's', its length, its bytes.
func appendStr[T string | []byte](b []byte, s T) []byte {
	b = binary.LittleEndian.AppendUint32(append(b, 's'), uint32(len(s)))
	return append(b, s...)
}

// String renders the plan one step a line, as the golden tests hold them:
// op, arguments, then the failure message.
func (p *Plan) String() string {
	var b strings.Builder
	for _, s := range p.Steps {
		b.WriteString(s.Op.String())
		for _, a := range s.Args {
			switch {
			case !a.Str:
				fmt.Fprintf(&b, " %d", int64(a.Int))
			case isText(a.Bytes) && len(a.Bytes) > 60:
				fmt.Fprintf(&b, " %q...(%d bytes)", a.Bytes[:40], len(a.Bytes))
			case isText(a.Bytes):
				fmt.Fprintf(&b, " %q", a.Bytes)
			default:
				fmt.Fprintf(&b, " <%d bytes>", len(a.Bytes))
			}
		}
		if s.What != "" {
			fmt.Fprintf(&b, "  # %s", s.What)
		}
		if s.EPERM != "" {
			fmt.Fprintf(&b, " [EPERM: %s]", s.EPERM)
		}
		b.WriteByte('\n')
	}
	return b.String()
}

func isText(b []byte) bool {
	for _, c := range b {
		if c < 0x20 || c > 0x7e {
			return false
		}
	}
	return true
}
