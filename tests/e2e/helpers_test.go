//go:build e2e

package e2e

import (
	"github.com/strata-runtime/strata/tests/cgroupfs"

	"archive/tar"
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"
	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sys/unix"

	"github.com/strata-runtime/strata/image/imagetest"
	"github.com/strata-runtime/strata/tests/rootfs"
	tu "github.com/strata-runtime/strata/tests/testutil"
)

func TestMain(m *testing.M) { tu.Main(m) }

// imageName is the test image's name in every engine.
const imageName = "strata-e2e:latest"

// workDir is a temporary directory for one engine, traversable by others (a
// container's processes may need to reach below it), removed at the end.
// It lives under /tmp and not t.TempDir: docker's socket path must stay short.
func workDir(t *testing.T, engine string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "strata-e2e-"+engine+"-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		unmountUnder(t, dir)
		if err := os.RemoveAll(dir); err != nil {
			t.Errorf("removing %s: %v", dir, err)
		}
	})
	return dir
}

// busyboxLayer is an uncompressed layer tar of the busybox test rootfs.
func busyboxLayer(t *testing.T) []byte {
	t.Helper()
	src, err := rootfs.Cached()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := tarDir(&buf, src); err != nil {
		t.Fatalf("busybox layer: %v", err)
	}
	return buf.Bytes()
}

// tarDir writes the tree at src as a tar with stable headers (no user
// names, the test images' fixed time), leaving out the rootfs cache's
// .complete marker.
func tarDir(w io.Writer, src string) error {
	tw := tar.NewWriter(w)
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if rel == "." || rel == ".complete" {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		link := ""
		if info.Mode()&fs.ModeSymlink != 0 {
			if link, err = os.Readlink(p); err != nil {
				return err
			}
		}
		hdr, err := tar.FileInfoHeader(info, link)
		if err != nil {
			return err
		}
		hdr.Name = rel
		if d.IsDir() {
			hdr.Name += "/"
		}
		st := info.Sys().(*syscall.Stat_t)
		hdr.Uid, hdr.Gid, hdr.Uname, hdr.Gname = int(st.Uid), int(st.Gid), "", ""
		hdr.ModTime, hdr.AccessTime, hdr.ChangeTime = imagetest.Epoch, time.Time{}, time.Time{}
		hdr.Format = tar.FormatPAX
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if info.Mode().IsRegular() {
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			_, err = tw.Write(data)
			return err
		}
		return nil
	})
	if err != nil {
		return err
	}
	return tw.Close()
}

var imageConfig = v1.ImageConfig{
	Cmd: []string{"sh"},
	Env: []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
}

// ociArchive writes the test image as an OCI archive (a tar of an OCI image
// layout) named for containerd's `ctr image import`, and returns its path.
func ociArchive(t *testing.T, dir string) string {
	t.Helper()
	layout := filepath.Join(dir, "oci-layout")
	imagetest.WriteLayout(t, layout, "latest", imagetest.Image{Layers: [][]byte{busyboxLayer(t)}, Config: imageConfig})
	// ctr takes the image's name from this annotation.
	idxPath := filepath.Join(layout, "index.json")
	var idx v1.Index
	data, err := os.ReadFile(idxPath)
	if err == nil {
		err = json.Unmarshal(data, &idx)
	}
	if err != nil {
		t.Fatal(err)
	}
	idx.Manifests[0].Annotations["io.containerd.image.name"] = "docker.io/library/" + imageName
	if data, err = json.Marshal(idx); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(idxPath, data, 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "image-oci.tar")
	writeTarOfDir(t, layout, out)
	return out
}

func writeTarOfDir(t *testing.T, src, out string) {
	t.Helper()
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := tarDir(f, src); err != nil {
		t.Fatalf("writing %s: %v", out, err)
	}
}

