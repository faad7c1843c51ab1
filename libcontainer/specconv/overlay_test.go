package specconv

import (
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestParseOverlay(t *testing.T) {
	withMountNS := &specs.Linux{Namespaces: []specs.LinuxNamespace{{Type: specs.MountNamespace}}}
	joined := &specs.Linux{Namespaces: []specs.LinuxNamespace{{Type: specs.MountNamespace, Path: "/proc/1/ns/mnt"}}}
	good := `{"lowerdirs":["/s/l2","/s/l1"],"upperdir":"/b/upper","workdir":"/b/work"}`
	for _, c := range []struct {
		name, value string
		linux       *specs.Linux
		want        string // "" for success; else a part of the error
	}{
		{"good", good, withMountNS, ""},
		{"not json", `{"lowerdirs":`, withMountNS, "expected {"},
		{"no lowers", `{"lowerdirs":[],"upperdir":"/u","workdir":"/w"}`, withMountNS, "lowerdirs: expected at least one"},
		{"relative upper", `{"lowerdirs":["/l"],"upperdir":"upper","workdir":"/w"}`, withMountNS, `"upper": expected an absolute path`},
		{"missing work", `{"lowerdirs":["/l"],"upperdir":"/u"}`, withMountNS, `"": expected an absolute path`},
		{"joined mount namespace", good, joined, "needs a mount namespace of its own"},
		{"no linux", good, nil, "needs a mount namespace of its own"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := &specs.Spec{Linux: c.linux, Annotations: map[string]string{OverlayAnnotation: c.value}}
			o, err := ParseOverlay(s)
			if c.want == "" {
				if err != nil || o == nil || len(o.Lowerdirs) != 2 || o.Lowerdirs[0] != "/s/l2" || o.Upperdir != "/b/upper" || o.Workdir != "/b/work" {
					t.Fatalf("got %+v, %v", o, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), OverlayAnnotation) {
				t.Fatalf("error %v: want one naming the annotation and saying %q", err, c.want)
			}
		})
	}
	if o, err := ParseOverlay(&specs.Spec{}); o != nil || err != nil {
		t.Errorf("no annotation: got %+v, %v; want nothing", o, err)
	}
}
