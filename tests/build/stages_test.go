package build_test

import (
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/strata-runtime/strata/image/imagetest"
	tu "github.com/strata-runtime/strata/tests/testutil"
)

// TestMultiStageToDockerArchive builds a scratch image from an earlier
// stage's files (COPY --from by name and by index), a gzip tar ADD
// extracts, build arguments in FROM and RUN, SHELL, ENTRYPOINT, written as
// a docker-archive; skopeo and umoci read it back, and strata runs it.
// One ADD names two archives, gzip and plain: both are extracted. The
// COPYs run under a USER no /etc/passwd names yet, which only RUN needs.
func TestMultiStageToDockerArchive(t *testing.T) {
	work := workDir(t)
	ctx := filepath.Join(work, "context")
	var tgz bytes.Buffer
	zw := gzip.NewWriter(&tgz)
	zw.Write(imagetest.Tar(t, imagetest.Entry{Name: "t/", Type: '5'}, imagetest.Entry{Name: "t/f", Body: "from the tar\n"}))
	zw.Close()
	writeFiles(t, ctx, map[string]string{
		"Containerfile": `ARG BASE
FROM $BASE AS first
ARG MSG=default
SHELL ["/bin/sh", "-c"]
RUN echo "$MSG" > /msg && mkdir /out && echo one > /out/1 && ln -s 1 /out/link
FROM scratch
USER nobody
COPY --from=first /bin/busybox /bin/
COPY --from=first /out /data
COPY --from=0 /msg /
ADD files.tar.gz more.tar /unpacked/
ADD plain.txt /copied/
USER 0
ENTRYPOINT ["/bin/busybox"]
CMD ["cat", "/msg"]
`,
		"files.tar.gz": tgz.String(),
		"more.tar":     string(imagetest.Tar(t, imagetest.Entry{Name: "m", Body: "plain tar\n"})),
		"plain.txt":    "kept as a file\n",
	}, nil)
	archive := filepath.Join(work, "image.tar")
	store := filepath.Join(work, "store")
	mustStrata(t, work, "build", "--store", store, "--cgroup-parent", cgroupParent(t),
		"--build-arg", "BASE=oci:"+baseImage(t)+":base", "--build-arg", "MSG=from the build arg",
		"-t", "docker-archive:"+archive+":example.com/built:v1", ctx)

	cfg := imageConfig(t, "docker-archive:"+archive)
	if got := strings.Join(cfg.Config.Entrypoint, " ") + " | " + strings.Join(cfg.Config.Cmd, " "); got != "/bin/busybox | cat /msg" {
		t.Errorf("Entrypoint | Cmd: %s", got)
	}
	if n := len(cfg.RootFS.DiffIDs); n != 5 {
		t.Errorf("%d layers, want 5 (three COPY, two ADD)", n)
	}
	layout := filepath.Join(work, "layout")
	run(t, nil, "skopeo", "copy", "docker-archive:"+archive, "oci:"+layout+":v1")
	got := tree(t, unpack(t, layout+":v1"))
	for p, want := range map[string]string{
		"msg":              `content="from the build arg\n"`,
		"data/1":           `content="one\n"`,
		"data/link":        "-> 1",
		"unpacked/t/f":     `content="from the tar\n"`,
		"copied/plain.txt": `content="kept as a file\n"`,
		"bin/busybox":      "mode=100755 uid=0 gid=0",
	} {
		if !strings.Contains(got[p], want) {
			t.Errorf("%s: %q, want %s", p, got[p], want)
		}
	}
	if _, ok := got["copied/plain.txt"]; !ok || got["unpacked/files.tar.gz"] != "" {
		t.Errorf("ADD of a plain file must copy it, of a tar extract it: %v", got)
	}

	b := filepath.Join(work, "bundle")
	mustStrata(t, work, "bundle", "create", b, "--store", store, "--image", "docker-archive:"+archive)
	t.Cleanup(func() { strataIn(work, "bundle", "rm", "--force", b) })
	r := tu.BundleContainer(t, b).Run()
	if r.Code != 0 || r.Stdout != "from the build arg\n" {
		t.Fatalf("strata run of the built image: %s", r)
	}
	if _, err := os.Stat(archive); err != nil {
		t.Fatal(err)
	}
}
