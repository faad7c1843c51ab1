//go:build cri

package cri

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/opencontainers/go-digest"
)

// registryAddr is where the registry listens inside the test's network
// namespace: a fresh namespace has every port free.
const registryAddr = "127.0.0.1:5000"

// registry is Debian's docker-registry (distribution 2.8) with storage in
// the test's directory, and an HTTP client that reaches it in the namespace.
type registry struct {
	client *http.Client
}

func startRegistry(t *testing.T, dir string, ns netns) *registry {
	t.Helper()
	config := fmt.Sprintf(`version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: %s
http:
  addr: %s
`, filepath.Join(dir, "registry"), registryAddr)
	cfgPath := filepath.Join(dir, "registry.yml")
	if err := os.WriteFile(cfgPath, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	r := &registry{client: &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (c net.Conn, err error) {
			err = ns.do(func() error {
				c, err = (&net.Dialer{}).DialContext(ctx, network, addr)
				return err
			})
			return c, err
		},
	}}}
	logPath := filepath.Join(dir, "registry.log")
	dumpOnFailure(t, logPath)
	startDaemon(t, logPath, func() error {
		resp, err := r.client.Get("http://" + registryAddr + "/v2/")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET /v2/: %s", resp.Status)
		}
		return nil
	}, ns.command("docker-registry", "serve", cfgPath))
	return r
}

// push uploads img as repo:tag (blobs first, then the manifest), as a
// registry client does (distribution's monolithic upload: POST, then PUT
// with the digest).
func (r *registry) push(t *testing.T, repo, tag string, img builtImage) {
	t.Helper()
	for _, b := range append([][]byte{img.config}, img.layers...) {
		if err := r.pushBlob(repo, b); err != nil {
			t.Fatalf("pushing a blob of %s:%s: %v", repo, tag, err)
		}
	}
	u := fmt.Sprintf("http://%s/v2/%s/manifests/%s", registryAddr, repo, tag)
	if err := r.put(u, img.manifestType, img.manifest); err != nil {
		t.Fatalf("pushing the manifest of %s:%s: %v", repo, tag, err)
	}
}

func (r *registry) pushBlob(repo string, blob []byte) error {
	resp, err := r.client.Post(fmt.Sprintf("http://%s/v2/%s/blobs/uploads/", registryAddr, repo), "", nil)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		return fmt.Errorf("starting an upload: %s", resp.Status)
	}
	loc, err := resp.Location()
	if err != nil {
		return err
	}
	q := loc.Query()
	q.Set("digest", digest.FromBytes(blob).String())
	loc.RawQuery = q.Encode()
	return r.put(loc.String(), "application/octet-stream", blob)
}

func (r *registry) put(u, contentType string, body []byte) error {
	req, err := http.NewRequest(http.MethodPut, u, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", contentType)
	resp, err := r.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		msg, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("PUT %s: %s: %s", u, resp.Status, msg)
	}
	return nil
}
