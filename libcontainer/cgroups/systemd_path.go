package cgroups

import (
	"fmt"
	"strings"

	cg "github.com/opencontainers/cgroups"
	"github.com/opencontainers/cgroups/systemd"
)

// With --systemd-cgroup, linux.cgroupsPath is not a directory but runc's
// "slice:prefix:name": the container's cgroup is the transient scope
// <prefix>-<name>.scope in that slice, made by systemd. As in runc, an
// empty cgroupsPath is system.slice:<defaultScopePrefix>:<id>, and an
// empty slice is system.slice; rootless, where the slice is one of the
// user's manager (below user@UID.service), both are user.slice instead.

// defaultScopePrefix names the scope of a container whose cgroupsPath is
// empty: runc's is "runc", strata's is its own name.
const defaultScopePrefix = "strata"

// defaultSlice is where a scope goes when its slice is not given: where
// runc (as root) and systemd itself put system services.
const defaultSlice = "system.slice"

// defaultUserSlice is the same for the user's manager (SystemdUser): the
// library's default and runc's, where the user manager keeps the units it
// runs for the user (its own user.slice, not the system's).
const defaultUserSlice = "user.slice"

// unitNameMax is systemd's longest unit name (UNIT_NAME_MAX less its NUL).
const unitNameMax = 255

// systemdPath fills c's Parent, ScopePrefix and Name from cgroupsPath,
// checking every part before systemd is asked for anything. user: the
// scope is the user manager's (SystemdUser; the library then talks to that
// manager, over the user's session bus).
func systemdPath(c *cg.Cgroup, id, cgroupsPath string, user bool) error {
	c.Systemd, c.Rootless = true, user
	def := defaultSlice
	if user {
		def = defaultUserSlice
	}
	field := fmt.Sprintf("linux.cgroupsPath %q", cgroupsPath)
	if cgroupsPath == "" {
		// The ID becomes part of a unit name: checked as one below.
		cgroupsPath = def + ":" + defaultScopePrefix + ":" + id
		field = fmt.Sprintf("linux.cgroupsPath \"\" (%s by default)", cgroupsPath)
	}
	parts := strings.Split(cgroupsPath, ":")
	if len(parts) != 3 {
		return fmt.Errorf("%s: with --systemd-cgroup, expected \"slice:prefix:name\" (such as system.slice:strata:web)", field)
	}
	slice, prefix, name := parts[0], parts[1], parts[2]
	if slice == "" {
		slice = def
	}
	if err := checkSlice(slice); err != nil {
		return fmt.Errorf("%s: slice %q: %w", field, slice, err)
	}
	for _, p := range []struct{ what, v string }{{"prefix", prefix}, {"name", name}} {
		if err := checkUnitPart(p.v); err != nil {
			return fmt.Errorf("%s: %s %q: %w", field, p.what, p.v, err)
		}
	}
	// runc makes a slice instead when the name ends in .slice (kubelet's
	// pod cgroups); a slice cannot hold the init itself, so strata refuses.
	if strings.HasSuffix(name, ".slice") {
		return fmt.Errorf("%s: name %q: a container gets a scope; expected a name not ending in .slice", field, name)
	}
	if unit := prefix + "-" + name + ".scope"; len(unit) > unitNameMax {
		return fmt.Errorf("%s: scope name %s is %d characters long; systemd takes at most %d", field, unit, len(unit), unitNameMax)
	}
	c.Parent, c.ScopePrefix, c.Name = slice, prefix, name
	return nil
}

// checkSlice accepts a slice name as systemd spells its hierarchy
// (system.slice, kubepods-besteffort.slice); the library's ExpandSlice
// checks the dashes, the characters are checked here.
func checkSlice(slice string) error {
	if _, err := systemd.ExpandSlice(slice); err != nil {
		return fmt.Errorf("expected a systemd slice name such as system.slice or machine-web.slice (ends in .slice, no empty part between dashes)")
	}
	return checkUnitPart(slice)
}

// checkUnitPart accepts what may appear in a systemd unit name here:
// letters, digits, '_', '.', '-'. systemd also takes '\' escapes and '@'
// (instances), which no engine puts in a container's scope name.
func checkUnitPart(s string) error {
	if s == "" {
		return fmt.Errorf("is empty; expected letters, digits, '_', '.' or '-'")
	}
	for _, r := range s {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '.' || r == '-'
		if !ok {
			return fmt.Errorf("character %q cannot be in a systemd unit name; expected letters, digits, '_', '.' or '-'", r)
		}
	}
	return nil
}

// scopeName is the unit systemd makes for the container.
func scopeName(c *cg.Cgroup) string { return c.ScopePrefix + "-" + c.Name + ".scope" }
