package specconv

import (
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// OverlayAnnotation asks the runtime to mount root.path itself, as an
// overlay of the directories its value names, in the container's own mount
// namespace. It is how a rootless bundle (`strata-image bundle create` run
// by a normal user) gets its rootfs: an unprivileged user may mount
// overlayfs only inside a user namespace of its own (Linux 5.11+), so no
// mount made at bundle time could outlive the command, and the container's
// user namespace, which maps the same ids as the store's, is where the mount
// has to be. The overlay uses userxattr: a rootless store keeps overlayfs's
// marks in user.overlay.* xattrs. Other runtimes ignore the annotation and
// find root.path empty.
const OverlayAnnotation = "io.github.strata-runtime.rootfs.overlay"

// Overlay is the annotation's value.
type Overlay struct {
	Lowerdirs []string `json:"lowerdirs"` // top layer first, as overlayfs takes them
	Upperdir  string   `json:"upperdir"`
	Workdir   string   `json:"workdir"`
}

// ParseOverlay reads the annotation of s: nil without one, or an error
// naming the annotation and what is wrong with it.
func ParseOverlay(s *specs.Spec) (*Overlay, error) {
	v, ok := s.Annotations[OverlayAnnotation]
	if !ok {
		return nil, nil
	}
	field := fmt.Sprintf("annotations[%q]", OverlayAnnotation)
	var o Overlay
	if err := json.Unmarshal([]byte(v), &o); err != nil {
		return nil, fmt.Errorf("%s: %w (expected {\"lowerdirs\": [...], \"upperdir\": ..., \"workdir\": ...})", field, err)
	}
	if len(o.Lowerdirs) == 0 {
		return nil, fmt.Errorf("%s: lowerdirs: expected at least one directory", field)
	}
	for _, d := range append(append([]string{}, o.Lowerdirs...), o.Upperdir, o.Workdir) {
		if !filepath.IsAbs(d) {
			return nil, fmt.Errorf("%s: %q: expected an absolute path", field, d)
		}
	}
	if s.Linux == nil || !ownMountNamespace(s.Linux.Namespaces) {
		return nil, errors.New(field + ": the overlay is mounted in the container's mount namespace: linux.namespaces needs a mount namespace of its own")
	}
	return &o, nil
}

func ownMountNamespace(ns []specs.LinuxNamespace) bool {
	for _, n := range ns {
		if n.Type == specs.MountNamespace && n.Path == "" {
			return true
		}
	}
	return false
}
