package cgroups

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	sd "github.com/coreos/go-systemd/v22/dbus"
	"github.com/godbus/dbus/v5"
	cg "github.com/opencontainers/cgroups"
	"github.com/opencontainers/cgroups/systemd"
)

// Rootless with --systemd-cgroup (SystemdUser), as runc: the scope is asked
// of the user's own systemd manager, user@UID.service, which systemd runs
// while the user has a login session (or always, with linger) and to which
// it delegates a cgroup v2 subtree. The manager answers on the user's D-Bus
// session bus; the library connects there when its Cgroup.Rootless is set,
// and puts the scope in the manager's user.slice:
//
//	/sys/fs/cgroup/user.slice/user-UID.slice/user@UID.service/user.slice/strata-ID.scope
//
// What the scope can limit is what systemd delegates to the manager
// (Delegate= of user@.service: memory and pids by default, cpu too on
// newer systemd); strata refuses a resource whose controller is not there.

// SystemdUserHost refuses --systemd-cgroup for a rootless strata where the
// user's manager cannot make the scope: systemd is not the init, the host
// is not pure cgroup v2 (systemd delegates to users only there), or there
// is no session bus to reach the manager on. Stats only, no connection.
func SystemdUserHost() error {
	if !systemd.IsRunningSystemd() {
		return errors.New("--systemd-cgroup: systemd is not running on this host (no /run/systemd/system), so there is no user manager to make the scope of a rootless container; omit the flag (the container then has no cgroup)")
	}
	if !cg.IsCgroup2UnifiedMode() {
		return errors.New("--systemd-cgroup: rootless, the container's cgroup is one systemd delegates to the user's manager, which needs a pure cgroup v2 host, and this host's controllers are on cgroup v1; omit the flag (the container then has no cgroup)")
	}
	_, err := userBusAddress()
	return err
}

// userBusAddress is the user's session bus, found as the library finds it:
// $DBUS_SESSION_BUS_ADDRESS, else $XDG_RUNTIME_DIR/bus.
func userBusAddress() (string, error) {
	if a := os.Getenv("DBUS_SESSION_BUS_ADDRESS"); a != "" {
		return a, nil // the connection says whether it works
	}
	need := fmt.Sprintf("user@%d.service runs while the user has a login session, or from boot after `loginctl enable-linger %[1]d`; the bus socket there needs the dbus-user-session package", os.Getuid())
	xdg := os.Getenv("XDG_RUNTIME_DIR")
	if xdg == "" {
		return "", fmt.Errorf("--systemd-cgroup: rootless, the user's systemd manager is reached over the session bus, and neither DBUS_SESSION_BUS_ADDRESS nor XDG_RUNTIME_DIR (whose bus socket is $XDG_RUNTIME_DIR/bus) is set; %s", need)
	}
	sock := filepath.Join(xdg, "bus")
	if _, err := os.Stat(sock); err != nil {
		return "", fmt.Errorf("--systemd-cgroup: rootless, the user's systemd manager is not reachable: no D-Bus session bus socket %s (and DBUS_SESSION_BUS_ADDRESS is not set); %s", sock, need)
	}
	return "unix:path=" + dbus.EscapeBusAddressValue(sock), nil
}

// userManagerError words a failure to ask the user's manager where its
// cgroup is (the library does so before anything is made).
func userManagerError(err error) error {
	if inner := errors.Unwrap(err); inner != nil && strings.HasPrefix(err.Error(), "failed to connect to dbus") {
		err = inner // the library's hint is about another package
	}
	addr, _ := userBusAddress()
	return fmt.Errorf("--systemd-cgroup: rootless: ask the user's systemd manager (session bus %s) for its cgroup: %w", addr, err)
}

// userManagerDir is the user manager's cgroup directory, from the scope's
// path the library made: <manager>/<the slice, expanded>/<the scope>.
// "" when the path is not of that form: the root's controllers are listed
// instead.
func userManagerDir(scopePath string, c *cg.Cgroup) string {
	slice, err := systemd.ExpandSlice(c.Parent)
	if err != nil {
		return ""
	}
	suffix := slice + "/" + scopeName(c)
	if !strings.HasSuffix(scopePath, suffix) {
		return ""
	}
	return strings.TrimSuffix(scopePath, suffix)
}

// notDelegated refuses a resource whose controller systemd does not
// delegate to the user's manager.
func notDelegated(field, ctrl, managerDir string, avail map[string]bool) error {
	var have []string
	for c := range avail {
		have = append(have, c)
	}
	slices.Sort(have)
	return fmt.Errorf("linux.resources.%s: the cgroup v2 %q controller is not delegated to the user's systemd manager (%s/cgroup.controllers has %q); a drop-in for user@.service with Delegate=%s and the others wanted delegates it (docs/rootless.md)",
		field, ctrl, managerDir, strings.Join(have, " "), strings.Join(append(have, ctrl), " "))
}

// newUserConn connects to the user's manager as the library does
// (EXTERNAL auth as the bus owner's uid), without the library's fallback
// to launching a session bus.
func newUserConn(ctx context.Context) (*sd.Conn, error) {
	addr, err := userBusAddress()
	if err != nil {
		return nil, err
	}
	uid, err := systemd.DetectUID()
	if err != nil {
		return nil, err
	}
	return sd.NewConnection(func() (*dbus.Conn, error) {
		conn, err := dbus.Dial(addr, dbus.WithContext(ctx))
		if err != nil {
			return nil, err
		}
		if err := conn.Auth([]dbus.Auth{dbus.AuthExternal(strconv.Itoa(uid))}); err != nil {
			conn.Close()
			return nil, err
		}
		if err := conn.Hello(); err != nil {
			conn.Close()
			return nil, err
		}
		return conn, nil
	})
}
