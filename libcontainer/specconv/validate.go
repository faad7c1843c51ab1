package specconv

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Validate checks everything in s that can be checked before anything is
// created on the host, so `strata create` fails early and says which field is
// wrong. bundle is the directory holding config.json; a relative root.path is
// resolved against it.
//
// All problems found are returned, joined (one per line), in config order.
func Validate(s *specs.Spec, bundle string) error {
	if s == nil {
		return errors.New("config.json: empty")
	}
	v := &validator{spec: s, bundle: bundle}
	v.version()
	v.root()
	v.process()
	v.hooks()
	v.mounts()
	v.linux()
	return errors.Join(v.errs...)
}

// validator collects problems; each names the field the way config.json does.
type validator struct {
	spec   *specs.Spec
	bundle string
	errs   []error
}

func (v *validator) fail(field, format string, args ...any) {
	v.errs = append(v.errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
}

// semverMajor returns the MAJOR of a version MAJOR.MINOR.PATCH (numbers
// without leading zeros) with optional -pre-release and +build parts of
// [0-9A-Za-z.-], and false for anything else. A loop rather than a regexp: a
// package-level regexp is compiled by an initialiser that every strata start
// pays for, and this one is only needed by create and run.
func semverMajor(s string) (major string, ok bool) {
	var nums [3]string
	for i := range nums {
		if i > 0 {
			if !strings.HasPrefix(s, ".") {
				return "", false
			}
			s = s[1:]
		}
		n := 0
		for n < len(s) && '0' <= s[n] && s[n] <= '9' {
			n++
		}
		if n == 0 || (n > 1 && s[0] == '0') {
			return "", false
		}
		nums[i], s = s[:n], s[n:]
	}
	for _, sep := range []byte{'-', '+'} {
		if s == "" || s[0] != sep {
			continue
		}
		n := 1
		for n < len(s) && semverChar(s[n]) {
			n++
		}
		if n == 1 {
			return "", false
		}
		s = s[n:]
	}
	return nums[0], s == ""
}

func semverChar(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '.' || c == '-'
}

// version accepts any 1.x.y: minor versions of the spec only add fields, and
// configs written for 1.0.0 through the current 1.x must keep working.
func (v *validator) version() {
	ver := v.spec.Version
	if ver == "" {
		v.fail("ociVersion", "required (for example %q)", specs.Version)
		return
	}
	m, ok := semverMajor(ver)
	if !ok {
		v.fail(fmt.Sprintf("ociVersion %q", ver), "not a semantic version (expected MAJOR.MINOR.PATCH)")
		return
	}
	if major, _ := strconv.Atoi(m); major != specs.VersionMajor {
		v.fail(fmt.Sprintf("ociVersion %q", ver), "unsupported major version (expected %d.x)", specs.VersionMajor)
	}
}

func (v *validator) root() {
	r := v.spec.Root
	if r == nil {
		v.fail("root", "required")
		return
	}
	if r.Path == "" {
		v.fail("root.path", "required")
		return
	}
	path := r.Path
	if !filepath.IsAbs(path) {
		// Absolute in messages, so they make sense whatever the caller's cwd.
		bundle, err := filepath.Abs(v.bundle)
		if err != nil {
			bundle = v.bundle
		}
		path = filepath.Join(bundle, path)
	}
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		v.fail(fmt.Sprintf("root.path %q", r.Path), "%s does not exist", path)
	case err != nil:
		v.fail(fmt.Sprintf("root.path %q", r.Path), "%v", err)
	case !fi.IsDir():
		v.fail(fmt.Sprintf("root.path %q", r.Path), "%s is not a directory", path)
	}
	// A rootless bundle's rootfs, mounted by the init (overlay.go).
	if _, err := ParseOverlay(v.spec); err != nil {
		v.errs = append(v.errs, err)
	}
}

func (v *validator) hooks() {
	h := v.spec.Hooks
	if h == nil {
		return
	}
	for _, list := range []struct {
		name  string
		hooks []specs.Hook
	}{
		{"prestart", h.Prestart}, // deprecated by the spec, still run
		{"createRuntime", h.CreateRuntime},
		{"createContainer", h.CreateContainer},
		{"startContainer", h.StartContainer},
		{"poststart", h.Poststart},
		{"poststop", h.Poststop},
	} {
		for i, hook := range list.hooks {
			field := fmt.Sprintf("hooks.%s[%d]", list.name, i)
			if !filepath.IsAbs(hook.Path) {
				v.fail(field, "path %q is not absolute", hook.Path)
			}
			if hook.Timeout != nil && *hook.Timeout <= 0 {
				v.fail(field+".timeout", "%d (expected a positive number of seconds)", *hook.Timeout)
			}
			v.envList(field+".env", hook.Env)
		}
	}
}

func (v *validator) mounts() {
	for i, m := range v.spec.Mounts {
		field := fmt.Sprintf("mounts[%d]", i)
		// runc accepts a relative destination from pre-1.0 configs with a
		// warning; resolving it against an unknown cwd is a guess, so refuse.
		switch {
		case m.Destination == "":
			v.fail(field+".destination", "required")
		case !filepath.IsAbs(m.Destination):
			v.fail(field+".destination", "%q is not absolute", m.Destination)
		}
		// runc treats type "bind" as a bind mount even without the option.
		bind := m.Type == "bind"
		for j, o := range m.Options {
			switch o {
			case "":
				v.fail(fmt.Sprintf("%s.options[%d]", field, j), "empty")
			case "bind", "rbind":
				bind = true
			}
		}
		if bind && m.Source == "" {
			v.fail(field+".source", "required for a bind mount")
		}
		if !bind && m.Type == "" {
			v.fail(field+".type", `required (a filesystem type, or "bind" in options)`)
		}
	}
}

// envList checks NAME=VALUE entries, as execve's environment needs them.
func (v *validator) envList(field string, env []string) {
	for i, kv := range env {
		name, _, ok := strings.Cut(kv, "=")
		switch {
		case !ok || name == "":
			v.fail(fmt.Sprintf("%s[%d]", field, i), "%q is not NAME=VALUE", kv)
		case strings.ContainsRune(kv, 0):
			v.fail(fmt.Sprintf("%s[%d]", field, i), "%q contains a NUL byte", kv)
		}
	}
}

// absPaths checks a list of paths inside the container.
func (v *validator) absPaths(field string, paths []string) {
	for i, p := range paths {
		if !filepath.IsAbs(p) {
			v.fail(fmt.Sprintf("%s[%d]", field, i), "%q is not absolute", p)
		}
	}
}
