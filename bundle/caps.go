package bundle

import (
	"fmt"
	"slices"
	"strings"

	"github.com/moby/sys/capability"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/strata-runtime/strata/libcontainer/capabilities"
)

// DefaultCapabilities is the set a bundle's process gets: podman's default
// (containers.conf default_capabilities), so that what an image's scripts
// do under podman (chown, useradd, su, chroot) works here too. `strata
// spec` keeps runc's three, which are enough for a shell and nothing more.
var DefaultCapabilities = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_NET_BIND_SERVICE",
	"CAP_SETFCAP", "CAP_SETGID", "CAP_SETPCAP", "CAP_SETUID", "CAP_SYS_CHROOT",
}

// buildCapabilities is DefaultCapabilities with --cap-drop and --cap-add
// applied as podman applies them: "ALL" drops (or adds) every capability,
// the named ones then go (or come) on top, and one capability both added
// and dropped is an error. A root process gets the result as its bounding,
// effective and permitted sets; another user, as in podman, keeps it as its
// bounding set only, with just the added capabilities effective (and, so
// that they survive its execve, inheritable and ambient: asked for by name).
func buildCapabilities(add, drop []string, uid uint32) (*specs.LinuxCapabilities, error) {
	adds, addAll, err := capNames("--cap-add", add)
	if err != nil {
		return nil, err
	}
	drops, dropAll, err := capNames("--cap-drop", drop)
	if err != nil {
		return nil, err
	}
	for _, c := range adds {
		if slices.Contains(drops, c) {
			return nil, fmt.Errorf("--cap-add and --cap-drop both name %s", c)
		}
	}
	set := slices.Clone(DefaultCapabilities)
	switch {
	case dropAll:
		set = nil
	case addAll:
		set = allCapabilities()
	}
	set = slices.DeleteFunc(set, func(c string) bool { return slices.Contains(drops, c) })
	for _, c := range adds {
		if !slices.Contains(set, c) {
			set = append(set, c)
		}
	}
	if uid == 0 {
		return &specs.LinuxCapabilities{Bounding: set, Effective: slices.Clone(set), Permitted: slices.Clone(set)}, nil
	}
	granted := slices.DeleteFunc(slices.Clone(adds), func(c string) bool { return !slices.Contains(set, c) })
	return &specs.LinuxCapabilities{Bounding: set, Effective: granted, Permitted: slices.Clone(granted),
		Inheritable: slices.Clone(granted), Ambient: slices.Clone(granted)}, nil
}

// capNames normalises a flag's capability names ("chown", "CHOWN" or
// "CAP_CHOWN") to the spec's spelling, and reports whether ALL was given.
func capNames(flag string, names []string) (out []string, all bool, err error) {
	for _, n := range names {
		name := strings.ToUpper(n)
		if name == "ALL" {
			all = true
			continue
		}
		if !strings.HasPrefix(name, "CAP_") {
			name = "CAP_" + name
		}
		if _, err := capabilities.Parse(name); err != nil {
			return nil, false, fmt.Errorf("%s %q: %w", flag, n, err)
		}
		out = append(out, name)
	}
	return out, all, nil
}

// allCapabilities is every capability strata knows; the runtime skips, with
// a warning, those the running kernel does not.
func allCapabilities() []string {
	var out []string
	for _, c := range capability.ListKnown() {
		out = append(out, capabilities.Name(c))
	}
	return out
}
