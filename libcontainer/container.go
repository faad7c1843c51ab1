// Package libcontainer is strata's runtime: containers, their state on disk,
// and the init process that sets them up. It prints nothing and never exits
// the process: every failure is returned as an error.
//
// The rule for error text, here and in the CLI: an error says what failed and
// where (the spec field, flag, path, pid or status: `linux.sysctl "x": ...`,
// `status is stopped (expected created, running or paused)`), and names
// neither the container nor the operation. The caller knows both and names
// them once: the CLI (package main, containerError) prefixes every error of a
// command on a container with `<command> container "<id>": `, e.g.
// `strata: exec in container "x": status is paused (resume it, or use
// --ignore-paused)`. So no error here starts with "start", "kill", "cannot
// <op>" or `container "<id>"`, and none is wrapped twice with the ID.
package libcontainer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/strata-runtime/strata/libcontainer/cgroups"
)

const (
	stateFile = "state.json"
	fifoName  = "exec.fifo"
	maxIDLen  = 1024
)

// ErrNotExist is returned when the container does not exist, so that
// commands can tell it apart (delete --force accepts it). Its text is what
// engines match ("does not exist": containerd's shim, go-runc).
var ErrNotExist = errors.New("does not exist")

// idChar is what an ID may be made of: letters, digits and _ + - . (a loop,
// not a regexp: a package-level regexp is compiled at every strata start).
func idChar(c rune) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("_+-.", c)
}

// ValidateID accepts the IDs runc accepts: letters, digits and _ + - .,
// but not "." or "..", which would name the root directory or its parent.
func ValidateID(id string) error {
	if id == "" {
		return errors.New("invalid container ID: must not be empty")
	}
	if len(id) > maxIDLen || strings.IndexFunc(id, func(c rune) bool { return !idChar(c) }) >= 0 || id == "." || id == ".." {
		return fmt.Errorf("invalid container ID: use letters, digits, '_', '+', '-' and '.' (at most %d characters, not . or ..)", maxIDLen)
	}
	return nil
}

// State is what strata keeps in <root>/<id>/state.json.
type State struct {
	OCIVersion  string            `json:"ociVersion"`
	ID          string            `json:"id"`
	InitPid     int               `json:"init_process_pid"`
	InitStart   uint64            `json:"init_process_start"`
	Bundle      string            `json:"bundle"`
	Rootfs      string            `json:"rootfs"`
	Created     time.Time         `json:"created"`
	Annotations map[string]string `json:"annotations,omitempty"`
	// Ready is false until the init reported that setup is done: a state
	// file without it belongs to a create in progress or one that crashed.
	Ready  bool        `json:"ready"`
	Config *specs.Spec `json:"config"`
	// CgroupPaths are the container's cgroup directories by controller
	// ("" for the v2 one), as the cgroup manager made them.
	CgroupPaths map[string]string `json:"cgroup_paths,omitempty"`
	// SystemdCgroup: the cgroup is a systemd scope (--systemd-cgroup at
	// create); every later command manages it through systemd, with the
	// flag or without, as runc does.
	SystemdCgroup bool `json:"systemd_cgroup,omitempty"`
	// SystemdUser: with SystemdCgroup, the scope is the user's systemd
	// manager's (a rootless create); later commands talk to that manager.
	SystemdUser bool `json:"systemd_user,omitempty"`
}

// cgroupDriver is the driver the container's create used.
func (s *State) cgroupDriver() cgroups.Driver {
	switch {
	case s.SystemdUser:
		return cgroups.SystemdUser
	case s.SystemdCgroup:
		return cgroups.Systemd
	}
	return cgroups.Cgroupfs
}

// Container is a loaded container. Mutating operations hold an exclusive
// lock on its state directory for the Container's lifetime (until Close).
type Container struct {
	dir   string
	lock  int
	State State
	// onDisk is the state.json this process last wrote or decoded, which
	// State holds (every change to State is saved). A read that finds
	// the same bytes skips the decode: about 0.07 ms of a foreground
	// run, which rereads its state when the container has exited.
	onDisk []byte
}

func containerDir(root, id string) string { return filepath.Join(root, id) }

