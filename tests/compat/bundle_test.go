package compat

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	tu "github.com/strata-runtime/strata/tests/testutil"
)

// bundle makes $TMP/bundle-ID: a private rootfs (the busybox one, with
// the probe) and testutil's base spec for id (absolute cgroupsPath
// below testutil.CgroupParent), changed by mutate in order.
func (s *session) bundle(id string, mutate ...func(*specs.Spec)) string {
	s.t.Helper()
	dir := filepath.Join(s.dir, "bundle-"+id)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		s.t.Fatal(err)
	}
	// Hard links (-l): hundreds of bundles cost directories, not copies of
	// the binaries. The containers write only to their own new
	// directories (/tmp), never to a linked file. -a keeps the symlinks,
	// modes and owners.
	if out, err := exec.Command("cp", "-al", baseRootfs, filepath.Join(dir, "rootfs")).CombinedOutput(); err != nil {
		s.t.Fatalf("linking the rootfs: %v: %s", err, out)
	}
	spec := tu.BaseSpec(id)
	for _, m := range mutate {
		m(spec)
	}
	writeSpec(s, dir, spec)
	return dir
}

func writeSpec(s *session, dir string, spec *specs.Spec) {
	s.t.Helper()
	data, err := json.MarshalIndent(spec, "", "\t")
	if err != nil {
		s.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), data, 0o644); err != nil {
		s.t.Fatal(err)
	}
}

// args sets the container's process.
func args(a ...string) func(*specs.Spec) {
	return func(s *specs.Spec) { s.Process.Args = a }
}

// sh makes the container's process `sh -c script`.
func sh(script string) func(*specs.Spec) { return args("sh", "-c", script) }

// container makes a new container in state: "created", "running",
// "paused" or "stopped" (its process sleeps, or for stopped is `true`,
// unless mutate says otherwise), or only its bundle ("bundle"). Each step
// is a compared command line.
func (s *session) container(state string, mutate ...func(*specs.Spec)) (id, bundle string) {
	s.t.Helper()
	id = s.newID()
	process := args("sleep", "1000")
	if state == "stopped" {
		process = args("true")
	}
	bundle = s.bundle(id, append([]func(*specs.Spec){process}, mutate...)...)
	if state == "bundle" {
		return id, bundle
	}
	s.runx(expect{check: succeeds}, "create", "--bundle", bundle, id)
	switch state {
	case "created":
	case "running", "paused", "stopped":
		s.runx(expect{check: succeeds}, "start", id)
		if state == "paused" {
			s.runx(expect{check: succeeds}, "pause", id)
		}
		if state == "stopped" {
			s.waitStatus(id, "stopped")
		}
	default:
		s.t.Fatalf("no such container state %q", state)
	}
	return id, bundle
}

// waitStatus polls state (not compared) until the container has status,
// then records the status it reached as an observation.
func (s *session) waitStatus(id, status string) {
	s.t.Helper()
	got := ""
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		var st struct{ Status string }
		if json.Unmarshal([]byte(s.raw("state", id).stdout), &st) == nil {
			got = st.Status
		}
		if got == status {
			break
		}
	}
	s.note(fmt.Sprintf("status of %s after waiting for %q", s.normalise(id), status), got)
}

// state runs `state ID` and compares the documents: shape, and the values
// that must be equal.
func (s *session) state(id string) containerState {
	s.t.Helper()
	r := s.runx(stateExpect, "state", id)
	var st containerState
	json.Unmarshal([]byte(r.stdout), &st)
	return st
}

type containerState struct {
	ID, Status, Bundle string
	Pid                int
}

var stateExpect = expect{
	out:   asJSON(shape{equal: []string{".id", ".status", ".bundle", ".rootfs", ".owner", ".annotations"}}),
	check: validState,
}

var (
	ociVersion = regexp.MustCompile(`^1\.\d+\.\d+(-[a-z0-9.]+)?$`)
	statuses   = map[string]bool{"creating": true, "created": true, "running": true, "paused": true, "stopped": true}
)

// validState checks a state document for what the runtime-spec requires of
// its values: an ociVersion, a known status, a pid of a living process
// unless stopped, an RFC 3339 creation time. A state that fails (the
// container is gone) must say why.
func validState(r result) error {
	if r.code != 0 {
		return fails(r)
	}
	var st struct {
		OCIVersion, ID, Status, Bundle, Created string
		Pid                                     int
	}
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil {
		return err
	}
	switch {
	case !ociVersion.MatchString(st.OCIVersion):
		return fmt.Errorf("ociVersion %q", st.OCIVersion)
	case !statuses[st.Status]:
		return fmt.Errorf("status %q", st.Status)
	case st.Status != "stopped" && st.Pid <= 0:
		return fmt.Errorf("pid %d while %s", st.Pid, st.Status)
	case !filepath.IsAbs(st.Bundle):
		return fmt.Errorf("bundle %q is not absolute", st.Bundle)
	}
	if _, err := time.Parse(time.RFC3339Nano, st.Created); err != nil {
		return fmt.Errorf("created: %v", err)
	}
	return nil
}

func succeeds(r result) error {
	if r.code != 0 {
		return fmt.Errorf("want success: %s", r)
	}
	return nil
}

func fails(r result) error {
	if r.code == 0 {
		return fmt.Errorf("want failure: %s", r)
	}
	if r.stderr == "" {
		return fmt.Errorf("failed without saying why: %s", r)
	}
	return nil
}

// exitsWith checks a run's or an exec's exit status.
func exitsWith(code int) func(result) error {
	return func(r result) error {
		if r.code != code {
			return fmt.Errorf("exit %d, want %d: %s", r.code, code, r)
		}
		return nil
	}
}

// stdoutIs checks the output of a container's process.
func stdoutIs(want string) func(result) error {
	return func(r result) error {
		if r.stdout != want {
			return fmt.Errorf("stdout %q, want %q", r.stdout, want)
		}
		return nil
	}
}

// both combines checks.
func both(checks ...func(result) error) func(result) error {
	return func(r result) error {
		for _, c := range checks {
			if err := c(r); err != nil {
				return err
			}
		}
		return nil
	}
}

// pidFile describes a pid file for comparison: missing, or whether it
// holds the container's pid, with or without a newline.
func pidFile(path string, pid int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return "missing"
	}
	text := string(data)
	n, err := strconv.Atoi(strings.TrimSpace(text))
	switch {
	case err != nil:
		return fmt.Sprintf("not a number: %q", text)
	case pid != 0 && n != pid:
		return fmt.Sprintf("pid %d, not the container's %d", n, pid)
	case strings.HasSuffix(text, "\n"):
		return "the pid, then a newline"
	}
	return "the pid, no newline"
}
