//go:build strata_image

package libcontainer

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"

	criu "github.com/checkpoint-restore/go-criu/v7"
	"github.com/checkpoint-restore/go-criu/v7/rpc"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/proto"
)

// CRIU does the checkpoint and the restore; strata asks it over its RPC
// protocol (protobuf messages from go-criu) on a socketpair to a `criu swrk`
// child, one child per request, as runc does:
//
//	strata                                criu swrk 3
//	  | -- CriuReq{DUMP|PRE_DUMP|RESTORE} -->  |
//	  | <-- CriuResp{NOTIFY script, pid} ----  |  setup-namespaces, post-restore,
//	  | -- CriuReq{NOTIFY, success} -------->  |  orphan-pts-master (+ SCM_RIGHTS fd)
//	  | <-- CriuResp{DUMP|RESTORE, success} -  |
//
// The CLI is not a wrapper of the criu command line: every option travels
// in the request.

// minCriuVersion is 3.16: the cgroup v2 freezer (3.14), external pid
// namespaces (3.15) and a working --lsm-profile (3.16). Debian 12 has 3.17.
const minCriuVersion = 31600

// CriuOpts are the options checkpoint and restore share, as runc spells
// its flags.
type CriuOpts struct {
	// Binary is the criu program (the global --criu), looked up in $PATH.
	Binary string
	// ImagePath holds the images; WorkPath the logs (default ImagePath).
	ImagePath, WorkPath string
	TCPEstablished      bool
	ExtUnixSk           bool
	ShellJob            bool
	FileLocks           bool
	AutoDedup           bool
	// CgroupsMode is --manage-cgroups-mode: "", soft, full, strict or ignore.
	CgroupsMode string
	// EmptyNs are the namespaces CRIU makes but does not fill (CLONE_* flags).
	EmptyNs uint32
}

// criuBinary finds the criu binary and checks its version before anything
// is made, so that a host without CRIU fails by name.
func (o *CriuOpts) criuBinary() (string, error) {
	name := o.Binary
	if name == "" {
		name = "criu"
	}
	path, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("the criu binary %q is not installed (%v): checkpoint and restore need CRIU, from the package \"criu\" (or name the binary with --criu)", name, err)
	}
	c := criu.MakeCriu()
	c.SetCriuPath(path)
	v, err := c.GetCriuVersion()
	if err != nil {
		return "", fmt.Errorf("criu %s: ask its version: %w", path, err)
	}
	if v < minCriuVersion {
		return "", fmt.Errorf("criu %s is version %d.%d.%d: strata needs CRIU %d.%d or newer", path, v/10000, v/100%100, v%100, minCriuVersion/10000, minCriuVersion/100%100)
	}
	return path, nil
}

// Validate checks the options that need no container, so that a bad flag
// fails before anything is made.
func (o *CriuOpts) Validate() error {
	_, err := o.cgroupsMode()
	return err
}

// cgroupsMode is --manage-cgroups-mode as CRIU's enum.
func (o *CriuOpts) cgroupsMode() (rpc.CriuCgMode, error) {
	switch o.CgroupsMode {
	case "":
		return rpc.CriuCgMode_DEFAULT, nil
	case "soft":
		return rpc.CriuCgMode_SOFT, nil
	case "full":
		return rpc.CriuCgMode_FULL, nil
	case "strict":
		return rpc.CriuCgMode_STRICT, nil
	case "ignore":
		return rpc.CriuCgMode_IGNORE, nil
	}
	return 0, fmt.Errorf("--manage-cgroups-mode %q: expected soft, full, strict or ignore", o.CgroupsMode)
}

// baseOpts fills what a dump and a restore request share; dirs are the
// open image (and work) directories, which CRIU reaches as this process's
// fds (it reads /proc/<its parent>/fd/N).
func (o *CriuOpts) baseOpts(logFile string, images, work *os.File) (*rpc.CriuOpts, error) {
	mode, err := o.cgroupsMode()
	if err != nil {
		return nil, err
	}
	opts := &rpc.CriuOpts{
		ImagesDirFd:       proto.Int32(int32(images.Fd())),
		LogLevel:          proto.Int32(4),
		LogFile:           proto.String(logFile),
		ManageCgroups:     proto.Bool(true),
		ManageCgroupsMode: &mode,
		ShellJob:          proto.Bool(o.ShellJob),
		TcpEstablished:    proto.Bool(o.TCPEstablished),
		ExtUnixSk:         proto.Bool(o.ExtUnixSk),
		FileLocks:         proto.Bool(o.FileLocks),
		EmptyNs:           proto.Uint32(o.EmptyNs),
		OrphanPtsMaster:   proto.Bool(true),
		AutoDedup:         proto.Bool(o.AutoDedup),
	}
	if work != nil {
		opts.WorkDirFd = proto.Int32(int32(work.Fd()))
	}
	return opts, nil
}

// openDirs opens the image directory and the work directory (made when
// missing, as runc makes it). The caller closes both.
func (o *CriuOpts) openDirs() (images, work *os.File, err error) {
	images, err = os.Open(o.ImagePath)
	if err != nil {
		return nil, nil, fmt.Errorf("--image-path: %w", err)
	}
	if o.WorkPath == "" {
		return images, nil, nil
	}
	if err := os.MkdirAll(o.WorkPath, 0o700); err != nil {
		images.Close()
		return nil, nil, fmt.Errorf("--work-path: %w", err)
	}
	if work, err = os.Open(o.WorkPath); err != nil {
		images.Close()
		return nil, nil, fmt.Errorf("--work-path: %w", err)
	}
	return images, work, nil
}

// logPath is where CRIU writes logFile.
func (o *CriuOpts) logPath(logFile string) string {
	if o.WorkPath != "" {
		return filepath.Join(o.WorkPath, logFile)
	}
	return filepath.Join(o.ImagePath, logFile)
}

