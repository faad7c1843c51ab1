// Command bench measures strata against runc and crun on one busybox bundle
// and prints a markdown table; `make bench` runs it (not in CI: too noisy).
//
// Every item is measured for all runtimes within each repetition, in an
// order that rotates from one repetition to the next, so that whatever else
// the machine does hits the three alike. Each item reports the median over
// the repetitions and the spread (min-max), and the ratios strata/runc and
// strata/crun of the medians.
//
// Every container gets its own absolute cgroupsPath /strata-bench/<id>; the
// runner removes those directories in every hierarchy afterwards, and mounts
// the v1 hugetlb hierarchy crun 1.8 needs on a hybrid host for the run only.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/strata-runtime/strata/tests/bench/stats"
)

func main() {
	var (
		strata  = flag.String("strata", "./strata", "strata binary")
		runc    = flag.String("runc", "/usr/sbin/runc", "runc binary")
		crun    = flag.String("crun", "/usr/bin/crun", "crun binary")
		reps    = flag.Int("reps", 5, "repetitions of each item")
		out     = flag.String("out", "", "also write the report (markdown) to this file")
		seconds = flag.Float64("throughput-seconds", 3, "length of each throughput measurement")
		only    = flag.String("only", "", "measure only the items whose names contain this (no -out then: the table would be partial)")
	)
	flag.Parse()
	if os.Geteuid() != 0 {
		fatal(fmt.Errorf("bench needs root"))
	}
	b, err := setup([]string{*strata, *runc, *crun})
	if err != nil {
		fatal(err)
	}
	// Cleanup runs on return and on SIGINT/SIGTERM alike.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sig
		b.cleanup()
		os.Exit(130)
	}()
	defer b.cleanup()

	items := []item{
		{name: "`run` of /bin/true, 30 in a row", unit: "ms/run", lowerIsBetter: true, measure: b.runSeries},
		{name: "CPU time of a `run` of /bin/true (runtime and reaped children)", unit: "ms/run", lowerIsBetter: true, measure: b.runCPU},
		{name: "create + start + wait + delete", unit: "ms/cycle", lowerIsBetter: true, measure: b.cycle},
		{name: "`exec` of /bin/true into a running container", unit: "ms/exec", lowerIsBetter: true, measure: b.exec},
		{name: "init RSS in the created state", unit: "KiB", lowerIsBetter: true, measure: b.createdRSS},
		{name: "peak RSS of the runtime process (`run`)", unit: "KiB", lowerIsBetter: true, measure: b.peakRSS},
		{name: "`run` with a docker-style default seccomp profile", unit: "ms/run", lowerIsBetter: true, measure: b.seccompRun},
		{name: "8 parallel `run` loops", unit: "runs/s", measure: func(rt *runtime) (float64, error) { return b.throughput(rt, 8, *seconds) }},
	}
	if *only != "" {
		if *out != "" {
			fatal(fmt.Errorf("-only and -out: a partial table would replace the whole one"))
		}
		items = slices.DeleteFunc(items, func(it item) bool { return !strings.Contains(it.name, *only) })
		if len(items) == 0 {
			fatal(fmt.Errorf("-only %q: no item's name contains it", *only))
		}
	}
	start := time.Now()
	results := measureAll(b.runtimes, items, *reps)
	report := render(b, items, results, *reps, time.Since(start))
	fmt.Print(report)
	if *out != "" {
		if err := writeReport(*out, report); err != nil {
			fatal(err)
		}
	}
}

// writeReport replaces the top of the file, up to its first "## " section,
// with the report: the sections below (by-hand comparisons, `make
// bench-image`'s "The image side") stay.
func writeReport(path, report string) error {
	old, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	if i := strings.Index(string(old), "\n## "); i >= 0 {
		report += string(old[i:])
	}
	return os.WriteFile(path, []byte(report), 0o644)
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "bench:", err)
	os.Exit(1)
}

// measureAll runs every item reps times for every runtime, rotating the
// runtimes' order each repetition. A runtime that fails an item (strata
// without exec, say) keeps the error and is not asked again.
func measureAll(rts []*runtime, items []item, reps int) [][]*stats.Samples {
	res := make([][]*stats.Samples, len(items))
	for i := range items {
		res[i] = make([]*stats.Samples, len(rts))
		for j := range rts {
			res[i][j] = &stats.Samples{}
		}
	}
	for rep := range reps {
		for i, it := range items {
			for k := range rts {
				j := (k + rep) % len(rts)
				s := res[i][j]
				if s.Err != nil {
					continue
				}
				s.Add(it.measure(rts[j]))
			}
		}
		fmt.Fprintf(os.Stderr, "bench: repetition %d/%d done\n", rep+1, reps)
	}
	return res
}

type item struct {
	name, unit    string
	lowerIsBetter bool
	measure       func(*runtime) (float64, error)
}

// binName is what the report calls a runtime.
func binName(path string) string { return filepath.Base(path) }
