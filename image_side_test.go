package main

import (
	"os/exec"
	"strings"
	"testing"
)

// imageSidePackages are linked only into strata-image: none of them may
// come back into the runtime, whose every start would pay their package
// initialisers again (image_side.go).
var imageSidePackages = []string{
	"github.com/strata-runtime/strata/build",
	"github.com/strata-runtime/strata/bundle",
	"github.com/strata-runtime/strata/image",
	"github.com/google/go-containerregistry/pkg/v1/remote",
	"github.com/opencontainers/go-digest",
	"github.com/klauspost/compress/zstd",
	"net/http",
	"github.com/checkpoint-restore/go-criu/v7/rpc",
	"google.golang.org/protobuf/proto",
}

func TestRuntimeLeavesImageSideOut(t *testing.T) {
	runtime := deps(t, "")
	for _, p := range imageSidePackages {
		if runtime[p] {
			t.Errorf("the runtime (built without -tags strata_image) links %s: every container start pays its initialisers", p)
		}
	}
	// The list above names what strata-image does link, or this test
	// would pass on names that no longer exist.
	image := deps(t, "strata_image")
	for _, p := range imageSidePackages {
		if !image[p] {
			t.Errorf("strata-image does not link %s: imageSidePackages is out of date", p)
		}
	}
}

// deps lists the packages this one links with the given build tags.
func deps(t *testing.T, tags string) map[string]bool {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps", "-tags", tags, ".").Output()
	if err != nil {
		t.Fatalf("go list -deps -tags %q: %v", tags, err)
	}
	set := map[string]bool{}
	for _, p := range strings.Fields(string(out)) {
		set[p] = true
	}
	return set
}
