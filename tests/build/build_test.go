package build_test

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/strata-runtime/strata/tests/cgroupfs"
	"github.com/strata-runtime/strata/tests/podmanconf"
	tu "github.com/strata-runtime/strata/tests/testutil"
)

// containerfile is the build every comparison uses: FROM a local image,
// ENV, WORKDIR, COPY (a file, a directory with --chown, a script keeping its
// mode), RUN (a file made, a file of an earlier layer removed, a directory
// owned by another user), and the config instructions; an ENTRYPOINT after
// the CMD keeps it. The command shows what a container of the image sees.
const containerfile = `FROM oci:%s:base
ARG FLAVOUR=plain
ENV APP=/app GREETING="hello world"
WORKDIR $APP
COPY hello.txt old.txt ./
COPY --chown=1000:1000 conf/ conf/
COPY run.sh /usr/local/bin/
RUN echo "$GREETING $FLAVOUR" > made.txt && chmod 604 made.txt && rm old.txt /bin/grep \
    && mkdir -p /var/data && chown 1000:10 /var/data
LABEL org.example.name="strata test" version=1
EXPOSE 8080
VOLUME /var/data
USER alice
CMD ["sh", "-c", "id -u; id -g; id -un; pwd; cat made.txt; ls /app /app/conf; test -e old.txt || echo old.txt removed; test -e /bin/grep || echo grep removed; echo $GREETING; /usr/local/bin/run.sh"]
ENTRYPOINT ["/bin/busybox"]
`

// buildContext writes the Containerfile (FROM the base layout) and the
// files it copies, plus one .dockerignore excludes, into a new directory.
func buildContext(t testing.TB, base string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "context")
	writeFiles(t, dir, map[string]string{
		"Containerfile":   fmt.Sprintf(containerfile, base),
		"hello.txt":       "hello\n",
		"old.txt":         "removed by RUN\n",
		"conf/app.conf":   "key=value\n",
		"conf/secret.key": "excluded by .dockerignore\n",
		"conf/sub/x":      "x\n",
		"run.sh":          "#!/bin/sh\necho run.sh ran\n",
		".dockerignore":   "conf/*.key\n",
	}, map[string]os.FileMode{"run.sh": 0o755, "conf/sub/x": 0o600})
	return dir
}

