package cgroups

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	sd "github.com/coreos/go-systemd/v22/dbus"
	"github.com/godbus/dbus/v5"
	cg "github.com/opencontainers/cgroups"
	"github.com/opencontainers/cgroups/systemd"
)

// The systemd driver (--systemd-cgroup) is opencontainers/cgroups' own,
// the one runc uses: Apply starts the transient scope over D-Bus
// (StartTransientUnit with Slice=, Delegate=yes, PIDs=[the init] and the
// accounting properties), Set maps the resources systemd has properties
// for (MemoryMax, MemoryLow, MemorySwapMax, CPUWeight,
// CPUQuotaPerSecUSec/CPUQuotaPeriodUSec, AllowedCPUs/AllowedMemoryNodes,
// TasksMax, DevicePolicy/DeviceAllow) and writes every resource to the
// cgroup files too, Destroy stops the scope. What strata adds is here:
// refusing a host where that cannot work before anything is made, errors
// that say what to do, and IOWeight, which the library maps only on v1.

// The sockets go-systemd tries, in its order: the system bus, then (as
// root) systemd's own private socket, which needs no dbus-daemon.
const (
	systemBusSocket = "/run/dbus/system_bus_socket"
	privateSocket   = "/run/systemd/private"
)

// ErrSystemd is the refusal of --systemd-cgroup where systemd is not the
// init: there is no one to ask for a scope.
var ErrSystemd = errors.New("--systemd-cgroup: systemd is not running on this host (no /run/systemd/system), so nothing answers on " + privateSocket + " or " + systemBusSocket + "; omit the flag to use cgroupfs")

// SystemdHost refuses --systemd-cgroup where systemd cannot make the
// container's scope: systemd is not the init, the host is not pure cgroup
// v2 (where strata's systemd driver is tested; docs/systemd.md), or no
// D-Bus socket is there to reach it. A few stats: cheap enough for
// `features`.
func SystemdHost() error {
	if !systemd.IsRunningSystemd() {
		return ErrSystemd
	}
	if !cg.IsCgroup2UnifiedMode() {
		return errors.New("--systemd-cgroup: strata's systemd driver needs a pure cgroup v2 host, and this host's controllers are on cgroup v1; omit the flag to use cgroupfs")
	}
	if os.Getenv("DBUS_SYSTEM_BUS_ADDRESS") != "" {
		return nil // the connection says whether it works
	}
	for _, s := range []string{systemBusSocket, privateSocket} {
		if _, err := os.Stat(s); err == nil {
			return nil
		}
	}
	return fmt.Errorf("--systemd-cgroup: systemd's D-Bus API is not reachable: neither %s nor %s exists", systemBusSocket, privateSocket)
}

// scopeError words a failed Apply. The library's message lists every
// property it sent, and its connection error carries a hint for rootless
// users: the cause, with the scope and the flag, is what a user can act on.
func scopeError(c *cg.Cgroup, err error) error {
	for _, wrapper := range []string{"unable to start unit", "failed to connect to dbus"} {
		if inner := errors.Unwrap(err); inner != nil && strings.HasPrefix(err.Error(), wrapper) {
			err = inner
		}
	}
	if c.Rootless {
		return fmt.Errorf("--systemd-cgroup: start scope %s in %s of the user's systemd manager: %w", scopeName(c), c.Parent, err)
	}
	return fmt.Errorf("--systemd-cgroup: start scope %s in %s: %w", scopeName(c), c.Parent, err)
}

// setIOWeight sets the scope's IOWeight from blockIO.weight. The library
// maps that field to a systemd property only on cgroup v1 (BlockIOWeight);
// on v2 it writes io.weight alone, which systemd overwrites with its
// default whenever it next applies the scope's I/O settings (the scope
// has IOAccounting=yes), so strata sets the property itself. Its own
// connection: the library's is not exported. The scale is the same as
// io.weight's (1-10000), converted from blockIO's (10-1000) as for the file.
func setIOWeight(c *cg.Cgroup, blkioWeight uint16) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var conn *sd.Conn
	var err error
	if c.Rootless {
		if conn, err = newUserConn(ctx); err != nil {
			return fmt.Errorf("--systemd-cgroup: connect to the user's systemd manager over D-Bus: %w", err)
		}
	} else if conn, err = sd.NewWithContext(ctx); err != nil {
		return fmt.Errorf("--systemd-cgroup: connect to systemd over D-Bus (%s, %s): %w", systemBusSocket, privateSocket, err)
	}
	defer conn.Close()
	unit := scopeName(c)
	w := cg.ConvertBlkIOToIOWeightValue(blkioWeight)
	prop := sd.Property{Name: "IOWeight", Value: dbus.MakeVariant(w)}
	if err := conn.SetUnitPropertiesContext(ctx, unit, true, prop); err != nil {
		return fmt.Errorf("linux.resources.blockIO.weight: set IOWeight=%d on systemd scope %s: %w", w, unit, err)
	}
	return nil
}