// dockerArchive writes the test image in the format `docker save` writes
// (manifest.json, the config, one uncompressed layer.tar per layer), which
// `docker load` and `podman load` read, and returns its path.
func dockerArchive(t *testing.T, dir string) string {
	t.Helper()
	layer := busyboxLayer(t)
	layerID := digest.FromBytes(layer)
	created := imagetest.Epoch
	cfg := v1.Image{Created: &created, Platform: v1.Platform{OS: "linux", Architecture: "amd64"}, Config: imageConfig,
		RootFS: v1.RootFS{Type: "layers", DiffIDs: []digest.Digest{layerID}}}
	cfgData, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfgName := digest.FromBytes(cfgData).Encoded() + ".json"
	layerName := layerID.Encoded() + "/layer.tar"
	manifest, _ := json.Marshal([]map[string]any{{"Config": cfgName, "RepoTags": []string{imageName}, "Layers": []string{layerName}}})
	out := filepath.Join(dir, "image-docker.tar")
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	for _, e := range []struct {
		name string
		data []byte
	}{{layerID.Encoded() + "/", nil}, {layerName, layer}, {cfgName, cfgData}, {"manifest.json", manifest}} {
		hdr := &tar.Header{Name: e.name, Mode: 0o644, Size: int64(len(e.data)), ModTime: imagetest.Epoch, Typeflag: tar.TypeReg}
		if strings.HasSuffix(e.name, "/") {
			hdr.Typeflag, hdr.Mode = tar.TypeDir, 0o755
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(e.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return out
}

// run runs a client command with env added, its output captured (see
// tu.Exec: files, not pipes, so detached containers cannot hang it).
func run(t *testing.T, env []string, name string, args ...string) tu.Result {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	return tu.Exec(t, cmd)
}

// must fails the test unless r succeeded, and returns its stdout.
func must(t *testing.T, r tu.Result) string {
	t.Helper()
	if r.Code != 0 {
		t.Fatalf("unexpected failure: %s", r)
	}
	return r.Stdout
}

// daemon is an engine's daemon process, its output in a log file.
type daemon struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
}

// startDaemon starts name args with its output in logPath, and waits until
// ready reports nil. A daemon that exits or is not ready within a minute fails
// the test with its log. The caller registers the stop.
func startDaemon(t *testing.T, logPath string, env []string, ready func() error, name string, args ...string) *daemon {
	t.Helper()
	logF, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logF.Close()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logF, logF
	// Its own process group: a stray signal to the test does not reach it.
	// If the test binary dies without its cleanups (killed by go test's
	// timeout), the daemon is told to stop all the same.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	d := &daemon{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() { cmd.Wait(); close(d.done) }()
	deadline := time.Now().Add(time.Minute)
	for {
		err := ready()
		if err == nil {
			return d
		}
		select {
		case <-d.done:
			t.Fatalf("%s exited before it was ready (%v): %v\n--- %s ---\n%s", name, cmd.ProcessState, err, logPath, readLog(logPath))
		default:
		}
		if time.Now().After(deadline) {
			d.stop(t)
			t.Fatalf("%s not ready after a minute: %v\n--- %s ---\n%s", name, err, logPath, readLog(logPath))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// stop sends SIGTERM, and SIGKILL after 20 s.
func (d *daemon) stop(t *testing.T) {
	select {
	case <-d.done:
		return
	default:
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
	case <-time.After(20 * time.Second):
		t.Errorf("%s ignored SIGTERM for 20 s; killing it", d.name)
		d.cmd.Process.Kill()
		<-d.done
	}
}

func readLog(p string) string {
	data, err := os.ReadFile(p)
	if err != nil {
		return err.Error()
	}
	if len(data) > 20000 {
		data = append([]byte("[...]\n"), data[len(data)-20000:]...)
	}
	return string(data)
}

// dumpOnFailure prints the log files at the end of a failed test.
func dumpOnFailure(t *testing.T, logs ...string) {
	t.Cleanup(func() {
		if t.Failed() {
			for _, l := range logs {
				t.Logf("--- %s ---\n%s", l, readLog(l))
			}
		}
	})
}

// unmountUnder detaches every mount at or below dir, deepest first.
func unmountUnder(t *testing.T, dir string) {
	for range 5 {
		mounts := mountsUnder(dir)
		if len(mounts) == 0 {
			return
		}
		for _, m := range mounts {
			if err := unix.Unmount(m, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
				t.Errorf("unmount %s: %v", m, err)
			}
		}
	}
	if left := mountsUnder(dir); len(left) > 0 {
		t.Errorf("mounts left under %s: %v", dir, left)
	}
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

func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
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

// cgroupsBelow lists the cgroup directories strictly below parent (an
// absolute cgroup path such as /strata-e2e-ctr-123) in every hierarchy.
func cgroupsBelow(parent string) []string {
	var found []string
	for _, h := range cgroupfs.Hierarchies() {
		top := filepath.Join(h, parent)
		filepath.WalkDir(top, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() && p != top {
				found = append(found, p)
			}
			return nil
		})
	}
	return found
}

// removeCgroupTree kills what runs in the cgroup parent and everything below
// it, then removes the directories, children first. They are the test's.
func removeCgroupTree(t *testing.T, parent string) {
	for _, h := range cgroupfs.Hierarchies() {
		top := filepath.Join(h, parent)
		var tree []string
		filepath.WalkDir(top, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				tree = append(tree, p)
			}
			return nil
		})
		for i := len(tree) - 1; i >= 0; i-- {
			var err error
			for range 50 {
				if err = syscall.Rmdir(tree[i]); err == nil || errors.Is(err, os.ErrNotExist) {
					err = nil
					break
				}
				data, _ := os.ReadFile(filepath.Join(tree[i], "cgroup.procs"))
				for _, f := range strings.Fields(string(data)) {
					if pid, e := strconv.Atoi(f); e == nil {
						syscall.Kill(pid, syscall.SIGKILL)
					}
				}
				time.Sleep(100 * time.Millisecond)
			}
			if err != nil {
				t.Errorf("removing cgroup %s: %v", tree[i], err)
			}
		}
	}
}

// processesMentioning lists live processes (other than this one) whose
// command line mentions s: an engine's daemons and shims name their
// directories there.
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

// killProcessesMentioning SIGKILLs the processes processesMentioning finds
// and reports them as leftovers.
func killProcessesMentioning(t *testing.T, s string) {
	for _, p := range processesMentioning(s) {
		t.Errorf("process left running, killed: %s", p)
		if pid, err := strconv.Atoi(strings.Fields(p)[0]); err == nil {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// newEntries returns the entries of dir that are not in before.
func dirEntries(dir string) map[string]bool {
	entries, _ := os.ReadDir(dir)
	set := map[string]bool{}
	for _, e := range entries {
		set[e.Name()] = true
	}
	return set
}

// ptySession runs a client command on a new pseudo-terminal, as a person at a
// terminal would, and collects everything it prints.
type ptySession struct {
	t    *testing.T
	cmd  *exec.Cmd
	tty  *os.File
	mu   sync.Mutex
	out  bytes.Buffer
	done chan error
}

// checkShell drives a shell started on the test's pty (by `what`): the
// container's own /dev/pts/0, sized 40x100 as the test's terminal is, and
// the shell's exit status as the client's.
func (s *ptySession) checkShell(t *testing.T, what string) {
	t.Helper()
	s.expect("# ")
	s.send("tty; stty size; echo done-$((6*7))\r")
	s.expect("done-42")
	out := s.output()
	if !strings.Contains(out, "/dev/pts/0") || !strings.Contains(out, "40 100") {
		t.Errorf("%s: want the container's terminal /dev/pts/0 sized 40x100; terminal shows:\n%q", what, out)
	}
	s.send("exit 5\r")
	if code := s.wait(); code != 5 {
		t.Errorf("%s exited %d, want the shell's 5; terminal:\n%q", what, code, s.output())
	}
}

func startPty(t *testing.T, env []string, name string, args ...string) *ptySession {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	tty, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 40, Cols: 100})
	if err != nil {
		t.Fatalf("starting %s on a pty: %v", name, err)
	}
	s := &ptySession{t: t, cmd: cmd, tty: tty, done: make(chan error, 1)}
	go func() {
		r := bufio.NewReader(tty)
		buf := make([]byte, 4096)
		for {
			n, err := r.Read(buf)
			s.mu.Lock()
			s.out.Write(buf[:n])
			s.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	go func() { s.done <- cmd.Wait() }()
	t.Cleanup(func() {
		select {
		case <-s.done:
		default:
			cmd.Process.Kill()
		}
		tty.Close()
	})
	return s
}

func (s *ptySession) output() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.out.String()
}

// expect waits until the output holds want, failing the test after 30 s.
func (s *ptySession) expect(want string) {
	s.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(s.output(), want) {
		if time.Now().After(deadline) {
			s.t.Fatalf("%s: no %q on the terminal after 30 s; it shows:\n%q", strings.Join(s.cmd.Args, " "), want, s.output())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (s *ptySession) send(text string) {
	s.t.Helper()
	if _, err := io.WriteString(s.tty, text); err != nil {
		s.t.Fatalf("writing to the pty: %v", err)
	}
}

// wait waits for the client to exit and returns its exit status.
func (s *ptySession) wait() int {
	s.t.Helper()
	select {
	case err := <-s.done:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		}
		if err != nil {
			s.t.Fatalf("%s: %v", strings.Join(s.cmd.Args, " "), err)
		}
		return 0
	case <-time.After(30 * time.Second):
		s.t.Fatalf("%s did not exit within 30 s; terminal:\n%q", strings.Join(s.cmd.Args, " "), s.output())
	}
	return -1
}

// runtimeState runs `RUNTIME --root root state id` and returns the status it
// reports, or "" with the error text if it knows no such container.
func runtimeState(t *testing.T, root, id string) (string, string) {
	t.Helper()
	r := run(t, nil, tu.RuntimePath(), "--root", root, "state", id)
	if r.Code != 0 {
		return "", r.Stderr
	}
	var st struct {
		Status string `json:"status"`
	}
	if err := json.Unmarshal([]byte(r.Stdout), &st); err != nil {
		t.Fatalf("state output is not JSON: %v\n%s", err, r.Stdout)
	}
	return st.Status, ""
}

// runtimeList returns the IDs `RUNTIME --root root list -q` prints.
func runtimeList(t *testing.T, root string) []string {
	t.Helper()
	if _, err := os.Stat(root); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	r := run(t, nil, tu.RuntimePath(), "--root", root, "list", "-q")
	if r.Code != 0 {
		t.Fatalf("list: %s", r)
	}
	return strings.Fields(r.Stdout)
}

// machinePath is one of the machine's default engine paths an engine must
// not create when it has private directories. A few are created whatever an
// engine's flags (see /work/shared/HARNESS-NOTES.md): allow lists what such a
// path may then hold (patterns of paths relative to it, as filepath.Match
// takes them; nil: it must not appear at all).
type machinePath struct {
	path  string
	allow []string
}

// watchMachinePaths fails the test if an engine creates one of paths that
// did not exist before, or puts more in it than its allow list; one that
// holds only what its list allows is removed at the end: it is the test's
// doing. Register it before the engine
// starts, so that it runs after the engine's stop.
func watchMachinePaths(t *testing.T, paths ...machinePath) {
	t.Helper()
	existed := map[string]bool{}
	had := map[string]map[string]bool{} // what an existing path held
	for _, p := range paths {
		_, err := os.Lstat(p.path)
		existed[p.path] = err == nil
		if existed[p.path] {
			had[p.path] = entriesBelow(p.path)
		}
	}
	t.Cleanup(func() {
		for _, p := range paths {
			if _, err := os.Lstat(p.path); err != nil {
				continue
			}
			allowed := func(rel string) bool {
				if rel == "." {
					return p.allow != nil
				}
				for _, a := range p.allow {
					if ok, _ := filepath.Match(a, rel); ok {
						return true
					}
				}
				return false
			}
			if existed[p.path] {
				// The machine's own: only what the test added and
				// the allow list names goes, deepest first.
				var added []string
				for rel := range entriesBelow(p.path) {
					if !had[p.path][rel] && allowed(rel) {
						added = append(added, rel)
					}
				}
				sort.Sort(sort.Reverse(sort.StringSlice(added)))
				for _, rel := range added {
					if err := os.Remove(filepath.Join(p.path, rel)); err != nil {
						t.Errorf("removing what the test added to %s: %v", p.path, err)
					}
				}
				continue
			}
			var extra []string
			filepath.WalkDir(p.path, func(q string, _ fs.DirEntry, _ error) error {
				if rel, _ := filepath.Rel(p.path, q); !allowed(rel) {
					extra = append(extra, q)
				}
				return nil
			})
			if len(extra) > 0 {
				// Not removed: something else may have written there meanwhile.
				t.Errorf("the engine wrote to the machine's default %s (left in place): %v", p.path, extra)
				continue
			}
			t.Logf("removing %s (holding only %v), which the engine makes whatever its directories", p.path, p.allow)
			if err := os.RemoveAll(p.path); err != nil {
				t.Errorf("removing %s: %v", p.path, err)
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
