package pull_test

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	tu "github.com/strata-runtime/strata/tests/testutil"
)

// slowProxy relays a registry, holding back one blob while slow is set (a
// chunk per 20 ms, and nothing past its first MiB until release), and
// records the blobs it was asked for. The hold makes the interruption
// land mid-blob however slowly the other layers unpack.
type slowProxy struct {
	slowBlob string
	slow     atomic.Bool
	sent     atomic.Int64 // bytes of slowBlob relayed
	hold     chan struct{}
	released sync.Once
	mu       sync.Mutex
	gets     []string
}

// release lets the held blob go on (and the proxy close).
func (p *slowProxy) release() { p.released.Do(func() { close(p.hold) }) }

var blobPathRE = regexp.MustCompile(`/blobs/(sha256:[0-9a-f]{64})$`)

func (p *slowProxy) start(t *testing.T, reg *registry) string {
	target, _ := url.Parse("http://" + reg.Addr)
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.FlushInterval = -1
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m := blobPathRE.FindStringSubmatch(r.URL.Path)
		if m != nil && r.Method == http.MethodGet {
			p.mu.Lock()
			p.gets = append(p.gets, m[1])
			p.mu.Unlock()
			if m[1] == p.slowBlob && p.slow.Load() {
				w = &throttled{ResponseWriter: w, p: p}
			}
		}
		rp.ServeHTTP(w, r)
	}))
	// Cleanups run last first: the held response ends before the close.
	t.Cleanup(srv.Close)
	t.Cleanup(p.release)
	return strings.TrimPrefix(srv.URL, "http://")
}

func (p *slowProxy) fetched() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.gets...)
}

type throttled struct {
	http.ResponseWriter
	p *slowProxy
}

func (w *throttled) Write(b []byte) (int, error) {
	if w.p.sent.Load() >= 1<<20 {
		<-w.p.hold
	}
	time.Sleep(20 * time.Millisecond)
	n, err := w.ResponseWriter.Write(b)
	w.p.sent.Add(int64(n))
	return n, err
}

func (w *throttled) Flush() { w.ResponseWriter.(http.Flusher).Flush() }

// TestPullInterrupted: a pull killed (SIGKILL) while the big layer streams
// leaves the layers it finished and no partial one; the next pull fetches
// only the one that was missing, and cleans what the killed one left in tmp/.
func TestPullInterrupted(t *testing.T) {
	reg := startRegistry(t, "", "")
	img := multiLayerImage(t, "resumed")
	reg.push(t, img.Layout, "x:1", false, "")
	p := &slowProxy{slowBlob: img.Big.Digest.String(), hold: make(chan struct{})}
	p.slow.Store(true)
	addr := p.start(t, reg)
	ref := "docker://" + addr + "/x:1"
	store := t.TempDir()

	cmd := exec.Command(tu.StrataPath(), "pull", "--store", store, ref)
	out := &strings.Builder{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	deadline := time.Now().Add(20 * time.Second)
	for p.sent.Load() < 1<<20 || len(storeLayers(t, store)) < 2 {
		select {
		case err := <-done:
			t.Fatalf("pull ended (%v) before it could be interrupted:\n%s", err, out)
		default:
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			<-done
			t.Fatalf("after 20s, %d bytes of the big layer relayed and %d layers in the store:\n%s", p.sent.Load(), len(storeLayers(t, store)), out)
		}
		time.Sleep(10 * time.Millisecond)
	}
	cmd.Process.Kill()
	<-done
	p.release()
	if n := len(storeLayers(t, store)); n != 2 {
		t.Fatalf("killed mid-blob, the store has %d layers; want the 2 finished ones", n)
	}
	if sent := p.sent.Load(); sent >= img.Big.Size {
		t.Fatalf("the big layer was relayed whole (%d bytes) before the kill", sent)
	}

	p.slow.Store(false)
	before := len(p.fetched())
	strata(t, nil, "pull", "--store", store, ref)
	var layers []string
	for _, d := range p.fetched()[before:] {
		if d != readManifest(t, layoutDir(img), img.Manifest).Config.Digest.String() {
			layers = append(layers, d)
		}
	}
	if len(layers) != 1 || layers[0] != img.Big.Digest.String() {
		t.Errorf("the resumed pull fetched layers %v; want only the interrupted %s", layers, img.Big.Digest)
	}
	if n := len(storeLayers(t, store)); n != 3 {
		t.Errorf("after the resumed pull the store has %d layers, want 3", n)
	}
	if tmp := dirNames(t, store+"/tmp"); len(tmp) != 0 {
		t.Errorf("the resumed pull left %v in tmp/", tmp)
	}
}

func layoutDir(img testImage) string {
	return strings.TrimSuffix(strings.TrimPrefix(img.Layout, "oci:"), ":v1")
}
