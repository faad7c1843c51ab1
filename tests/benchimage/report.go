package main

import (
	"fmt"
	"os"
	"os/exec"
	goruntime "runtime"
	"strings"
	"time"

	"github.com/strata-runtime/strata/tests/bench/stats"
)

// sectionTitle opens the report, and is how writeSection finds the section
// of an earlier run in docs/benchmarks.md.
const sectionTitle = "## The image side"

const preamble = sectionTitle + `: pull, build and commit against skopeo + umoci, buildah and podman

Written by ` + "`make bench-image`" + ` (tests/benchimage; not run in CI, where
timings are too noisy to gate on, but built and vetted there by ` + "`make lint`" + `).
Run as root; it builds ./strata and needs docker-registry, skopeo, umoci,
buildah, podman and runc (podman's ` + "`--runtime`" + `, ` + "`BENCH_IMAGE_FLAGS='-runtime /usr/bin/crun'`" + `
changes it). Everything it makes lives in one temp dir (the registry's storage,
podman's and buildah's root, runroot and configuration, the bundles, stores,
build context and layouts) and is removed with the registry, the containers,
their cgroups and mounts at the end and on SIGINT.
` + "`make bench-image BENCH_IMAGE_FLAGS='-reps 5'`" + ` changes the repetitions.

- **Pull**: a registry started on a free 127.0.0.1 port serves one image.
  strata pulls it with ` + "`strata bundle create docker://127.0.0.1:PORT/bench/pull:1 B --store S`" + `
  into an empty store; the others with ` + "`skopeo copy docker://… oci:D:1`" + ` into an
  empty layout, then ` + "`umoci unpack --image D:1 B`" + ` (the sum, and each part).
  Every repetition pulls into new directories, removed afterwards.
- **Build**: one Containerfile (below) on one context, built by ` + "`strata build --store S -t oci:D:1 CTX`" + `
  (RUN steps in strata containers, network off) and by
  ` + "`buildah bud --layers --isolation chroot -t IMG CTX`" + ` (overlay storage in a private
  ` + "`--root`" + ` and ` + "`--runroot`" + `; chroot isolation, so buildah starts no OCI runtime and
  makes no cgroup for RUN, which can only favour it). Each repetition
  builds into new, empty storage, then builds again with nothing changed
  into the same storage, and removes it. strata's rebuild must print the
  first build's manifest digest, or the item fails.
- **Commit**: a strata container (` + "`strata bundle create`" + ` of a busybox image, ` + "`strata run -d`" + `)
  and a podman container of the same image (` + "`podman run -d`" + `) both run ` + "`sleep`" + `;
  the same script, run in each with ` + "`exec`" + `, writes about 85 MB into /change
  (24 MB from /dev/urandom, 20 MB of ` + "`seq`" + ` output, 16 MB of log-like text, and
  6,000 text files of 4 KB in 60 directories). Each repetition commits the
  running container to a local image: ` + "`strata bundle commit B --image oci:D:1`" + ` with
  ` + "`--compress gzip`" + ` (strata's default; parallel gzip) and with ` + "`--compress none`" + `, and
  ` + "`podman commit C IMG`" + ` into podman's containers-storage, which writes the layer
  uncompressed (buildah's default for local storage: compressing a layer only
  for the storage to decompress it again is waste; podman commit has no flag
  to change it). Neither pauses the container (podman commit's --pause is
  off by default). Each new image is removed after its repetition.

Every measured command runs after a ` + "`sync`" + ` (untimed), so no tool pays for the
writeback of the one before; the "until on disk" rows add the ` + "`sync`" + ` right after
the command (strata's layer store syncs its layers itself before it renames
them into place, umoci and podman's commit leave that to the kernel). The page
cache is not dropped by default (the machine is shared; ` + "`-drop-caches`" + ` does it
before every command): the registry's blobs, the tools' binaries and the
committed change are in memory for every tool alike after the first
repetition, so the pull is the fetch over loopback, the unpack and the writes,
and the commit is the read of the change, the tar, the compression and the
writes. (skopeo, podman and buildah also update root's blob-info cache in
/var/lib/containers/cache, theirs and not the bench's to remove.)

`

