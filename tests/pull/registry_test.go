package pull_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/strata-runtime/strata/tests/registrytest"
)

const registryBin = registrytest.Binary

// registry is one docker-registry serving 127.0.0.1:PORT.
type registry struct{ *registrytest.Registry }

// startRegistry starts a registry with its own storage and port; with user
// set, it takes htpasswd (basic) credentials user:password. The cleanup
// stops it whether the test passed or not.
func startRegistry(t *testing.T, user, password string) *registry {
	t.Helper()
	r, err := registrytest.Start(t.TempDir(), user, password)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Stop)
	return &registry{r}
}

// freePort returns a 127.0.0.1 address no one listens on now.
func freePort(t *testing.T) string {
	t.Helper()
	addr, err := registrytest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

// push copies an image (oci:DIR:TAG) into the registry as REPO:TAG with
// skopeo; all copies every platform of an index.
func (r *registry) push(t *testing.T, src, dest string, all bool, creds string) {
	t.Helper()
	args := []string{"copy", "--quiet", "--dest-tls-verify=false"}
	if all {
		args = append(args, "--all")
	}
	if creds != "" {
		args = append(args, "--dest-creds", creds)
	}
	args = append(args, src, "docker://"+r.Addr+"/"+dest)
	if out, err := exec.Command("skopeo", args...).CombinedOutput(); err != nil {
		t.Fatalf("skopeo %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// blobPath is where the registry keeps a blob's bytes.
func (r *registry) blobPath(digest string) string {
	hex := strings.TrimPrefix(digest, "sha256:")
	return filepath.Join(r.Storage, "docker/registry/v2/blobs/sha256", hex[:2], hex, "data")
}

// ref is the docker:// reference of REPO:TAG here.
func (r *registry) ref(repoTag string) string { return "docker://" + r.Addr + "/" + repoTag }

var blobGet = regexp.MustCompile(`"GET /v2/[^ ]*/blobs/(sha256:[0-9a-f]{64}) HTTP[^"]*" 200`)

// blobGets lists the blobs the registry has served so far, from its access log.
func (r *registry) blobGets(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile(r.Log)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range blobGet.FindAllStringSubmatch(string(data), -1) {
		out = append(out, m[1])
	}
	return out
}
