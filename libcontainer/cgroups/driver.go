package cgroups

// Driver says who makes a container's cgroup.
type Driver int

const (
	// Cgroupfs: strata makes the directories under /sys/fs/cgroup itself.
	Cgroupfs Driver = iota
	// Systemd: a transient scope of the system's systemd (--systemd-cgroup
	// as root).
	Systemd
	// SystemdUser: a transient scope of the user's own systemd manager
	// (user@UID.service, --systemd-cgroup run rootless), in the cgroup v2
	// subtree systemd delegates to that manager. The one way an
	// unprivileged strata gets a cgroup, as with runc.
	SystemdUser
)

// systemd says whether a systemd manager makes the cgroup.
func (d Driver) systemd() bool { return d == Systemd || d == SystemdUser }
