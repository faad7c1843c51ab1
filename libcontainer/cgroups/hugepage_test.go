package cgroups

import (
	"regexp"
	"testing"
)

// hugepageSize replaced this expression; it must accept exactly the same.
var hugepageRegexp = regexp.MustCompile(`^[1-9][0-9]*[KMG]B$`)

func TestHugepageSizeMatchesRegexp(t *testing.T) {
	cases := []string{"", "B", "KB", "2MB", "1GB", "64KB", "16GB", "02MB", "0MB", "2M", "2mB", "2TB",
		"2MBB", "2 MB", " 2MB", "2MB\n", "1048576KB", "2KMB", "-2MB", "2.0MB", "x2MB"}
	alphabet := []byte("01KMGB")
	var gen func(prefix string, n int)
	gen = func(prefix string, n int) {
		cases = append(cases, prefix)
		if n > 0 {
			for _, c := range alphabet {
				gen(prefix+string(c), n-1)
			}
		}
	}
	gen("", 5)
	for _, s := range cases {
		if got, want := hugepageSize(s), hugepageRegexp.MatchString(s); got != want {
			t.Errorf("hugepageSize(%q) = %v, the regexp says %v", s, got, want)
		}
	}
}
