package libcontainer

import (
	"errors"
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/strata-runtime/strata/libcontainer/cgroups"
)

// The container's cgroup after create: pause, resume, update, stats, OOM
// events and the process list. Create itself is in process.go.

// cgroupManager is the Manager of the cgroup create recorded.
func (c *Container) cgroupManager() (*cgroups.Manager, error) {
	if len(c.State.CgroupPaths) == 0 {
		return nil, fmt.Errorf("container %q has no cgroup recorded in its state", c.State.ID)
	}
	return cgroups.Load(c.State.ID, c.State.Config, c.State.CgroupPaths)
}

// JoinCgroup puts pid (a process exec'd into the container, before its
// first namespace change) in the container's cgroup.
func (c *Container) JoinCgroup(pid int) error {
	m, err := c.cgroupManager()
	if err != nil {
		return err
	}
	return m.Join(pid)
}

// Pause freezes every process of a created or running container.
func (c *Container) Pause() error {
	if st := c.Status(); st != Running && st != Created {
		return statusError("pause", c.State.ID, st, "running or created")
	}
	m, err := c.cgroupManager()
	if err != nil {
		return err
	}
	return m.Freeze()
}

// Resume thaws a paused container.
func (c *Container) Resume() error {
	if st := c.Status(); st != Paused {
		return statusError("resume", c.State.ID, st, "paused")
	}
	m, err := c.cgroupManager()
	if err != nil {
		return err
	}
	return m.Thaw()
}

// Processes lists the host pids of every process in the container's cgroup.
func (c *Container) Processes() ([]int, error) {
	if st := c.Status(); st == Stopped || st == Creating {
		return nil, statusError("list the processes of", c.State.ID, st, "created, running or paused")
	}
	m, err := c.cgroupManager()
	if err != nil {
		return nil, err
	}
	return m.Pids()
}

// Update replaces the container's resources with r (the whole
// linux.resources, already merged by the caller), writes them to its
// cgroup and records them in its state.
func (c *Container) Update(r *specs.LinuxResources) error {
	if st := c.Status(); st == Stopped || st == Creating {
		return statusError("update", c.State.ID, st, "created, running or paused")
	}
	if c.State.Config == nil || c.State.Config.Linux == nil {
		return errors.New("update: the container has no linux section in its config")
	}
	res, err := cgroups.Resources(r)
	if err != nil {
		return err
	}
	m, err := c.cgroupManager()
	if err != nil {
		return err
	}
	if err := m.Set(res); err != nil {
		return err
	}
	c.State.Config.Linux.Resources = r
	return c.save()
}

// Stats reads the cgroup's statistics, in runc's `events` shape.
func (c *Container) Stats() (*cgroups.Stats, error) {
	if st := c.Status(); st == Stopped {
		return nil, fmt.Errorf("container %q is not running", c.State.ID)
	}
	m, err := c.cgroupManager()
	if err != nil {
		return nil, err
	}
	return m.Stats()
}

// NotifyOOM delivers the container's OOM events until its cgroup is
// removed (see cgroups.Manager.NotifyOOM).
func (c *Container) NotifyOOM() (<-chan struct{}, error) {
	m, err := c.cgroupManager()
	if err != nil {
		return nil, err
	}
	return m.NotifyOOM()
}
