package main

import (
	"fmt"
	"os"

	"github.com/strata-runtime/strata/tests/bench/stats"
)

// A tool is one side of an item: one repetition of its measurement returns
// its figures (seconds) by key, such as "cmd" or "skopeo".
type tool struct {
	name    string
	measure func(rep int) (map[string]float64, error)
}

// An item is what the tools are compared on, and the rows of the table that
// show it: each row puts a figure of strata's next to one of the other tool.
type item struct {
	name  string
	tools []*tool
	rows  []row
}

type row struct {
	label         string
	strata, other figure
}

// A figure is one key of one tool's results (tool "" leaves the cell empty).
type figure struct{ tool, key string }

// results are each tool's samples by key, or the error that stopped it.
type results map[string]map[string]*stats.Samples

func (r results) get(f figure) *stats.Samples {
	if s := r[f.tool][f.key]; s != nil {
		return s
	}
	if s := r[f.tool]["error"]; s != nil {
		return s
	}
	return &stats.Samples{}
}

// measureAll runs every item reps times, each of its tools in turn in an
// order rotated by one every repetition. A tool that fails is not asked
// again; its cells say n/a and the report says why.
func measureAll(items []*item, reps int) []results {
	res := make([]results, len(items))
	for i, it := range items {
		res[i] = results{}
		for _, t := range it.tools {
			res[i][t.name] = map[string]*stats.Samples{}
		}
	}
	for rep := range reps {
		for i, it := range items {
			for k := range it.tools {
				if stopping.Err() != nil {
					return res
				}
				t := it.tools[(k+rep)%len(it.tools)]
				got := res[i][t.name]
				if got["error"] != nil {
					continue
				}
				values, err := t.measure(rep)
				if err != nil {
					got["error"] = &stats.Samples{Err: err}
					fmt.Fprintf(os.Stderr, "bench-image: %s, %s: %v\n", it.name, t.name, err)
					continue
				}
				for key, v := range values {
					if got[key] == nil {
						got[key] = &stats.Samples{}
					}
					got[key].Add(v, nil)
				}
			}
		}
		fmt.Fprintf(os.Stderr, "bench-image: repetition %d/%d done\n", rep+1, reps)
	}
	return res
}

// prepare makes the images, starts the registry and the containers, and
// returns the items to measure, in the order of the report's table.
func (b *bench) prepare() ([]*item, error) {
	var items []*item
	for _, newItem := range []func() (*item, error){b.pullItem, b.buildItem, b.commitItem} {
		it, err := newItem()
		if err != nil {
			return nil, err
		}
		items = append(items, it)
	}
	return items, nil
}

// failed tells whether any tool of any item failed.
func failed(res []results) bool {
	for _, r := range res {
		for _, byKey := range r {
			if byKey["error"] != nil {
				return true
			}
		}
	}
	return false
}