// TestBuildMatchesBuildah builds the Containerfile with strata and with
// buildah and compares the results as umoci unpacks them and skopeo reads
// their configs.
func TestBuildMatchesBuildah(t *testing.T) {
	work := workDir(t)
	base := baseImage(t)
	ctx := buildContext(t, base)
	out := filepath.Join(work, "out")
	mustStrata(t, work, "build", "--store", filepath.Join(work, "store"), "--cgroup-parent", cgroupParent(t),
		"-t", "oci:"+out+":v1", ctx)

	// buildah with its own storage, chroot isolation (no runtime, no
	// cgroups), a layer per step as strata makes (--layers), pushed to a
	// layout of its own.
	bh := filepath.Join(work, "buildah")
	bhFlags := []string{"--root", filepath.Join(bh, "root"), "--runroot", filepath.Join(bh, "runroot"), "--storage-driver", "vfs"}
	t.Cleanup(func() { run(t, nil, "buildah", append(bhFlags, "rmi", "-a", "-f")...) })
	run(t, nil, "buildah", append(bhFlags, "bud", "--layers", "--isolation", "chroot", "-q", "-f", filepath.Join(ctx, "Containerfile"), "-t", "localhost/strata-test:v1", ctx)...)
	bhOut := filepath.Join(work, "buildah-out")
	run(t, nil, "buildah", append(bhFlags, "push", "-q", "localhost/strata-test:v1", "oci:"+bhOut+":v1")...)

	want, got := tree(t, unpack(t, bhOut+":v1")), tree(t, unpack(t, out+":v1"))
	// What buildah's RUN leaves in the image of its own: empty mount points
	// for the files it binds (/etc/hosts, /etc/hostname, /etc/resolv.conf)
	// and /run. strata's RUN binds none of them.
	for _, p := range []string{"etc/hosts", "etc/hostname", "etc/resolv.conf", "run"} {
		if d, ok := want[p]; ok && (strings.Contains(d, `content=""`) || strings.HasPrefix(d, "mode=40755")) {
			delete(want, p)
		}
	}
	if diffs := diffTrees(want, got); len(diffs) > 0 {
		t.Errorf("strata's image differs from buildah's:\n  %s", strings.Join(diffs, "\n  "))
	}
	for _, p := range []string{"app/old.txt", "bin/grep", "app/conf/secret.key"} {
		if _, ok := got[p]; ok {
			t.Errorf("%s is in strata's image; it was removed by RUN or excluded", p)
		}
	}

	w, g := imageConfig(t, "oci:"+bhOut+":v1"), imageConfig(t, "oci:"+out+":v1")
	delete(w.Config.Labels, "io.buildah.version")
	for _, f := range []struct {
		name      string
		want, got any
	}{
		{"Env", w.Config.Env, g.Config.Env},
		{"Cmd", w.Config.Cmd, g.Config.Cmd},
		{"Entrypoint", w.Config.Entrypoint, g.Config.Entrypoint},
		{"WorkingDir", w.Config.WorkingDir, g.Config.WorkingDir},
		{"User", w.Config.User, g.Config.User},
		{"Labels", w.Config.Labels, g.Config.Labels},
		{"ExposedPorts", slices.Sorted(maps.Keys(w.Config.ExposedPorts)), slices.Sorted(maps.Keys(g.Config.ExposedPorts))},
		{"Volumes", slices.Sorted(maps.Keys(w.Config.Volumes)), slices.Sorted(maps.Keys(g.Config.Volumes))},
		{"Architecture", w.Architecture, g.Architecture},
		{"OS", w.OS, g.OS},
		{"layers", len(w.RootFS.DiffIDs), len(g.RootFS.DiffIDs)},
	} {
		if fmt.Sprint(f.want) != fmt.Sprint(f.got) {
			t.Errorf("config %s: buildah %v, strata %v", f.name, f.want, f.got)
		}
	}
}

// TestPodmanRunsBuild runs the built image under podman (with runc, from
// the oci-archive strata wrote) and under strata (bundle create + run): the
// container sees the same in both.
func TestPodmanRunsBuild(t *testing.T) {
	work := workDir(t)
	ctx := buildContext(t, baseImage(t))
	store := filepath.Join(work, "store")
	archive := filepath.Join(work, "image.tar")
	mustStrata(t, work, "build", "--store", store, "--cgroup-parent", cgroupParent(t), "-t", "oci-archive:"+archive+":v1", ctx)

	b := filepath.Join(work, "bundle")
	mustStrata(t, work, "bundle", "create", b, "--store", store, "--image", "oci-archive:"+archive+":v1")
	t.Cleanup(func() { strataIn(work, "bundle", "rm", "--force", b) })
	r := tu.BundleContainer(t, b).Run()
	if r.Code != 0 {
		t.Fatalf("strata run of the built image: %s", r)
	}
	strataOut := r.Stdout

	podmanOut := podmanRun(t, work, "oci-archive:"+archive+":v1")
	if podmanOut != strataOut {
		t.Fatalf("podman and strata see different containers:\npodman:\n%s\nstrata:\n%s", podmanOut, strataOut)
	}
	for _, want := range []string{"1000\n1000\nalice\n/app\n", "hello world plain", "old.txt removed", "grep removed", "run.sh ran", "app.conf"} {
		if !strings.Contains(strataOut, want) {
			t.Errorf("container output lacks %q:\n%s", want, strataOut)
		}
	}
}

