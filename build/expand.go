package build

import (
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/shell"
)

// Variable expansion ($VAR, ${VAR:-default}, quotes) is buildkit's shell
// lexer, the one docker and buildah use: it has no package initialiser.

// expandWord expands one word, quotes removed, as WORKDIR or FROM read it.
func expandWord(escape rune, word string, env shell.EnvGetter) (string, error) {
	s, _, err := shell.NewLex(escape).ProcessWord(word, env)
	return s, err
}

// expandWords expands text and splits it into words at unquoted blanks,
// as ENV, LABEL, COPY and ARG read their arguments.
func expandWords(escape rune, text string, env shell.EnvGetter) ([]string, error) {
	return shell.NewLex(escape).ProcessWords(text, env)
}

// lookupEnv is what expansion sees: the image's Env over the ARGs.
func lookupEnv(env []string, args map[string]string) shell.EnvGetter {
	list := make([]string, 0, len(args)+len(env))
	for k, v := range args {
		list = append(list, k+"="+v)
	}
	// Later entries win: Env overrides an ARG of the same name, as in docker.
	return shell.EnvsFromSlice(append(list, env...))
}

// lookupEnvList is env with the ARGs it does not set appended, in order:
// the environment a RUN step gets.
func lookupEnvList(env []string, args map[string]string, order []string) []string {
	out := append([]string(nil), env...)
	for _, k := range order {
		set := false
		for _, e := range env {
			if strings.HasPrefix(e, k+"=") {
				set = true
				break
			}
		}
		if !set {
			out = append(out, k+"="+args[k])
		}
	}
	return out
}
