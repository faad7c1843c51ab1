package plan

import (
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode"
)

// The executor (nsenter/executor.c) knows the ops by plan.h's numbers and
// names its --debug timings by plan.h's comments: both must be Go's.
func TestHeaderAgrees(t *testing.T) {
	b, err := os.ReadFile("../../nsenter/plan.h")
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`(?m)^#define (OP_[A-Z_]+) (\d+)\s+/\* ([a-z-]+) \*/`)
	seen := map[string]bool{}
	for _, m := range re.FindAllStringSubmatch(string(b), -1) {
		n, _ := strconv.Atoi(m[2])
		op := Op(n)
		if name, ok := opNames[op]; !ok || name != m[3] {
			t.Errorf("plan.h: %s %d is %q; Go's op %d is %q", m[1], n, m[3], n, name)
		}
		if want := cName(op); want != m[1] {
			t.Errorf("plan.h: op %d is %s, Go calls it %s", n, m[1], want)
		}
		seen[m[1]] = true
	}
	for op := range opNames {
		if !seen[cName(op)] {
			t.Errorf("plan.h lacks %s (%d)", cName(op), op)
		}
	}
	if !strings.Contains(string(b), "#define OP_MAX "+strconv.Itoa(len(opNames))) {
		t.Errorf("plan.h: OP_MAX is not %d", len(opNames))
	}
}

// cName is the C spelling of an op's Go constant: OpCapBounding is
// OP_CAP_BOUNDING, OpIOPrio OP_IO_PRIO.
func cName(op Op) string {
	goName := goNames[op]
	var b strings.Builder
	r := []rune(goName)
	for i, c := range r {
		if i > 0 && unicode.IsUpper(c) && (unicode.IsLower(r[i-1]) || (i+1 < len(r) && unicode.IsLower(r[i+1]))) {
			b.WriteByte('_')
		}
		b.WriteRune(unicode.ToUpper(c))
	}
	return b.String()
}

// goNames are the constants' names as plan.go spells them.
var goNames = func() map[Op]string {
	src, err := os.ReadFile("plan.go")
	if err != nil {
		panic(err)
	}
	m := map[Op]string{}
	re := regexp.MustCompile(`(?m)^\t(Op[A-Za-z]+)\s+Op = (\d+)`)
	for _, s := range re.FindAllStringSubmatch(string(src), -1) {
		n, _ := strconv.Atoi(s[2])
		m[Op(n)] = s[1]
	}
	return m
}()

// The wire format nsenter/plan.h reads: the magic, then per step its op,
// the length of its body, and the body: the failure message and the EPERM
// hint as strings, then the arguments ('s', length, bytes or 'i', eight
// bytes), every number little-endian.
func TestEncodeWireFormat(t *testing.T) {
	p := &Plan{Steps: []Step{
		{Op: OpUmask, What: "umask", Args: []Arg{I(0o22)}},
		{Op: OpSymlink, What: "ln", EPERM: "hint", Args: []Arg{S("/a"), B([]byte{0})}},
	}}
	want := []byte("SPL1" +
		"\x14\x18\x00\x00\x00" + "s\x05\x00\x00\x00umask" + "s\x00\x00\x00\x00" + "i\x12\x00\x00\x00\x00\x00\x00\x00" +
		"\x00\x1d\x00\x00\x00" + "s\x02\x00\x00\x00ln" + "s\x04\x00\x00\x00hint" + "s\x02\x00\x00\x00/a" + "s\x01\x00\x00\x00\x00")
	want[4], want[4+5+24] = byte(OpUmask), byte(OpSymlink)
	if got := p.Encode(); string(got) != string(want) {
		t.Errorf("Encode:\n got %q\nwant %q", got, want)
	}
}
