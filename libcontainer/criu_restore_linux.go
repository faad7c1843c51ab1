//go:build strata_image

package libcontainer

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/checkpoint-restore/go-criu/v7/rpc"
	cg "github.com/opencontainers/cgroups"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/proto"

	"github.com/strata-runtime/strata/libcontainer/cgroups"
	"github.com/strata-runtime/strata/libcontainer/rootfs"
)

// RestoreOpts are runc's restore flags and the container to make.
type RestoreOpts struct {
	CriuOpts
	ID     string
	Bundle string      // absolute
	Spec   *specs.Spec // validated
	// Console is a connected console socket: the pty master CRIU makes
	// for a restored terminal is sent there.
	Console                     *os.File
	LsmProfile, LsmMountContext string
}

// RestoredProcess is the container's init as CRIU restored it: a child of
// this process (CRIU forks it as its own sibling).
type RestoredProcess struct{ Pid int }

// Wait waits for the restored init to exit and returns its exit code, as
// InitProcess.Wait does.
func (p *RestoredProcess) Wait() (int, error) { return waitExit(p.Pid) }

const restoreLog = "restore.log"

// Restore makes container o.ID from a bundle and runs it from the images a
// checkpoint left in o.ImagePath: the state directory and cgroups as create
// makes them, then CRIU remakes the processes, their namespaces and mounts
// on the bundle's rootfs. On failure nothing is left behind.
func Restore(root string, o RestoreOpts) (*Container, *RestoredProcess, error) {
	criuPath, err := o.criuBinary()
	if err != nil {
		return nil, nil, err
	}
	fds, err := readDescriptors(o.ImagePath)
	if err != nil {
		return nil, nil, err
	}
	c, err := newContainer(root, o.ID)
	if err != nil {
		return nil, nil, err
	}
	pid, err := c.restore(root, criuPath, fds, &o)
	if err != nil {
		c.removeState()
		return nil, nil, err
	}
	return c, &RestoredProcess{Pid: pid}, nil
}

// readDescriptors checks that dir holds a checkpoint and reads what its
// init's stdio were.
func readDescriptors(dir string) ([]string, error) {
	if st, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("--image-path: %w", err)
	} else if !st.IsDir() {
		return nil, fmt.Errorf("--image-path %s: not a directory", dir)
	}
	if _, err := os.Stat(filepath.Join(dir, "inventory.img")); err != nil {
		return nil, fmt.Errorf("--image-path %s: no checkpoint there (no inventory.img)", dir)
	}
	b, err := os.ReadFile(filepath.Join(dir, descriptorsFile))
	if err != nil {
		return nil, fmt.Errorf("--image-path %s: not a container checkpoint of strata or runc: %w", dir, err)
	}
	var fds []string
	if err := json.Unmarshal(b, &fds); err != nil {
		return nil, fmt.Errorf("--image-path %s: %s: %w", dir, descriptorsFile, err)
	}
	return fds, nil
}

func (c *Container) restore(root, criuPath string, fds []string, o *RestoreOpts) (pid int, err error) {
	spec := o.Spec
	rootfsPath := spec.Root.Path
	if !filepath.IsAbs(rootfsPath) {
		rootfsPath = filepath.Join(o.Bundle, rootfsPath)
	}
	c.State = State{
		OCIVersion: spec.Version, ID: o.ID, Bundle: o.Bundle, Rootfs: rootfsPath,
		Created: time.Now().UTC(), Annotations: spec.Annotations, Config: spec,
	}
	cgm, err := cgroups.New(o.ID, spec, cgroups.Cgroupfs)
	if err != nil {
		return 0, err
	}
	// Saved before the cgroup is made, as create does: a restore killed
	// from here on leaves a state that `delete --force` cleans up after.
	c.State.CgroupPaths = cgm.Paths()
	if err := c.save(); err != nil {
		return 0, err
	}
	defer func() {
		if err == nil {
			return
		}
		c.killRestored()
		if derr := cgm.Destroy(); derr != nil {
			err = fmt.Errorf("%w (and %v)", err, derr)
		}
	}()
	if err := rootfs.MakeMountpoints(rootfsPath, o.Bundle, spec.Mounts); err != nil {
		return 0, err
	}
	images, work, err := o.openDirs()
	if err != nil {
		return 0, err
	}
	defer images.Close()
	if work != nil {
		defer work.Close()
	}
	opts, err := o.baseOpts(restoreLog, images, work)
	if err != nil {
		return 0, err
	}
	opts.RstSibling = proto.Bool(true)
	opts.EvasiveDevices = proto.Bool(true)
	opts.NotifyScripts = proto.Bool(true)
	if o.LsmProfile != "" {
		opts.LsmProfile = proto.String(o.LsmProfile)
	}
	if o.LsmMountContext != "" {
		opts.LsmMountContext = proto.String(o.LsmMountContext)
	}
	if opts.ExtMnt, err = restoreExtMounts(spec, rootfsPath, o.Bundle); err != nil {
		return 0, err
	}
	// The checkpointed init's pipes become this process's stdio, which
	// CRIU gets as its own fds 0-2 (a supervisor such as conmon made
	// them). Files and ttys CRIU reopens itself.
	for i, d := range fds {
		if strings.HasPrefix(d, "pipe:") {
			opts.InheritFd = append(opts.InheritFd, &rpc.InheritFd{Key: proto.String(d), Fd: proto.Int32(int32(i))})
		}
	}
	nsFiles, err := restoreNamespaces(spec, opts)
	defer func() {
		for _, f := range nsFiles {
			f.Close()
		}
	}()
	if err != nil {
		return 0, err
	}
	criuRoot, unbind, err := bindCriuRoot(root, o.ID, rootfsPath)
	if err != nil {
		return 0, err
	}
	defer unbind()
	opts.Root = proto.String(criuRoot)

	child, err := startCriu(criuPath, [3]*os.File{os.Stdin, os.Stdout, os.Stderr}, nsFiles)
	if err != nil {
		return 0, err
	}
	// CRIU starts in the container's cgroup, with its limits, and restores
	// the tasks into the same cgroup: its images name the old container's
	// path, which CgRoot replaces.
	if err := c.placeCriu(cgm, child.cmd.Process.Pid, opts); err != nil {
		child.cmd.Process.Kill()
		child.close()
		return 0, err
	}
	t := rpc.CriuReqType_RESTORE
	resp, err := child.do(&rpc.CriuReq{Type: &t, Opts: opts}, c.restoreNotify(o))
	werr := child.close()
	if err != nil {
		return 0, o.criuFailure("restore", restoreLog, err)
	}
	if werr != nil {
		return 0, o.criuFailure("restore", restoreLog, werr)
	}
	if pid := int(resp.GetRestore().GetPid()); !c.State.Ready || pid != c.State.InitPid {
		return 0, fmt.Errorf("criu restore: restored pid %d without a post-restore notification for it", pid)
	}
	return c.State.InitPid, nil
}

// placeCriu puts the criu process in the container's cgroup with its
// limits and tells CRIU, per hierarchy, that the images' root cgroup is
// now that one.
func (c *Container) placeCriu(cgm *cgroups.Manager, pid int, opts *rpc.CriuOpts) error {
	if err := cgm.Apply(pid); err != nil {
		return err
	}
	if err := cgm.Set(cgm.Resources()); err != nil {
		return err
	}
	paths, err := cg.ParseCgroupFile("/proc/" + strconv.Itoa(pid) + "/cgroup")
	if err != nil {
		return fmt.Errorf("criu's cgroups: %w", err)
	}
	for ctrl, path := range paths {
		r := &rpc.CgroupRoot{Path: proto.String(path)}
		// The v2 hierarchy has no controller name: CRIU's default root.
		if ctrl != "" {
			r.Ctrl = proto.String(ctrl)
		}
		opts.CgRoot = append(opts.CgRoot, r)
	}
	return nil
}

// restoreNotify answers CRIU's notifications during a restore, as runc:
// the runtime hooks once the namespaces exist, the state once the init is
// back, and a new terminal's master to the console socket.
func (c *Container) restoreNotify(o *RestoreOpts) notifyFunc {
	return func(script string, pid int32, fds []int) error {
		defer closeAll(fds)
		switch script {
		case "setup-namespaces":
			if err := c.recordInit(int(pid)); err != nil {
				return err
			}
			return c.runRuntimeHooks()
		case "post-restore":
			if err := c.recordInit(int(pid)); err != nil {
				return err
			}
			c.State.Ready = true
			return c.save()
		case "orphan-pts-master":
			if len(fds) != 1 {
				return fmt.Errorf("got %d fds, expected the pty master", len(fds))
			}
			if o.Console == nil {
				return errors.New("the checkpoint has a terminal: give --console-socket to receive it")
			}
			name := "/dev/ptmx"
			if n, err := unix.IoctlGetUint32(fds[0], unix.TIOCGPTN); err == nil {
				name = "/dev/pts/" + strconv.Itoa(int(n))
			}
			if err := unix.Sendmsg(int(o.Console.Fd()), []byte(name), unix.UnixRights(fds[0]), nil, 0); err != nil {
				return fmt.Errorf("--console-socket: send the pty master: %w", err)
			}
		}
		return nil
	}
}

