package libcontainer

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/strata-runtime/strata/libcontainer/cgroups"
)

// The container's cgroup after create: pause, resume, update, stats, OOM
// events and the process list. Create itself is in process.go.

// cgroupManager is the Manager of the cgroup create recorded.
func (c *Container) cgroupManager() (*cgroups.Manager, error) {
	if len(c.State.CgroupPaths) == 0 {
		return nil, errors.New("no cgroup recorded in the container's state")
	}
	return cgroups.Load(c.State.ID, c.State.Config, c.State.CgroupPaths, c.State.cgroupDriver())
}

// joinCgroup returns what puts pid (a process exec'd into the container,
// before its first namespace change) in the cgroup directories paths: the
// container's, or sub-cgroups of it (exec --cgroup).
func (c *Container) joinCgroup(paths map[string]string) func(pid int) error {
	return func(pid int) error {
		if len(paths) == 0 {
			return errors.New("no cgroup recorded in the container's state")
		}
		m, err := cgroups.Load(c.State.ID, c.State.Config, paths, c.State.cgroupDriver())
		if err != nil {
			return err
		}
		return m.Join(pid)
	}
}

// execCgroupPaths are the cgroup directories of a process exec'd with
// `exec --cgroup`: sub maps a controller ("" for every one) to a path
// below the container's cgroup, which must exist (runc does not make it
// either). On cgroup v2 there is one directory, so a controller name only
// selects it.
func (c *Container) execCgroupPaths(sub map[string]string) (map[string]string, error) {
	paths := maps.Clone(c.State.CgroupPaths)
	if len(sub) == 0 {
		return paths, nil
	}
	if len(paths) == 0 {
		return nil, errors.New("--cgroup: no cgroup recorded in the container's state")
	}
	if _, unified := paths[""]; unified && len(paths) == 1 {
		// Pure cgroup v2 (a hybrid host records its empty v2 hierarchy
		// beside the v1 ones): whatever controllers were named, one path.
		var rel string
		for _, r := range sub {
			if rel != "" && r != rel {
				return nil, fmt.Errorf("--cgroup: cgroup v2 has one hierarchy, but %q and %q were given", rel, r)
			}
			rel = r
		}
		sub = map[string]string{"": rel}
	}
	for ctrl, rel := range sub {
		if _, ok := paths[ctrl]; ctrl != "" && !ok {
			return nil, fmt.Errorf("--cgroup %s:%s: the container has no %s cgroup", ctrl, rel, ctrl)
		}
	}
	for ctrl, dir := range paths {
		rel, ok := sub[ctrl]
		if !ok {
			rel = sub[""]
		}
		if rel == "" {
			continue
		}
		// Lexically inside the container's cgroup: ".." cannot leave it.
		d := filepath.Join(dir, filepath.Clean("/"+rel))
		if fi, err := os.Stat(d); err != nil || !fi.IsDir() {
			return nil, fmt.Errorf("--cgroup %s: sub-cgroup %s does not exist (exec does not create it)", rel, d)
		}
		paths[ctrl] = d
	}
	return paths, nil
}

// Pause freezes every process of a created or running container.
func (c *Container) Pause() error {
	if st := c.Status(); st != Running && st != Created {
		return statusError(st, "running or created")
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
		return statusError(st, "paused")
	}
	m, err := c.cgroupManager()
	if err != nil {
		return err
	}
	return m.Thaw()
}

// Processes lists the host pids of every process in the container's cgroup.
func (c *Container) Processes() ([]int, error) {
	st := c.Status()
	if st == Creating {
		return nil, statusError(st, "created, running, paused or stopped")
	}
	if st == Stopped && len(c.State.CgroupPaths) == 0 {
		return nil, nil
	}
	m, err := c.cgroupManager()
	if err != nil {
		return nil, err
	}
	pids, err := m.Pids()
	// As runc: a stopped container lists what is left in its cgroup
	// (children of an init without a pid namespace), or nothing.
	if st == Stopped && err != nil {
		return nil, nil
	}
	return pids, err
}

// Update replaces the container's resources with r (the whole
// linux.resources, already merged by the caller), writes them to its
// cgroup and records them in its state.
func (c *Container) Update(r *specs.LinuxResources) error {
	if st := c.Status(); st == Stopped || st == Creating {
		return statusError(st, "created, running or paused")
	}
	if c.State.Config == nil || c.State.Config.Linux == nil {
		return errors.New("the container's config has no linux section")
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
		return nil, fmt.Errorf("not running (status is %s)", st)
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