// podmanRun runs ref's default command with podman, with private storage
// and configuration under dir, runc as the runtime (crun refuses this
// machine's hybrid cgroup hierarchy) and the test's own cgroup parent.
func podmanRun(t *testing.T, dir, ref string) string {
	t.Helper()
	pd := shortDir(t)
	env, err := podmanconf.Write(pd)
	if err != nil {
		t.Fatal(err)
	}
	flags := []string{"--root", filepath.Join(pd, "root"), "--runroot", filepath.Join(pd, "runroot"), "--tmpdir", filepath.Join(pd, "tmp"),
		"--runtime", "/usr/sbin/runc", "--cgroup-manager", "cgroupfs", "--events-backend", "file", "--storage-driver", "overlay",
		"--network-config-dir", filepath.Join(pd, "networks"), "--volumepath", filepath.Join(pd, "volumes")}
	parent := cgroupParent(t)
	t.Cleanup(func() {
		run(t, env, "podman", append(flags, "rm", "-af", "-t", "0")...)
		run(t, env, "podman", append(flags, "rmi", "-af")...)
		// conmon's cgroup, which podman never removes.
		for _, h := range cgroupfs.Hierarchies() {
			os.Remove(filepath.Join(h, parent, "conmon"))
		}
	})
	return run(t, env, "podman", append(flags, "run", "--rm", "--network", "none", "--cgroup-parent", parent, ref)...)
}

// TestRebuildFromCache builds twice with nothing changed (the second at
// most a third of the first's time, the same image digest, every step from
// the cache), then changes a COPY'd file: the steps before that COPY come
// from the cache, it and every one after it run again.
func TestRebuildFromCache(t *testing.T) {
	work := workDir(t)
	ctx := buildContext(t, baseImage(t))
	store := filepath.Join(work, "store")
	out := filepath.Join(work, "out")
	build := func(tag string) (result, time.Duration) {
		start := time.Now()
		r := mustStrata(t, work, "build", "--store", store, "--cgroup-parent", cgroupParent(t), "-t", "oci:"+out+":"+tag, ctx)
		return r, time.Since(start)
	}
	first, firstTime := build("first")
	second, secondTime := build("second")
	if firstDigest, secondDigest := manifestDigest(t, out, "first"), manifestDigest(t, out, "second"); firstDigest != secondDigest {
		t.Errorf("rebuild with nothing changed: digest %s, first build %s", secondDigest, firstDigest)
	}
	if strings.TrimSpace(second.stdout) != manifestDigest(t, out, "first") {
		t.Errorf("build printed %q, the layout has %s", second.stdout, manifestDigest(t, out, "first"))
	}
	if secondTime*3 > firstTime {
		t.Errorf("cached rebuild took %v, more than a third of the first build's %v", secondTime, firstTime)
	}
	steps := stepLines(second.stderr)
	for _, s := range steps {
		if !strings.HasSuffix(s, "(cached)") {
			t.Errorf("rebuild ran a step: %s", s)
		}
	}
	if n := len(stepLines(first.stderr)); n != len(steps) || n < 10 {
		t.Errorf("first build had %d steps, the rebuild %d", n, len(steps))
	}
	t.Logf("first build %v, cached rebuild %v", firstTime, secondTime)

	writeFiles(t, ctx, map[string]string{"hello.txt": "changed\n"}, nil)
	third, _ := build("third")
	steps = stepLines(third.stderr)
	changed := slices.IndexFunc(steps, func(s string) bool { return strings.Contains(s, "COPY hello.txt") })
	if changed < 0 {
		t.Fatalf("no COPY hello.txt step in:\n%s", third.stderr)
	}
	for i, s := range steps {
		if cached := strings.HasSuffix(s, "(cached)"); cached != (i < changed) {
			t.Errorf("after changing hello.txt, step %d (%s): cached=%v; want the steps before COPY hello.txt cached, that and the later ones run", i+1, s, cached)
		}
	}
	if manifestDigest(t, out, "third") == manifestDigest(t, out, "first") {
		t.Error("changing a COPY'd file left the image digest as it was")
	}
}

func stepLines(stderr string) []string {
	var out []string
	for _, l := range strings.Split(stderr, "\n") {
		if strings.HasPrefix(l, "STEP ") {
			out = append(out, l)
		}
	}
	return out
}