// criuFailure words a failed request with what CRIU's log says about it:
// the log is long, and its "Error" lines are what a user needs first.
func (o *CriuOpts) criuFailure(op, logFile string, err error) error {
	path := o.logPath(logFile)
	msg := fmt.Sprintf("criu %s: %v (log: %s)", op, err, path)
	f, ferr := os.Open(path)
	if ferr != nil {
		return errors.New(msg)
	}
	defer f.Close()
	var lines []string
	s := bufio.NewScanner(f)
	for s.Scan() {
		if bytes.Contains(s.Bytes(), []byte("Error")) {
			lines = append(lines, strings.TrimSpace(s.Text()))
		}
	}
	if len(lines) > 3 {
		lines = lines[len(lines)-3:]
	}
	if len(lines) > 0 {
		msg += ": " + strings.Join(lines, "; ")
	}
	return errors.New(msg)
}

// criuChild is one `criu swrk` and the client end of its socket.
type criuChild struct {
	cmd  *exec.Cmd
	sock int
}

// startCriu starts `criu swrk` with stdio as its fds 0-2 (a restored
// process's pipes are these, see descriptorsFile), the socket as fd 3 and
// extra from fd 4 on.
func startCriu(path string, stdio [3]*os.File, extra []*os.File) (*criuChild, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("criu socketpair: %w", err)
	}
	server := os.NewFile(uintptr(fds[1]), "criu-swrk")
	defer server.Close()
	cmd := &exec.Cmd{
		Path:       path,
		Args:       []string{"criu", "swrk", "3"},
		Stdin:      stdio[0],
		Stdout:     stdio[1],
		Stderr:     stdio[2],
		ExtraFiles: append([]*os.File{server}, extra...),
		// A strata killed mid-request takes CRIU along, which then
		// kills what it had restored so far.
		SysProcAttr: &syscall.SysProcAttr{Pdeathsig: unix.SIGKILL},
	}
	if err := cmd.Start(); err != nil {
		unix.Close(fds[0])
		return nil, fmt.Errorf("start %s swrk: %w", path, err)
	}
	return &criuChild{cmd: cmd, sock: fds[0]}, nil
}

func (c *criuChild) send(req *rpc.CriuReq) error {
	b, err := proto.Marshal(req)
	if err != nil {
		return err
	}
	if _, err := unix.Write(c.sock, b); err != nil {
		return fmt.Errorf("send to criu: %w", err)
	}
	return nil
}

// notifyFunc handles one notification; fds are what came with it (the
// handler owns them).
type notifyFunc func(script string, pid int32, fds []int) error

// do sends req and answers CRIU's notifications until its final answer.
func (c *criuChild) do(req *rpc.CriuReq, notify notifyFunc) (*rpc.CriuResp, error) {
	if err := c.send(req); err != nil {
		return nil, err
	}
	buf := make([]byte, 64<<10)
	oob := make([]byte, unix.CmsgSpace(4*4))
	for {
		n, oobn, _, _, err := unix.Recvmsg(c.sock, buf, oob, unix.MSG_CMSG_CLOEXEC)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read from criu: %w", err)
		}
		if n == 0 {
			return nil, errors.New("criu exited without an answer")
		}
		fds := rights(oob[:oobn])
		resp := &rpc.CriuResp{}
		if err := proto.Unmarshal(buf[:n], resp); err != nil {
			closeAll(fds)
			return nil, fmt.Errorf("bad answer from criu: %w", err)
		}
		if !resp.GetSuccess() {
			closeAll(fds)
			msg := strings.TrimSpace(resp.GetCrErrmsg())
			if msg == "" {
				msg = "failed"
			}
			return nil, fmt.Errorf("%s (errno %d)", msg, resp.GetCrErrno())
		}
		if resp.GetType() != rpc.CriuReqType_NOTIFY {
			closeAll(fds)
			return resp, nil
		}
		script := resp.GetNotify().GetScript()
		nerr := notify(script, resp.GetNotify().GetPid(), fds)
		t := rpc.CriuReqType_NOTIFY
		// A failed handler makes CRIU give up (and kill what it restored).
		if err := c.send(&rpc.CriuReq{Type: &t, NotifySuccess: proto.Bool(nerr == nil)}); err != nil {
			return nil, err
		}
		if nerr != nil {
			return nil, fmt.Errorf("notification %s: %w", script, nerr)
		}
	}
}

// close ends the conversation: criu swrk exits once its socket closes.
// A pre-dump's criu then exits with a failure that is no failure (it was
// waiting for the next request), so its status is returned, not judged.
func (c *criuChild) close() error {
	unix.Close(c.sock)
	return c.cmd.Wait()
}

// rights are the fds an SCM_RIGHTS control message carried.
func rights(oob []byte) []int {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil
	}
	var fds []int
	for i := range msgs {
		if f, err := unix.ParseUnixRights(&msgs[i]); err == nil {
			fds = append(fds, f...)
		}
	}
	return fds
}

func closeAll(fds []int) {
	for _, fd := range fds {
		unix.Close(fd)
	}
}

// descriptorsFile records, in the image directory, what the init's fds
// 0-2 were (readlink of /proc/PID/fd/N), as runc records it, so that a
// restore (by strata or runc) hands the new process's pipes in their place.
const descriptorsFile = "descriptors.json"

// externalNamespaces are the namespaces a container may be given by path
// that CRIU must leave alone on dump and be handed on restore (the key
// names are runc's, so that images move between the two).
var externalNamespaces = map[specs.LinuxNamespaceType]string{
	specs.NetworkNamespace: "extRootNetNS",
	specs.PIDNamespace:     "extRootPidNS",
}
