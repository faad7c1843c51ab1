//go:build cri

package cri

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// workDir is the test's directory under /tmp (short: socket paths live in
// it), traversable by the containers' users, removed at the end with
// everything mounted below it; processes still naming it are killed first
// and fail the test.
func workDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "strata-cri-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, p := range processesMentioning(dir) {
			t.Errorf("process left running, killed: %s", p)
			if pid, err := strconv.Atoi(strings.Fields(p)[0]); err == nil {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		if left := mountsUnder(dir); len(left) > 0 {
			t.Errorf("mounts left under %s: %v", dir, left)
		}
		for _, m := range mountsUnder(dir) {
			unix.Unmount(m, unix.MNT_DETACH)
		}
		if err := os.RemoveAll(dir); err != nil {
			t.Errorf("removing %s: %v", dir, err)
		}
	})
	return dir
}

// mountsUnder lists the mount points at or below dir, deepest first.
func mountsUnder(dir string) []string {
	data, _ := os.ReadFile("/proc/self/mountinfo")
	var found []string
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) < 5 {
			continue
		}
		mp := unescapeMount(f[4])
		if mp == dir || strings.HasPrefix(mp, dir+"/") {
			found = append(found, mp)
		}
	}
	sort.Slice(found, func(i, j int) bool { return len(found[i]) > len(found[j]) })
	return found
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// processesMentioning lists live processes (other than this one) whose
// command line mentions s: containerd and its shims name the test's
// directory there.
func processesMentioning(s string) []string {
	entries, _ := os.ReadDir("/proc")
	var found []string
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		cmdline, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if bytes.Contains(cmdline, []byte(s)) {
			found = append(found, fmt.Sprintf("%d %s", pid, bytes.ReplaceAll(bytes.TrimSpace(cmdline), []byte{0}, []byte{' '})))
		}
	}
	return found
}

// machinePaths are the machine's paths containerd 1.6's CRI writes to
// whatever its configuration, with what it may leave there once its pods
// are gone (patterns relative to the path; see docs/kubernetes.md):
// /run/containerd/s holds the shims' sockets; libcni caches each pod's
// network result under /var/lib/cni/results while the pod exists.
var machinePaths = []struct {
	path  string
	allow []string
}{
	{"/run/containerd", []string{"s"}},
	{"/var/lib/cni", []string{"results"}},
	{"/run/netns", nil},
	{"/var/lib/containerd", nil},
	{"/opt/containerd", nil},
	{"/opt/cni", nil},
}

// watchMachinePaths fails the test if containerd created one of
// machinePaths that did not exist before and put more in it than it may,
// or added to one that did exist; what it may leave is removed at the end.
// Registered before the daemon starts, it runs after the daemon's stop.
func watchMachinePaths(t *testing.T) {
	t.Helper()
	had := map[string]map[string]bool{}
	for _, p := range machinePaths {
		if _, err := os.Lstat(p.path); err == nil {
			had[p.path] = entriesBelow(p.path)
		}
	}
	t.Cleanup(func() {
		for _, p := range machinePaths {
			if _, err := os.Lstat(p.path); err != nil {
				continue
			}
			allowed := func(rel string) bool {
				for _, a := range p.allow {
					if ok, _ := filepath.Match(a, rel); ok {
						return true
					}
				}
				return false
			}
			var added, extra []string
			for rel := range entriesBelow(p.path) {
				switch {
				case had[p.path] != nil && had[p.path][rel]:
				case allowed(rel):
					added = append(added, rel)
				default:
					extra = append(extra, filepath.Join(p.path, rel))
				}
			}
			if len(extra) > 0 {
				// Left in place: something else may have written there.
				t.Errorf("containerd left in the machine's %s: %v", p.path, extra)
				continue
			}
			sort.Sort(sort.Reverse(sort.StringSlice(added))) // children first
			for _, rel := range added {
				if err := os.Remove(filepath.Join(p.path, rel)); err != nil && !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("removing what containerd added to %s: %v", p.path, err)
				}
			}
			if had[p.path] == nil {
				if err := os.Remove(p.path); err != nil {
					t.Errorf("removing %s, which containerd made: %v", p.path, err)
				}
			}
		}
	})
}

// entriesBelow is every path below dir, relative to it.
func entriesBelow(dir string) map[string]bool {
	m := map[string]bool{}
	filepath.WalkDir(dir, func(q string, _ fs.DirEntry, _ error) error {
		if rel, _ := filepath.Rel(dir, q); rel != "." {
			m[rel] = true
		}
		return nil
	})
	return m
}
