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

	"github.com/checkpoint-restore/go-criu/v7/rpc"
	cg "github.com/opencontainers/cgroups"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/proto"

	"github.com/strata-runtime/strata/libcontainer/rootfs"
)

// CheckpointOpts are runc's checkpoint flags.
type CheckpointOpts struct {
	CriuOpts
	// ParentPath is --parent-path: a previous pre-dump's images, relative
	// to ImagePath.
	ParentPath   string
	LeaveRunning bool
	PreDump      bool
	// PageServer is --page-server's address and port ("" for none).
	PageServerAddress string
	PageServerPort    int32
}

const dumpLog = "dump.log"

// Checkpoint saves a running or paused container in o.ImagePath with
// CRIU. CRIU kills the container's processes after a dump unless
// LeaveRunning or PreDump is set; the caller deletes the container then,
// as runc does, so that a restore may take its ID.
func (c *Container) Checkpoint(o CheckpointOpts) error {
	if st := c.Status(); st != Running && st != Paused {
		return statusError(st, "running or paused")
	}
	if c.State.Config.Linux == nil {
		return errors.New("the container's config has no linux section")
	}
	criuPath, err := o.criuBinary()
	if err != nil {
		return err
	}
	images, work, err := o.openDirs()
	if err != nil {
		return err
	}
	defer images.Close()
	if work != nil {
		defer work.Close()
	}
	opts, err := o.baseOpts(dumpLog, images, work)
	if err != nil {
		return err
	}
	opts.Root = proto.String(c.State.Rootfs)
	opts.Pid = proto.Int32(int32(c.State.InitPid))
	opts.LeaveRunning = proto.Bool(o.LeaveRunning)
	// CRIU freezes the cgroup (v1 freezer, v2 cgroup.freeze) instead of
	// stopping each task with ptrace: nothing forks past it.
	if p := c.freezerPath(); p != "" {
		opts.FreezeCgroup = proto.String(p)
	}
	if err := c.externalNamespaces(opts); err != nil {
		return err
	}
	if o.ParentPath != "" {
		opts.ParentImg = proto.String(o.ParentPath)
		opts.TrackMem = proto.Bool(true)
	}
	if o.PageServerAddress != "" {
		opts.Ps = &rpc.CriuPageServerInfo{Address: proto.String(o.PageServerAddress), Port: proto.Int32(o.PageServerPort)}
	}
	t := rpc.CriuReqType_DUMP
	if o.PreDump {
		t = rpc.CriuReqType_PRE_DUMP
		opts.TrackMem = proto.Bool(true)
	} else {
		// A pre-dump saves memory only; mounts and fds go with the dump.
		if opts.ExtMnt, err = c.externalMounts(); err != nil {
			return err
		}
		if err := c.saveDescriptors(o.ImagePath); err != nil {
			return err
		}
	}
	child, err := startCriu(criuPath, [3]*os.File{}, nil)
	if err != nil {
		return err
	}
	_, err = child.do(&rpc.CriuReq{Type: &t, Opts: opts}, func(string, int32, []int) error { return nil })
	werr := child.close()
	op := strings.ToLower(strings.ReplaceAll(t.String(), "_", "-"))
	if err != nil {
		return o.criuFailure(op, dumpLog, err)
	}
	if werr != nil && !o.PreDump {
		return o.criuFailure(op, dumpLog, werr)
	}
	return nil
}

// freezerPath is the cgroup CRIU should freeze: the v1 freezer hierarchy's,
// or the v2 directory.
func (c *Container) freezerPath() string {
	if p, ok := c.State.CgroupPaths["freezer"]; ok {
		return p
	}
	return c.State.CgroupPaths[""]
}

// externalNamespaces tells CRIU which of the init's namespaces were given
// by path (a pod's network namespace): it must not dump them, and restore
// is handed the namespace again under the same key.
func (c *Container) externalNamespaces(opts *rpc.CriuOpts) error {
	for _, ns := range c.State.Config.Linux.Namespaces {
		key, ok := externalNamespaces[ns.Type]
		if !ok || ns.Path == "" {
			continue
		}
		var st unix.Stat_t
		if err := unix.Stat(ns.Path, &st); err != nil {
			return fmt.Errorf("linux.namespaces %s path %s: %w", ns.Type, ns.Path, err)
		}
		opts.External = append(opts.External, fmt.Sprintf("%s[%d]:%s", procNSName[ns.Type], st.Ino, key))
	}
	return nil
}

// externalMounts are the init's mounts whose source is outside its mount
// namespace, named by their destination: bind mounts, masked files (the
// restore binds /dev/null there) and device nodes (bound from the host in
// a user namespace). A name that is no mount is ignored by CRIU. Cgroup v1
// hierarchies bound without a cgroup namespace would need the host's
// layout on restore: refused by name rather than failed inside CRIU.
func (c *Container) externalMounts() ([]*rpc.ExtMountMap, error) {
	spec := c.State.Config
	if !cg.IsCgroup2UnifiedMode() && !hasOwnNamespace(spec, specs.CgroupNamespace) {
		for i, m := range spec.Mounts {
			if m.Type == "cgroup" {
				return nil, fmt.Errorf("mounts[%d] (cgroup on %s) binds the host's cgroup v1 hierarchies, which strata cannot checkpoint: give the container a cgroup namespace", i, m.Destination)
			}
		}
	}
	binds, err := rootfs.Binds(c.State.Rootfs, c.State.Bundle, spec.Mounts)
	if err != nil {
		return nil, err
	}
	var ext []*rpc.ExtMountMap
	add := func(key, val string) {
		ext = append(ext, &rpc.ExtMountMap{Key: proto.String(key), Val: proto.String(val)})
	}
	for _, b := range binds {
		add(b.Destination, b.Destination)
	}
	root := "/proc/" + strconv.Itoa(c.State.InitPid) + "/root"
	for _, p := range spec.Linux.MaskedPaths {
		if st, err := os.Stat(filepath.Join(root, p)); err == nil && !st.IsDir() {
			add(p, "/dev/null")
		}
	}
	for _, d := range rootfs.DevicePaths(spec) {
		add(d, d)
	}
	return ext, nil
}

// saveDescriptors writes descriptorsFile.
func (c *Container) saveDescriptors(imagePath string) error {
	fds := make([]string, 3)
	for i := range fds {
		fds[i], _ = os.Readlink(fmt.Sprintf("/proc/%d/fd/%d", c.State.InitPid, i))
	}
	b, err := json.Marshal(fds)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(imagePath, descriptorsFile), b, 0o600); err != nil {
		return fmt.Errorf("--image-path: %w", err)
	}
	return nil
}
