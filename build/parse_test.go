package build

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestParseStagesAndLines(t *testing.T) {
	src := `# syntax=docker/dockerfile:1
ARG BASE=oci:/images:v1
# a comment
FROM $BASE AS build
RUN echo one \
    two \
# a comment inside the continuation
    three
COPY --chown=1:2 --from=x a b /dst/
CMD ["sh", "-c", "echo hi"]

from build
SHELL ["/bin/bash", "-c"]
`
	f, err := Parse("Containerfile", strings.NewReader(src))
	if err != nil {
		t.Fatal(err)
	}
	if len(f.GlobalArgs) != 1 || f.GlobalArgs[0].Line != 2 {
		t.Fatalf("global args: %+v", f.GlobalArgs)
	}
	if len(f.Stages) != 2 || f.Stages[0].Name != "build" || f.Stages[1].Name != "" || f.Stages[1].From.Line != 12 {
		t.Fatalf("stages: %+v", f.Stages)
	}
	ins := f.Stages[0].Instructions
	want := []struct {
		cmd, rest string
		line      int
	}{{"RUN", "echo one two three", 5}, {"COPY", "a b /dst/", 9}, {"CMD", `["sh", "-c", "echo hi"]`, 10}}
	if len(ins) != len(want) {
		t.Fatalf("got %d instructions, want %d: %+v", len(ins), len(want), ins)
	}
	for i, w := range want {
		if ins[i].Cmd != w.cmd || ins[i].Rest != w.rest || ins[i].Line != w.line {
			t.Errorf("instruction %d: got %s %q line %d, want %s %q line %d", i, ins[i].Cmd, ins[i].Rest, ins[i].Line, w.cmd, w.rest, w.line)
		}
	}
	if !slices.Equal(ins[1].Flags, []string{"--chown=1:2", "--from=x"}) {
		t.Errorf("COPY flags: %q", ins[1].Flags)
	}
	if !slices.Equal(ins[2].JSON, []string{"sh", "-c", "echo hi"}) {
		t.Errorf("CMD exec form: %q", ins[2].JSON)
	}
	if sh := f.Stages[1].Instructions[0].JSON; !slices.Equal(sh, []string{"/bin/bash", "-c"}) {
		t.Errorf("SHELL: %q", sh)
	}
}

func TestParseEscapeDirective(t *testing.T) {
	f, err := Parse("Containerfile", strings.NewReader("# escape=`\nFROM scratch\nRUN a `\n  b\\c\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := f.Stages[0].Instructions[0].Rest; got != `a b\c` {
		t.Fatalf("RUN with backtick escape: %q", got)
	}
}

func TestParseErrorsNameTheLine(t *testing.T) {
	for _, c := range []struct {
		src, want string
		line      int
	}{
		{"FROM scratch\n\nFOO bar\n", `unknown instruction "FOO"`, 3},
		{"RUN true\n", "RUN before the first FROM", 1},
		{"FROM scratch\nSHELL /bin/sh -c\n", "SHELL takes a JSON array", 2},
		{"FROM scratch\nHEALTHCHECK CMD true\n", "HEALTHCHECK is not supported", 2},
		{"FROM scratch\nRUN <<EOF\necho\nEOF\n", "here-document", 2},
		{"FROM scratch AS a\nFROM scratch AS a\n", `stage name "a" is already used on line 1`, 2},
		{"FROM\n", "FROM needs arguments", 1},
		{"# only a comment\n", "no FROM instruction", 1},
	} {
		_, err := Parse("Containerfile", strings.NewReader(c.src))
		var se *SyntaxError
		if !errors.As(err, &se) {
			t.Errorf("%q: got %v, want a syntax error", c.src, err)
			continue
		}
		if se.Line != c.line || !strings.Contains(se.Msg, c.want) {
			t.Errorf("%q: got %v, want line %d: %s", c.src, err, c.line, c.want)
		}
		if !strings.HasPrefix(err.Error(), "Containerfile:") {
			t.Errorf("%q: error %q does not start with the file name", c.src, err)
		}
	}
}
