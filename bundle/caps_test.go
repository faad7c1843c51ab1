package bundle

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/strata-runtime/strata/image/ocispec"
)

// TestDefaultCapabilitiesArePodmans: the default set is the one podman's
// installed containers.conf names (read independently, from the file).
func TestDefaultCapabilitiesArePodmans(t *testing.T) {
	const conf = "/usr/share/containers/containers.conf"
	data, err := os.ReadFile(conf)
	if err != nil {
		t.Fatalf("podman's %s is needed to compare with (apt-get install podman): %v", conf, err)
	}
	m := regexp.MustCompile(`(?s)\ndefault_capabilities = \[(.*?)\]`).FindSubmatch(data)
	if m == nil {
		t.Fatalf("%s has no default_capabilities list", conf)
	}
	var want []string
	for _, q := range regexp.MustCompile(`"(\w+)"`).FindAllSubmatch(m[1], -1) {
		want = append(want, "CAP_"+string(q[1]))
	}
	if len(want) < 10 || !slices.Equal(slices.Sorted(slices.Values(DefaultCapabilities)), slices.Sorted(slices.Values(want))) {
		t.Fatalf("DefaultCapabilities %v, podman's %v", DefaultCapabilities, want)
	}
}

func TestSpecCapabilities(t *testing.T) {
	img := ocispec.Image{Config: ocispec.ImageConfig{Cmd: []string{"/bin/sh"}}}
	for _, tc := range []struct {
		name      string
		user      string
		add, drop []string
		bounding  []string
		effective []string // nil: the same as bounding
		ambient   []string
	}{
		{name: "default", bounding: DefaultCapabilities},
		{name: "drop and add", add: []string{"net_raw"}, drop: []string{"CHOWN", "CAP_KILL"},
			bounding: append(slices.DeleteFunc(slices.Clone(DefaultCapabilities), func(c string) bool { return c == "CAP_CHOWN" || c == "CAP_KILL" }), "CAP_NET_RAW")},
		{name: "drop all", add: []string{"KILL"}, drop: []string{"ALL"}, bounding: []string{"CAP_KILL"}},
		{name: "not root", user: "1000", add: []string{"NET_RAW"},
			bounding: append(slices.Clone(DefaultCapabilities), "CAP_NET_RAW"), effective: []string{"CAP_NET_RAW"}, ambient: []string{"CAP_NET_RAW"}},
		{name: "not root, nothing added", user: "1000:1000", bounding: DefaultCapabilities, effective: []string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			img.Config.User = tc.user
			s, err := BuildSpec(img, t.TempDir(), SpecOptions{CapAdd: tc.add, CapDrop: tc.drop})
			if err != nil {
				t.Fatal(err)
			}
			c := s.Process.Capabilities
			effective := tc.effective
			if effective == nil {
				effective = tc.bounding
			}
			if !slices.Equal(c.Bounding, tc.bounding) || !slices.Equal(c.Effective, effective) || !slices.Equal(c.Permitted, effective) ||
				!slices.Equal(c.Ambient, tc.ambient) || !slices.Equal(c.Inheritable, tc.ambient) {
				t.Fatalf("capabilities %+v, want bounding %v, effective and permitted %v, inheritable and ambient %v", c, tc.bounding, effective, tc.ambient)
			}
			if s.Process.NoNewPrivileges {
				t.Error("noNewPrivileges is set by default: setuid programs (su) would not work")
			}
		})
	}
	for _, bad := range []struct {
		add, drop []string
		want      string
	}{
		{add: []string{"CAP_NOPE"}, want: `--cap-add "CAP_NOPE": unknown capability "CAP_NOPE"`},
		{drop: []string{"frob"}, want: `--cap-drop "frob": unknown capability "CAP_FROB"`},
		{add: []string{"chown"}, drop: []string{"CAP_CHOWN"}, want: "--cap-add and --cap-drop both name CAP_CHOWN"},
	} {
		_, err := BuildSpec(img, t.TempDir(), SpecOptions{CapAdd: bad.add, CapDrop: bad.drop})
		if err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("add %v drop %v: %v, want %q", bad.add, bad.drop, err, bad.want)
		}
	}
	img.Config.User = ""
	s, err := BuildSpec(img, t.TempDir(), SpecOptions{NoNewPrivileges: true, CgroupsPath: "/machine/web"})
	if err != nil || !s.Process.NoNewPrivileges || s.Linux.CgroupsPath != "/machine/web" {
		t.Fatalf("--no-new-privileges and --cgroups-path: %v, noNewPrivileges %v, cgroupsPath %q", err, s != nil && s.Process.NoNewPrivileges, s.Linux.CgroupsPath)
	}
}
