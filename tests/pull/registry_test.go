package pull_test

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

const registryBin = "/usr/bin/docker-registry"

// registry is one docker-registry process serving 127.0.0.1:PORT.
type registry struct {
	Addr    string // 127.0.0.1:PORT
	Storage string // its filesystem storage root
	log     string
}

// startRegistry starts a registry with its own storage and port; with user
// set, it takes htpasswd (basic) credentials user:password. The cleanup
// stops it whether the test passed or not.
func startRegistry(t *testing.T, user, password string) *registry {
	t.Helper()
	dir := t.TempDir()
	r := &registry{Addr: freePort(t), Storage: filepath.Join(dir, "storage"), log: filepath.Join(dir, "registry.log")}
	auth := ""
	if user != "" {
		hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		htpasswd := filepath.Join(dir, "htpasswd")
		if err := os.WriteFile(htpasswd, []byte(user+":"+string(hash)+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		auth = fmt.Sprintf("auth:\n  htpasswd:\n    realm: strata-test\n    path: %s\n", htpasswd)
	}
	config := fmt.Sprintf(`version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: %s
http:
  addr: %s
%s`, r.Storage, r.Addr, auth)
	cfgPath := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfgPath, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(r.log)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(registryBin, "serve", cfgPath)
	cmd.Stdout, cmd.Stderr = logf, logf
	// Its own process group: a registry outlives no test, even one whose
	// cleanup runs after a panic.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", registryBin, err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		logf.Close()
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get("http://" + r.Addr + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusUnauthorized {
				return r
			}
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(r.log)
			t.Fatalf("registry on %s did not answer /v2/ within 10s (%v)\n%s", r.Addr, err, log)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// freePort returns a 127.0.0.1 address no one listens on now.
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
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
	data, err := os.ReadFile(r.log)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range blobGet.FindAllStringSubmatch(string(data), -1) {
		out = append(out, m[1])
	}
	return out
}