// recordInit notes the restored init's pid and start time.
func (c *Container) recordInit(pid int) error {
	start, _, err := procStartTime(pid)
	if err != nil {
		return fmt.Errorf("restored init %d: %w", pid, err)
	}
	c.State.InitPid, c.State.InitStart = pid, start
	return nil
}

// killRestored kills an init CRIU restored before the restore failed (CRIU
// kills what it restored when it fails itself; not when strata does after),
// and reaps it: it is this process's child.
func (c *Container) killRestored() {
	if !alive(c.State.InitPid, c.State.InitStart) {
		return
	}
	pidfd, err := unix.PidfdOpen(c.State.InitPid, 0)
	if err != nil {
		return
	}
	defer unix.Close(pidfd)
	unix.PidfdSendSignal(pidfd, unix.SIGKILL, nil, 0)
	var ws unix.WaitStatus
	unix.Wait4(c.State.InitPid, &ws, 0, nil)
}

// restoreExtMounts maps the names externalMounts gave on dump to this
// host's paths: bind sources from the bundle, the host's /dev/null for
// masked files, the host's device nodes.
func restoreExtMounts(spec *specs.Spec, rootfsPath, bundle string) ([]*rpc.ExtMountMap, error) {
	binds, err := rootfs.Binds(rootfsPath, bundle, spec.Mounts)
	if err != nil {
		return nil, err
	}
	var ext []*rpc.ExtMountMap
	seen := map[string]bool{}
	add := func(key, val string) {
		if !seen[key] {
			seen[key] = true
			ext = append(ext, &rpc.ExtMountMap{Key: proto.String(key), Val: proto.String(val)})
		}
	}
	for _, b := range binds {
		add(b.Destination, b.Source)
	}
	if spec.Linux != nil && len(spec.Linux.MaskedPaths) > 0 {
		add("/dev/null", "/dev/null")
	}
	for _, d := range rootfs.DevicePaths(spec) {
		add(d, d)
	}
	return ext, nil
}

// restoreNamespaces hands CRIU the namespaces the spec gives by path: the
// network and pid ones under the keys the dump named them by (see
// externalNamespaces), the others to join. The files are passed to criu
// from its fd 4 on; the caller closes them.
func restoreNamespaces(spec *specs.Spec, opts *rpc.CriuOpts) ([]*os.File, error) {
	var files []*os.File
	for _, ns := range spec.Linux.Namespaces {
		if ns.Path == "" {
			continue
		}
		if key, ok := externalNamespaces[ns.Type]; ok {
			f, err := os.Open(ns.Path)
			if err != nil {
				return files, fmt.Errorf("linux.namespaces %s path: %w", ns.Type, err)
			}
			opts.InheritFd = append(opts.InheritFd, &rpc.InheritFd{Key: proto.String(key), Fd: proto.Int32(int32(4 + len(files)))})
			files = append(files, f)
			continue
		}
		if ns.Type == specs.CgroupNamespace {
			return files, fmt.Errorf("linux.namespaces cgroup path %s: CRIU cannot restore into an existing cgroup namespace", ns.Path)
		}
		opts.JoinNs = append(opts.JoinNs, &rpc.JoinNamespace{Ns: proto.String(procNSName[ns.Type]), NsFile: proto.String(ns.Path)})
	}
	return files, nil
}

// bindCriuRoot binds the rootfs where CRIU wants its root: a mount point
// whose parent is not overmounted. It is a sibling of the state directory,
// never inside it, so that removing a state directory can never walk into
// a rootfs; "~" is no ID character, so list passes it by. unbind undoes it.
func bindCriuRoot(root, id, rootfsPath string) (dir string, unbind func(), err error) {
	dir = filepath.Join(root, id+"~criu-root")
	if err := os.Mkdir(dir, 0o700); err != nil {
		return "", nil, fmt.Errorf("criu root: %w", err)
	}
	if err := unix.Mount(rootfsPath, dir, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		os.Remove(dir)
		return "", nil, fmt.Errorf("bind root.path %s for criu: %w", rootfsPath, err)
	}
	return dir, func() {
		if unix.Unmount(dir, unix.MNT_DETACH) == nil {
			os.Remove(dir)
		}
	}, nil
}
