// Package stats holds what the benchmarks (tests/bench, tests/benchimage)
// report of repeated measurements: the median and the spread of each cell,
// and ratios of medians.
package stats

import (
	"fmt"
	"sort"
	"strings"
)

// Samples are one item's values for one tool, one per repetition, or the
// error that stopped its measurement.
type Samples struct {
	Values []float64
	Err    error
}

// Add records one repetition's value, or the error that ends the series.
func (s *Samples) Add(v float64, err error) {
	if err != nil {
		s.Err = err
		return
	}
	s.Values = append(s.Values, v)
}

// Median of the values (of the middle two for an even count).
func (s *Samples) Median() float64 {
	v := s.sorted()
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

func (s *Samples) sorted() []float64 {
	v := append([]float64(nil), s.Values...)
	sort.Float64s(v)
	return v
}

func (s *Samples) ok() bool { return s.Err == nil && len(s.Values) > 0 }

// Cell is the report's cell: median (min–max), or n/a.
func (s *Samples) Cell() string {
	if !s.ok() {
		return "n/a"
	}
	v := s.sorted()
	return fmt.Sprintf("%s (%s–%s)", Num(s.Median()), Num(v[0]), Num(v[len(v)-1]))
}

// Num prints a figure with three significant digits or so.
func Num(f float64) string {
	switch {
	case f >= 100:
		return fmt.Sprintf("%.0f", f)
	case f >= 10:
		return fmt.Sprintf("%.1f", f)
	case f >= 1:
		return fmt.Sprintf("%.2f", f)
	default:
		// A cached rebuild takes a few hundredths of a second: two
		// decimals would keep one digit of it.
		return fmt.Sprintf("%.3f", f)
	}
}

// Ratio of the medians a/b, or n/a.
func Ratio(a, b *Samples) string {
	if !a.ok() || !b.ok() || b.Median() == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.2f", a.Median()/b.Median())
}

// OneLine squeezes an error message into one line of at most max bytes.
func OneLine(s string, max int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > max {
		s = s[:max] + "..."
	}
	return s
}