// newContainer makes the state directory. mkdir is atomic, so of two
// concurrent creates with one ID exactly one gets past this point.
func newContainer(root, id string) (*Container, error) {
	if err := ValidateID(id); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(root, 0o700); err != nil {
		return nil, fmt.Errorf("--root %s: %w", root, err)
	}
	dir := containerDir(root, id)
	if err := os.Mkdir(dir, 0o700); err != nil {
		if errors.Is(err, os.ErrExist) {
			return nil, errors.New("already exists")
		}
		return nil, fmt.Errorf("create state directory: %w", err)
	}
	c := &Container{dir: dir, lock: -1, State: State{ID: id}}
	if err := c.takeLock(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return c, nil
}

// Load opens an existing container and locks it.
func Load(root, id string) (*Container, error) {
	c, err := Peek(root, id)
	if err != nil {
		return nil, err
	}
	if err := c.takeLock(); err != nil {
		return nil, err
	}
	// Re-read under the lock: another command may have changed it.
	if err := c.read(); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// Peek reads a container's state without locking it, for read-only
// commands (state, list) that must not wait behind a long create.
func Peek(root, id string) (*Container, error) {
	if err := ValidateID(id); err != nil {
		return nil, err
	}
	c := &Container{dir: containerDir(root, id), lock: -1, State: State{ID: id}}
	if _, err := os.Stat(c.dir); err != nil {
		return nil, ErrNotExist
	}
	if err := c.read(); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *Container) read() error {
	b, err := os.ReadFile(filepath.Join(c.dir, stateFile))
	if errors.Is(err, os.ErrNotExist) {
		// A create that has not got as far as its first save.
		return nil
	}
	if err != nil {
		return fmt.Errorf("read state: %w", err)
	}
	if bytes.Equal(b, c.onDisk) {
		return nil
	}
	c.onDisk = b
	if err := json.Unmarshal(b, &c.State); err != nil {
		// Only a power loss can tear the file (see save), and then the
		// container died with the machine: read it as stopped, so that
		// delete can clean up.
		c.State = State{ID: c.State.ID}
	}
	return nil
}

func (c *Container) takeLock() error {
	fd, err := unix.Open(c.dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return ErrNotExist
	}
	if err := unix.Flock(fd, unix.LOCK_EX); err != nil {
		unix.Close(fd)
		return fmt.Errorf("lock %s: %w", c.dir, err)
	}
	c.lock = fd
	return nil
}

// Relock takes the lock again after Close and re-reads the state. A
// foreground run lets go of the lock while its container runs, so that
// kill, pause and delete --force from other shells are not held up; when
// one of them deleted the container meanwhile this says ErrNotExist.
func (c *Container) Relock() error {
	if err := c.takeLock(); err != nil {
		return err
	}
	// The directory can have been removed between the open and the flock
	// (a delete holding the lock): a removed directory has no links.
	var st unix.Stat_t
	if err := unix.Fstat(c.lock, &st); err != nil || st.Nlink == 0 {
		c.Close()
		return ErrNotExist
	}
	return c.read()
}

// Close releases the lock.
func (c *Container) Close() {
	if c.lock >= 0 {
		unix.Close(c.lock)
		c.lock = -1
	}
}

// save writes state.json atomically (a temporary file renamed over it): a
// reader sees the old or the new file, and a crash of strata never leaves a
// torn one. It is deliberately not fsynced: the state describes processes
// that live no longer than the running kernel, so the only failure fsync
// guards against (a power loss) also ends every container it describes,
// while it costs about 3 ms per create when --root is on a disk (as /run
// is on this project's test machines) rather than tmpfs.
func (c *Container) save() error {
	b, err := json.Marshal(&c.State)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(c.dir, ".state-")
	if err != nil {
		return fmt.Errorf("save state: %w", err)
	}
	_, err = tmp.Write(b)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), filepath.Join(c.dir, stateFile))
	}
	if err != nil {
		// Only a failed save leaves the temporary file to remove: after
		// the rename it is state.json.
		os.Remove(tmp.Name())
		return fmt.Errorf("save state: %w", err)
	}
	c.onDisk = b
	return nil
}

func (c *Container) fifoPath() string { return filepath.Join(c.dir, fifoName) }

// Status derives the status from the live system, never from a stored
// field, so that a container whose init died reads as stopped.
func (c *Container) Status() Status {
	if !alive(c.State.InitPid, c.State.InitStart) {
		if !c.State.Ready && c.lockedByOther() {
			return Creating
		}
		return Stopped
	}
	if !c.State.Ready {
		return Creating
	}
	if cgroups.Frozen(c.State.CgroupPaths) {
		return Paused
	}
	if _, err := os.Lstat(c.fifoPath()); err == nil {
		return Created
	}
	return Running
}

// lockedByOther says whether another strata holds the container's lock: a
// create still in progress rather than one that crashed.
func (c *Container) lockedByOther() bool {
	if c.lock >= 0 {
		return false
	}
	fd, err := unix.Open(c.dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return false
	}
	defer unix.Close(fd)
	return unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB) == unix.EWOULDBLOCK
}

// OCIState is the state the spec defines (runtime.md), as given to hooks.
func (c *Container) OCIState() *specs.State {
	st := c.Status()
	pid := c.State.InitPid
	if st == Stopped {
		pid = 0
	}
	return &specs.State{
		Version:     specs.Version,
		ID:          c.State.ID,
		Status:      specs.ContainerState(st),
		Pid:         pid,
		Bundle:      c.State.Bundle,
		Annotations: c.State.Annotations,
	}
}

// removeState deletes the state directory; the lock goes with it.
func (c *Container) removeState() error {
	c.Close()
	// The files a container's directory holds, by name, then the directory:
	// RemoveAll's way in (unlink, rmdir, then open and read the directory)
	// costs six syscalls more; it is kept for anything else in there.
	unix.Unlink(filepath.Join(c.dir, stateFile))
	unix.Unlink(c.fifoPath())
	if unix.Rmdir(c.dir) == nil {
		return nil
	}
	if err := os.RemoveAll(c.dir); err != nil {
		return fmt.Errorf("remove state directory: %w", err)
	}
	return nil
}
