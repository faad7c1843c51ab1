package libcontainer

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func TestValidateID(t *testing.T) {
	for _, id := range []string{"a", "abc-123", "A_b+c.d", strings.Repeat("x", maxIDLen)} {
		if err := ValidateID(id); err != nil {
			t.Errorf("ValidateID(%q) = %v, want nil", id, err)
		}
	}
	for _, id := range []string{"", ".", "..", "../x", "a/b", "a b", "a\x00b", "é", strings.Repeat("x", maxIDLen+1)} {
		err := ValidateID(id)
		if err == nil {
			t.Errorf("ValidateID(%q) = nil, want an error", id)
			continue
		}
		if !strings.HasPrefix(err.Error(), "invalid container ID: ") {
			t.Errorf("ValidateID(%q) = %q, want it to say invalid container ID", id, err)
		}
	}
}

// Of concurrent creates with one ID, exactly one may win.
func TestNewContainerExactlyOneWins(t *testing.T) {
	root := t.TempDir()
	const n = 16
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := newContainer(root, "same")
			if err == nil {
				c.Close()
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	wins := 0
	for err := range errs {
		if err == nil {
			wins++
		} else if err.Error() != "already exists" {
			t.Errorf("unexpected error %q", err)
		}
	}
	if wins != 1 {
		t.Fatalf("%d creates won, want exactly 1", wins)
	}
}

func TestSaveIsAtomicAndReadable(t *testing.T) {
	root := t.TempDir()
	c, err := newContainer(root, "c1")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.State.Bundle = "/b"
	c.State.Ready = true
	if err := c.save(); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(c.dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".state-") {
			t.Errorf("temporary file %s left behind", e.Name())
		}
	}
	p, err := Peek(root, "c1")
	if err != nil {
		t.Fatal(err)
	}
	if p.State.Bundle != "/b" || !p.State.Ready {
		t.Fatalf("read back %+v", p.State)
	}
	// No init pid recorded: the container reads as stopped, not running.
	if st := p.Status(); st != Stopped {
		t.Fatalf("status %s, want stopped", st)
	}
}

// Relock rereads state.json: what another process saved meanwhile replaces
// what this one holds, and its own last save reads back as it was.
func TestRelockRereadsWhatOthersSaved(t *testing.T) {
	root := t.TempDir()
	c, err := newContainer(root, "c1")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.State.Bundle = "/mine"
	if err := c.save(); err != nil {
		t.Fatal(err)
	}
	c.Close()
	if err := c.Relock(); err != nil {
		t.Fatal(err)
	}
	if c.State.Bundle != "/mine" {
		t.Fatalf("after its own save, Relock reads bundle %q", c.State.Bundle)
	}
	c.Close()
	other, err := Peek(root, "c1")
	if err != nil {
		t.Fatal(err)
	}
	other.State.Bundle = "/theirs"
	if err := other.save(); err != nil {
		t.Fatal(err)
	}
	if err := c.Relock(); err != nil {
		t.Fatal(err)
	}
	if c.State.Bundle != "/theirs" {
		t.Fatalf("after another's save, Relock reads bundle %q, want /theirs", c.State.Bundle)
	}
}

func TestPeekUnknownAndCorrupt(t *testing.T) {
	root := t.TempDir()
	if _, err := Peek(root, "nope"); !errors.Is(err, ErrNotExist) || err.Error() != "does not exist" {
		t.Fatalf("Peek of unknown ID: %v", err)
	}
	os.Mkdir(filepath.Join(root, "bad"), 0o700)
	os.WriteFile(filepath.Join(root, "bad", stateFile), []byte("{"), 0o600)
	// A torn state file reads as a stopped container, which delete removes.
	c, err := Peek(root, "bad")
	if err != nil {
		t.Fatalf("Peek of corrupt state: %v", err)
	}
	if st := c.Status(); st != Stopped {
		t.Fatalf("corrupt state reads as %s, want stopped", st)
	}
}

// A recycled pid must not pass for our init: the start time differs.
func TestAliveChecksStartTime(t *testing.T) {
	pid := os.Getpid()
	start, zombie, err := procStartTime(pid)
	if err != nil || zombie {
		t.Fatalf("procStartTime(self) = %d, %v, %v", start, zombie, err)
	}
	if !alive(pid, start) {
		t.Fatal("alive(self, its start time) = false")
	}
	if alive(pid, start+1) {
		t.Fatal("alive(self, another start time) = true: pid reuse would fool status")
	}
	if alive(0, 0) {
		t.Fatal("alive(0) = true")
	}
}

func TestBootstrapMessage(t *testing.T) {
	s := &specs.Spec{Linux: &specs.Linux{
		Namespaces: []specs.LinuxNamespace{
			{Type: specs.MountNamespace, Path: "/proc/1/ns/mnt"},
			{Type: specs.NetworkNamespace, Path: "/var/run/netns/x"},
			{Type: specs.PIDNamespace},
			{Type: specs.UserNamespace},
		},
		TimeOffsets: map[string]specs.LinuxTimeOffset{"monotonic": {Secs: 5}},
	}}
	payload, userns := bootstrapMessage(s)
	if !userns {
		t.Fatal("a new user namespace was not reported")
	}
	recs := strings.Split(strings.TrimSuffix(string(payload), "\x00"), "\x00")
	want := []string{
		"clone=" + itoa(unix.CLONE_NEWPID|unix.CLONE_NEWUSER),
		"join=" + itoa(unix.CLONE_NEWNET) + ":/var/run/netns/x",
		"join=" + itoa(unix.CLONE_NEWNS) + ":/proc/1/ns/mnt",
		"timens=monotonic 5 0\n",
	}
	if strings.Join(recs, "|") != strings.Join(want, "|") {
		t.Fatalf("records %q, want %q", recs, want)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }
