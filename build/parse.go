package build

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"unicode"
)

// The Containerfile is split into instructions here rather than by
// buildkit's frontend/dockerfile/parser: that package's initialisers (its
// regexps, and the protobuf registration of buildkit's util/stack, which it
// imports) took 0.076 ms and 138 allocations of every strata start
// (GODEBUG=inittrace=1 strata --version), the container init's included,
// and added 284 KB to the binary. The line syntax is small; the part that
// is not, quoting and variable expansion, is buildkit's shell package,
// which has no initialiser (see expand.go).

// Instruction is one Containerfile instruction, continuation lines joined.
type Instruction struct {
	Cmd      string   // the keyword, upper case: RUN, COPY...
	Flags    []string // leading --name=value words, as written
	Rest     string   // the text after keyword and flags
	JSON     []string // Rest as a JSON string array (exec form), or nil
	Original string   // the logical line as written, for errors and history
	Line     int      // the line it starts on (1-based)
}

// Stage is one FROM and the instructions up to the next.
type Stage struct {
	Name         string // FROM ... AS NAME, lower case; empty if unnamed
	From         Instruction
	Instructions []Instruction
}

// File is a parsed Containerfile: the ARGs before the first FROM (which
// FROM lines may use) and the stages.
type File struct {
	Name       string // the file name, for errors
	Escape     rune
	GlobalArgs []Instruction
	Stages     []Stage
}

// SyntaxError is a Containerfile that cannot be parsed, with its line.
type SyntaxError struct {
	File string
	Line int
	Msg  string
}

func (e *SyntaxError) Error() string { return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg) }

// instructionKind says whether strata builds an instruction and whether
// its arguments may be in exec (JSON) form; for a Dockerfile instruction
// strata refuses, why. (A switch, not a map: a map literal is built by the
// package initialiser, at every strata start.)
func instructionKind(cmd string) (known, jsonForm bool, refused string) {
	switch cmd {
	case "RUN", "CMD", "ENTRYPOINT", "SHELL", "COPY", "ADD", "VOLUME":
		return true, true, ""
	case "FROM", "ENV", "ARG", "WORKDIR", "USER", "LABEL", "EXPOSE", "STOPSIGNAL", "MAINTAINER":
		return true, false, ""
	case "ONBUILD":
		return false, false, "ONBUILD triggers are not supported"
	case "HEALTHCHECK":
		return false, false, "HEALTHCHECK is not supported (OCI image configs have no health check)"
	}
	return false, false, ""
}

// Parse reads a Containerfile. name is used in errors ("Containerfile:3: ...").
func Parse(name string, r io.Reader) (*File, error) {
	f := &File{Name: name, Escape: '\\'}
	lines, err := logicalLines(f, r)
	if err != nil {
		return nil, err
	}
	for _, l := range lines {
		ins, err := splitInstruction(f, l.text, l.line)
		if err != nil {
			return nil, err
		}
		if ins.Cmd == "FROM" {
			st, err := parseFrom(f, ins)
			if err != nil {
				return nil, err
			}
			f.Stages = append(f.Stages, st)
			continue
		}
		if len(f.Stages) == 0 {
			if ins.Cmd != "ARG" {
				return nil, &SyntaxError{name, ins.Line, fmt.Sprintf("%s before the first FROM (only ARG may come first)", ins.Cmd)}
			}
			f.GlobalArgs = append(f.GlobalArgs, ins)
			continue
		}
		st := &f.Stages[len(f.Stages)-1]
		st.Instructions = append(st.Instructions, ins)
	}
	if len(f.Stages) == 0 {
		return nil, &SyntaxError{name, max(len(lines), 1), "no FROM instruction"}
	}
	return f, nil
}

type logicalLine struct {
	text string
	line int
}

// logicalLines joins continuation lines (ending in the escape character),
// drops comments and blank lines, and reads the parser directives at the
// top (# escape=X; # syntax= is accepted and ignored).
func logicalLines(f *File, r io.Reader) ([]logicalLine, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	var out []logicalLine
	var cur strings.Builder
	start, n := 0, 0
	directives := true
	for sc.Scan() {
		n++
		raw := sc.Text()
		trimmed := strings.TrimSpace(raw)
		if directives {
			if k, v, ok := directive(trimmed); ok {
				if k == "escape" {
					if v != "\\" && v != "`" {
						return nil, &SyntaxError{f.Name, n, fmt.Sprintf("escape directive %q: expected \\ or `", v)}
					}
					f.Escape = rune(v[0])
				}
				continue
			}
			directives = false
		}
		// Comment lines are dropped, inside a continued instruction too.
		if strings.HasPrefix(trimmed, "#") || (trimmed == "" && cur.Len() == 0) {
			continue
		}
		if cur.Len() == 0 {
			start = n
		}
		if strings.HasSuffix(trimmed, string(f.Escape)) {
			part := strings.TrimSuffix(strings.TrimRightFunc(raw, unicode.IsSpace), string(f.Escape))
			cur.WriteString(strings.TrimSpace(part))
			cur.WriteString(" ")
			continue
		}
		cur.WriteString(strings.TrimLeftFunc(raw, unicode.IsSpace))
		out = append(out, logicalLine{strings.TrimSpace(cur.String()), start})
		cur.Reset()
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", f.Name, err)
	}
	if cur.Len() > 0 {
		out = append(out, logicalLine{strings.TrimSpace(cur.String()), start})
	}
	return out, nil
}

// directive parses "# key=value" at the top of the file.
func directive(line string) (key, value string, ok bool) {
	rest, ok := strings.CutPrefix(line, "#")
	if !ok {
		return "", "", false
	}
	k, v, ok := strings.Cut(rest, "=")
	k = strings.ToLower(strings.TrimSpace(k))
	if !ok || (k != "escape" && k != "syntax") {
		return "", "", false
	}
	return k, strings.TrimSpace(v), true
}

// splitInstruction separates keyword, flags and arguments, and decodes the
// exec form where the instruction allows one.
func splitInstruction(f *File, text string, line int) (Instruction, error) {
	kw, rest := text, ""
	if i := strings.IndexFunc(text, unicode.IsSpace); i >= 0 {
		kw, rest = text[:i], text[i:]
	}
	ins := Instruction{Cmd: strings.ToUpper(kw), Original: text, Line: line}
	ok, jsonForm, refused := instructionKind(ins.Cmd)
	if refused != "" {
		return ins, &SyntaxError{f.Name, line, refused}
	}
	if !ok {
		return ins, &SyntaxError{f.Name, line, fmt.Sprintf("unknown instruction %q", kw)}
	}
	rest = strings.TrimSpace(rest)
	// Flags come first: --name=value words (RUN, COPY, ADD, FROM).
	for strings.HasPrefix(rest, "--") {
		word, after, _ := strings.Cut(rest, " ")
		ins.Flags = append(ins.Flags, word)
		rest = strings.TrimSpace(after)
	}
	ins.Rest = rest
	if (ins.Cmd == "RUN" || ins.Cmd == "COPY" || ins.Cmd == "ADD") && heredoc(rest) {
		return ins, &SyntaxError{f.Name, line, ins.Cmd + " with a here-document (<<) is not supported"}
	}
	if jsonForm && strings.HasPrefix(rest, "[") {
		var words []string
		if err := json.Unmarshal([]byte(rest), &words); err == nil {
			ins.JSON = words
			if words == nil {
				ins.JSON = []string{}
			}
		} else if ins.Cmd == "SHELL" {
			return ins, &SyntaxError{f.Name, line, fmt.Sprintf("SHELL takes a JSON array of strings: %v", err)}
		}
	}
	if ins.Cmd == "SHELL" && ins.JSON == nil {
		return ins, &SyntaxError{f.Name, line, `SHELL takes a JSON array of strings, as SHELL ["/bin/sh", "-c"]`}
	}
	if rest == "" && ins.JSON == nil {
		return ins, &SyntaxError{f.Name, line, ins.Cmd + " needs arguments"}
	}
	return ins, nil
}

// heredoc reports whether a word starts with <<NAME or <<-NAME (a shell
// redirection written "cat << x" has a space after the <<).
func heredoc(rest string) bool {
	for _, w := range strings.Fields(rest) {
		if name, ok := strings.CutPrefix(w, "<<"); ok {
			name = strings.TrimPrefix(name, "-")
			if name != "" && (unicode.IsLetter(rune(name[0])) || name[0] == '"' || name[0] == '\'') {
				return true
			}
		}
	}
	return false
}

// parseFrom reads FROM [--platform=P] IMAGE [AS NAME].
func parseFrom(f *File, ins Instruction) (Stage, error) {
	words := strings.Fields(ins.Rest)
	st := Stage{From: ins}
	switch {
	case len(words) == 1:
	case len(words) == 3 && strings.EqualFold(words[1], "AS"):
		st.Name = strings.ToLower(words[2])
	default:
		return st, &SyntaxError{f.Name, ins.Line, "FROM takes IMAGE [AS NAME]"}
	}
	for _, fl := range ins.Flags {
		if !strings.HasPrefix(fl, "--platform=") {
			return st, &SyntaxError{f.Name, ins.Line, fmt.Sprintf("FROM: unknown flag %s (expected --platform=os/arch)", fl)}
		}
	}
	for _, prev := range f.Stages {
		if st.Name != "" && prev.Name == st.Name {
			return st, &SyntaxError{f.Name, ins.Line, fmt.Sprintf("stage name %q is already used on line %d", st.Name, prev.From.Line)}
		}
	}
	return st, nil
}