// render writes the report as markdown.
func render(b *bench, items []*item, res []results, reps int, loadBefore, loadAfter string, took time.Duration) string {
	var w strings.Builder
	w.WriteString(preamble)
	kernel, _ := exec.Command("uname", "-r").Output()
	fmt.Fprintf(&w, "Measured %s on %d cores, Linux %s; repetitions: %d, tools interleaved (order rotated each repetition); load average %s at the start, %s at the end (other work shares the machine); took %s.\n\n",
		time.Now().UTC().Format("2006-01-02 15:04 MST"), goruntime.NumCPU(), strings.TrimSpace(string(kernel)), reps, loadBefore, loadAfter, took.Round(time.Second))
	for _, p := range []string{b.strata, b.skopeo, b.umoci, b.buildah, b.podman, b.runtime, b.registry} {
		fmt.Fprintf(&w, "- `%s`: %s\n", p, b.versions[p])
	}
	w.WriteString("\n")
	for _, f := range b.facts {
		fmt.Fprintf(&w, "%s\n", f)
	}
	fmt.Fprintf(&w, "\nEach cell: seconds, median (min–max) over the repetitions; the ratio is of the medians (below 1: strata is faster).\n\n")
	fmt.Fprintf(&w, "| item | strata | other | strata/other |\n|---|---|---|---|\n")
	var notes []string
	for i, it := range items {
		for _, r := range it.rows {
			other := res[i].get(r.other)
			strataCell, ratio := "", ""
			if r.strata.tool != "" {
				s := res[i].get(r.strata)
				strataCell, ratio = s.Cell(), stats.Ratio(s, other)
			}
			fmt.Fprintf(&w, "| %s | %s | %s | %s |\n", r.label, strataCell, other.Cell(), ratio)
		}
		for _, t := range it.tools {
			if s := res[i][t.name]["error"]; s != nil {
				notes = append(notes, fmt.Sprintf("- %s, %s: n/a: %s", it.name, t.name, stats.OneLine(s.Err.Error(), 300)))
			}
		}
	}
	if len(notes) > 0 {
		fmt.Fprintf(&w, "\n%s\n", strings.Join(notes, "\n"))
	}
	byName := map[string]results{}
	for i, it := range items {
		byName[it.name] = res[i]
	}
	fmt.Fprintf(&w, "\nIssue 16's targets, from the medians above:\n\n- %s;\n- %s;\n- %s.\n",
		target("strata's pull of a multi-layer image not slower than `skopeo copy` + `umoci unpack`", byName["pull"], figure{"strata", "cmd"}, figure{"skopeo+umoci", "cmd"}),
		rebuildTarget(byName["build"]),
		target("commit not slower than podman's (gzip against podman's uncompressed layer)", byName["commit"], figure{"strata-gzip", "cmd"}, figure{"podman", "cmd"}))
	return w.String()
}

// target says whether strata's median is at most the other's.
func target(what string, r results, strata, other figure) string {
	s, o := r.get(strata), r.get(other)
	if s.Err != nil || o.Err != nil || len(s.Values) == 0 || len(o.Values) == 0 {
		return what + ": not measured"
	}
	if s.Median() <= o.Median() {
		return fmt.Sprintf("%s: **holds** (%s)", what, stats.Ratio(s, o))
	}
	return fmt.Sprintf("%s: **does not hold** (%s)", what, stats.Ratio(s, o))
}

// rebuildTarget says whether strata's cached rebuild took under a third of
// its first build (the figure), with buildah's fraction beside it.
func rebuildTarget(r results) string {
	const what = "strata's rebuild with nothing changed under a third of its first build"
	first, rebuild := r.get(figure{"strata", "first"}), r.get(figure{"strata", "rebuild"})
	if first.Err != nil || rebuild.Err != nil || len(first.Values) == 0 || len(rebuild.Values) == 0 {
		return what + ": not measured"
	}
	verdict := "**does not hold**"
	if rebuild.Median() < first.Median()/3 {
		verdict = "**holds**"
	}
	others := ""
	if bf, br := r.get(figure{"buildah", "first"}), r.get(figure{"buildah", "rebuild"}); len(bf.Values) > 0 && len(br.Values) > 0 {
		others = fmt.Sprintf("; buildah's: %s", stats.Ratio(br, bf))
	}
	return fmt.Sprintf("%s: %s (%s of it, with the same image digest in every repetition%s)", what, verdict, stats.Ratio(rebuild, first), others)
}

// writeSection puts the report into a markdown file in place of the section
// an earlier run wrote (from its title to the next "## " heading), or at the
// end of the file, keeping everything else.
func writeSection(path, report string) error {
	data, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	doc := string(data)
	start := strings.Index(doc, "\n"+sectionTitle)
	if start < 0 {
		doc = strings.TrimRight(doc, "\n")
		if doc != "" {
			doc += "\n\n"
		}
		return os.WriteFile(path, []byte(doc+report), 0o644)
	}
	start++
	end := len(doc)
	if next := strings.Index(doc[start+len(sectionTitle):], "\n## "); next >= 0 {
		end = start + len(sectionTitle) + next + 1
	}
	rest := doc[end:]
	if rest != "" {
		report += "\n"
	}
	return os.WriteFile(path, []byte(doc[:start]+report+rest), 0o644)
}
