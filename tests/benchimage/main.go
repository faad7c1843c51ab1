// Command benchimage measures strata's image side against the tools users
// compare it with, and prints a markdown table; `make bench-image` runs it
// (not in CI: too noisy to gate on).
//
//   - pull: `strata bundle create docker://...` into an empty store against
//     `skopeo copy docker://... oci:DIR` followed by `umoci unpack`, of a
//     5-layer image served by a docker-registry the bench starts on
//     127.0.0.1;
//   - build: `strata build` against `buildah bud --layers` of one
//     Containerfile (RUN, COPY, ENV, WORKDIR, USER, CMD, a file removed by
//     RUN), a first build into empty storage and a rebuild with nothing
//     changed, whose digest must be the first build's;
//   - commit: `strata bundle commit` of a running strata container against
//     `podman commit` of a running podman container, after the same 85 MB
//     change in both.
//
// As in tests/bench, every tool of an item is measured within each
// repetition, in an order that rotates from one repetition to the next, and
// each cell is the median and spread (min-max) over the repetitions.
// Everything the bench makes lives in one temp dir, and is removed, with the
// registry, the containers, their cgroups and mounts, on return and on
// SIGINT/SIGTERM alike.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/strata-runtime/strata/tests/registrytest"
)

func main() {
	var (
		strata     = flag.String("strata", "./strata", "strata binary")
		runtime    = flag.String("runtime", "/usr/sbin/runc", "the OCI runtime podman runs its container with")
		reps       = flag.Int("reps", 3, "repetitions of each item")
		out        = flag.String("out", "", "also write the report into this markdown file, replacing its section \""+sectionTitle+"\" (or appending one)")
		dropCaches = flag.Bool("drop-caches", false, "drop the page cache (vm.drop_caches=3) before each measured command, not only sync: every tool then reads its binary, the registry its blobs and commit its upper directory from disk; slows everything else on the machine")
	)
	flag.Parse()
	if os.Geteuid() != 0 {
		fatal(fmt.Errorf("bench-image needs root (overlay mounts, containers, podman's storage)"))
	}
	if *reps < 1 {
		fatal(fmt.Errorf("-reps %d: expected at least 1", *reps))
	}
	tools, err := findTools(*strata, *runtime)
	if err != nil {
		fatal(err)
	}
	b, err := newBench(tools, *dropCaches)
	if err != nil {
		fatal(err)
	}
	// Cleanup runs on return, on a fatal error and on SIGINT/SIGTERM alike.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sig
		fmt.Fprintln(os.Stderr, "bench-image: interrupted, cleaning up")
		stop()
		b.cleanup()
		os.Exit(130)
	}()
	defer b.cleanup()

	start := time.Now()
	load := loadAverage()
	items, err := b.prepare()
	if err != nil {
		b.fail(err)
	}
	res := measureAll(items, *reps)
	if stopping.Err() != nil {
		select {} // the signal's goroutine cleans up and exits
	}
	report := render(b, items, res, *reps, load, loadAverage(), time.Since(start))
	fmt.Print(report)
	if failed(res) {
		b.fail(fmt.Errorf("a measurement failed (the n/a cells above say why); no report file written"))
	}
	if *out != "" {
		if err := writeSection(*out, report); err != nil {
			b.fail(err)
		}
	}
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "bench-image:", err)
	os.Exit(1)
}

// fail cleans up before exiting: os.Exit skips deferred calls.
func (b *bench) fail(err error) {
	b.cleanup()
	fatal(err)
}

// tools are the absolute paths of every program the bench runs, with the
// first line of their version output for the report.
type tools struct {
	strata, runtime, registry, skopeo, umoci, podman, buildah string
	versions                                                  map[string]string
}

// findTools resolves every program up front, so that a missing one fails the
// bench before anything is made.
func findTools(strata, runtime string) (*tools, error) {
	t := &tools{versions: map[string]string{}}
	for _, f := range []struct {
		dst         *string
		name        string
		versionArgs []string
	}{
		{&t.strata, strata, []string{"--version"}},
		{&t.runtime, runtime, []string{"--version"}},
		{&t.registry, registrytest.Binary, []string{"--version"}},
		{&t.skopeo, "skopeo", []string{"--version"}},
		{&t.umoci, "umoci", []string{"--version"}},
		{&t.podman, "podman", []string{"--version"}},
		{&t.buildah, "buildah", []string{"--version"}},
	} {
		p, err := exec.LookPath(f.name)
		if err == nil {
			p, err = filepath.Abs(p)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w (Debian: apt-get install docker-registry skopeo umoci podman buildah runc)", f.name, err)
		}
		*f.dst = p
		v, err := exec.Command(p, f.versionArgs...).Output()
		if err != nil {
			return nil, fmt.Errorf("%s %v: %w", p, f.versionArgs, err)
		}
		t.versions[p] = firstLine(string(v))
	}
	return t, nil
}
