package bundle

import (
	"fmt"
	"maps"
	"path"
	"slices"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/strata-runtime/strata/image/ocispec"
	"github.com/strata-runtime/strata/libcontainer/specconv"
)

// VolumesAnnotation lists the image's Config.Volumes. conversion.md leaves
// volumes to the implementation; strata records them for the caller to mount
// rather than inventing mounts.
const VolumesAnnotation = "org.opencontainers.image.volumes"

// SpecOptions are the run-time choices layered over the image config.
type SpecOptions struct {
	Args     []string // replace the image's Cmd
	Env      []string // KEY=VALUE, added or replacing the image's
	Hostname string
	Readonly bool
	Net      string // "none" (own network namespace, the default) or "host"
	// NoEntrypoint makes Args the whole command, as a build's RUN is.
	NoEntrypoint bool
	// AsRoot ignores the image's User: a build's COPY only writes to the
	// bundle, and the User may name no one in the image yet.
	AsRoot bool
	// CapAdd and CapDrop change DefaultCapabilities ("ALL" or names).
	CapAdd, CapDrop []string
	// NoNewPrivileges sets process.noNewPrivileges; off by default, as in
	// podman and docker, so that setuid programs such as su work.
	NoNewPrivileges bool
	CgroupsPath     string // linux.cgroupsPath
	// UIDMappings and GIDMappings, if set, give the container a user
	// namespace with these maps (Create mounts the layers idmapped
	// through them, so its root owns its rootfs).
	UIDMappings, GIDMappings []specs.LinuxIDMapping
}

// BuildSpec converts an image config into a runtime config per image-spec
// conversion.md, on top of `strata spec`'s defaults with an engine's
// capabilities (DefaultCapabilities) and no_new_privs off. rootfs is the composed
// root, read for /etc/passwd and /etc/group when User names a user.
func BuildSpec(img ocispec.Image, rootfs string, o SpecOptions) (*specs.Spec, error) {
	s := specconv.Example()
	s.Process.Terminal = false // bundles run non-interactively unless asked
	s.Root.Readonly = o.Readonly
	c := img.Config

	cmd := c.Cmd
	if len(o.Args) > 0 {
		cmd = o.Args
	}
	entrypoint := c.Entrypoint
	if o.NoEntrypoint {
		entrypoint = nil
	}
	s.Process.Args = append(slices.Clone(entrypoint), cmd...)
	if len(s.Process.Args) == 0 {
		return nil, fmt.Errorf("image config has neither Entrypoint nor Cmd: give the command after --")
	}

	env, err := buildEnv(c.Env, o.Env)
	if err != nil {
		return nil, err
	}
	s.Process.Env = env

	s.Process.Cwd = "/"
	if c.WorkingDir != "" {
		// The runtime spec needs an absolute cwd; docker reads a relative
		// WorkingDir from the root.
		s.Process.Cwd = path.Join("/", c.WorkingDir)
	}

	user := c.User
	if o.AsRoot {
		user = ""
	}
	u, err := resolveUser(rootfs, user)
	if err != nil {
		return nil, err
	}
	s.Process.User = u
	if s.Process.Capabilities, err = buildCapabilities(o.CapAdd, o.CapDrop, u.UID); err != nil {
		return nil, err
	}
	s.Process.NoNewPrivileges = o.NoNewPrivileges
	s.Linux.CgroupsPath = o.CgroupsPath

	if o.Hostname != "" {
		s.Hostname = o.Hostname
	}
	switch o.Net {
	case "", "none":
	case "host":
		s.Linux.Namespaces = slices.DeleteFunc(s.Linux.Namespaces, func(ns specs.LinuxNamespace) bool {
			return ns.Type == specs.NetworkNamespace
		})
	default:
		return nil, fmt.Errorf("--net %q: expected host or none", o.Net)
	}
	if len(o.UIDMappings) > 0 {
		s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
		s.Linux.UIDMappings = slices.Clone(o.UIDMappings)
		s.Linux.GIDMappings = slices.Clone(o.GIDMappings)
	}
	s.Annotations = annotations(img)
	return s, nil
}

// buildEnv starts from the image's Env, adds a default PATH only if the image
// has none (conversion.md: never change the image's variables), then applies
// the caller's --env values, which may.
func buildEnv(image, extra []string) ([]string, error) {
	env := slices.Clone(image)
	if !slices.ContainsFunc(env, func(e string) bool { return strings.HasPrefix(e, "PATH=") }) {
		env = append(env, specconv.Example().Process.Env[0])
	}
	for _, e := range extra {
		key, _, ok := strings.Cut(e, "=")
		if !ok || key == "" {
			return nil, fmt.Errorf("--env %q: expected KEY=VALUE", e)
		}
		i := slices.IndexFunc(env, func(have string) bool { return strings.HasPrefix(have, key+"=") })
		if i >= 0 {
			env[i] = e
		} else {
			env = append(env, e)
		}
	}
	return env, nil
}

// annotations are the implicit ones conversion.md names; Labels come last
// because an explicit label takes precedence over an implicit annotation.
func annotations(img ocispec.Image) map[string]string {
	a := map[string]string{}
	set := func(k, v string) {
		if v != "" {
			a[k] = v
		}
	}
	set("org.opencontainers.image.os", img.OS)
	set("org.opencontainers.image.architecture", img.Architecture)
	set("org.opencontainers.image.variant", img.Variant)
	set("org.opencontainers.image.os.version", img.OSVersion)
	set("org.opencontainers.image.os.features", strings.Join(img.OSFeatures, ","))
	set("org.opencontainers.image.author", img.Author)
	if img.Created != nil {
		set("org.opencontainers.image.created", img.Created.UTC().Format("2006-01-02T15:04:05Z07:00"))
	}
	set("org.opencontainers.image.stopSignal", img.Config.StopSignal)
	set("org.opencontainers.image.exposedPorts", strings.Join(slices.Sorted(maps.Keys(img.Config.ExposedPorts)), ","))
	set(VolumesAnnotation, strings.Join(slices.Sorted(maps.Keys(img.Config.Volumes)), ","))
	maps.Copy(a, img.Config.Labels)
	if len(a) == 0 {
		return nil
	}
	return a
}
