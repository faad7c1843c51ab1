package specconv

import (
	"regexp"
	"testing"
)

// The expression semverMajor replaced; the loop must accept exactly what it
// accepted and give the same major.
var semverRegexp = regexp.MustCompile(`^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$`)

func TestSemverMajorMatchesRegexp(t *testing.T) {
	cases := []string{
		"", "1", "1.0", "1.0.", "1.0.0", "1.2.3", "10.20.30", "01.0.0", "1.01.0", "1.0.01",
		"0.0.0", "1.0.0-rc1", "1.0.0-rc.1", "1.0.0-", "1.0.0+", "1.0.0-+", "1.0.0-a+", "1.0.0+b",
		"1.0.0-a+b", "1.0.0-a-b.c+d.e-f", "1.0.0+b-c", "1.0.0+b+c", "1.0.0-a_b", "1.0.0 ", " 1.0.0",
		"1.0.0-dev", "1.2.3-rc1-dirty", "1..0", "a.b.c", "1.0.0.0", "1.0.0-α", "99999999999999999999.0.0",
		"1.0.0-ä", "1.0.0\n", "v1.0.0", "1.0.0--", "1.0.0-.", "1.0.0+.",
	}
	// Every string of up to four characters from an alphabet that exercises
	// each branch, appended to a valid core.
	alphabet := []byte("0a.-+_")
	var gen func(prefix string, n int)
	gen = func(prefix string, n int) {
		cases = append(cases, prefix, "1.0"+prefix, "1.0.0"+prefix)
		if n == 0 {
			return
		}
		for _, c := range alphabet {
			gen(prefix+string(c), n-1)
		}
	}
	gen("", 4)
	for _, s := range cases {
		m := semverRegexp.FindStringSubmatch(s)
		major, ok := semverMajor(s)
		if ok != (m != nil) || ok && major != m[1] {
			t.Errorf("semverMajor(%q) = %q, %v; the regexp gives %q", s, major, ok, m)
		}
	}
}
