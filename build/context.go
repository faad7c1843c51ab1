package build

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
)

// buildContext is the directory COPY and ADD read, less what
// .dockerignore (or .containerignore) excludes.
type buildContext struct {
	dir    string
	ignore *patternmatcher.PatternMatcher // nil: nothing excluded
}

func openContext(dir string) (*buildContext, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	if st, err := os.Stat(abs); err != nil || !st.IsDir() {
		return nil, fmt.Errorf("build context %s: not a directory", dir)
	}
	c := &buildContext{dir: abs}
	for _, name := range []string{".containerignore", ".dockerignore"} {
		f, err := os.Open(filepath.Join(abs, name))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		patterns, err := ignorefile.ReadAll(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", filepath.Join(abs, name), err)
		}
		if c.ignore, err = patternmatcher.New(patterns); err != nil {
			return nil, fmt.Errorf("%s: %w", filepath.Join(abs, name), err)
		}
		break
	}
	return c, nil
}

// excluded reports whether rel (slash-separated, relative to the context)
// is left out of the build by the ignore file.
func (c *buildContext) excluded(rel string) bool {
	if c.ignore == nil {
		return false
	}
	m, err := c.ignore.MatchesOrParentMatches(rel)
	return err == nil && m
}

// source is one matched COPY source: a path under a root (the context or
// another stage's rootfs), relative and slash-separated.
type source struct {
	root, rel string
}

func (s source) path() string { return filepath.Join(s.root, filepath.FromSlash(s.rel)) }

// match expands a COPY source pattern against the context. Patterns are
// relative to the context whatever they start with, and may not leave it.
func (c *buildContext) match(pattern string) ([]source, error) {
	clean := strings.TrimPrefix(path.Clean("/"+pattern), "/")
	if clean == "" {
		clean = "."
	}
	found, err := globUnder(c.dir, clean)
	if err != nil {
		return nil, err
	}
	var out []source
	for _, rel := range found {
		if rel != "." && c.excluded(rel) {
			continue
		}
		out = append(out, source{root: c.dir, rel: rel})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("source %q: no such file or directory in the build context %s (or excluded by .dockerignore)", pattern, c.dir)
	}
	return out, nil
}

// globUnder matches pattern (relative, cleaned) under root without letting
// a symlink lead out of it: each match is checked to resolve inside root.
func globUnder(root, pattern string) ([]string, error) {
	matches, err := filepath.Glob(filepath.Join(root, filepath.FromSlash(pattern)))
	if err != nil {
		return nil, fmt.Errorf("source %q: %w", pattern, err)
	}
	realRoot, err := filepath.EvalSymlinks(root)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, m := range matches {
		rel, err := filepath.Rel(root, m)
		if err != nil || strings.HasPrefix(rel, "..") {
			continue
		}
		// The match itself is copied as it is (a symlink as a symlink),
		// but the directories leading to it must not leave the context
		// through a symlink (COPY link/passwd with link -> /etc).
		parent, err := filepath.EvalSymlinks(filepath.Dir(m))
		if err != nil {
			return nil, err
		}
		if parent != realRoot && !strings.HasPrefix(parent, realRoot+string(filepath.Separator)) {
			return nil, fmt.Errorf("source %q: %s leads out of the build context through a symlink", pattern, rel)
		}
		out = append(out, filepath.ToSlash(rel))
	}
	sort.Strings(out)
	return out, nil
}

// contentDigest hashes what COPY would read from the sources: each file's
// path, type, mode, target (symlinks) and bytes, in walk order, excluded
// files left out. It is part of the step's cache key.
func (c *buildContext) contentDigest(srcs []source, skip func(rel string) bool) (string, error) {
	h := sha256.New()
	for _, s := range srcs {
		err := filepath.WalkDir(s.path(), func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(s.root, p)
			rel = filepath.ToSlash(rel)
			if p != s.path() && skip != nil && skip(rel) {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			info, err := d.Info()
			if err != nil {
				return err
			}
			fmt.Fprintf(h, "%q %v %d\n", rel, info.Mode(), info.Size())
			switch {
			case info.Mode()&fs.ModeSymlink != 0:
				target, err := os.Readlink(p)
				if err != nil {
					return err
				}
				fmt.Fprintf(h, "-> %q\n", target)
			case info.Mode().IsRegular():
				f, err := os.Open(p)
				if err != nil {
					return err
				}
				_, err = io.Copy(h, f)
				f.Close()
				if err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return "", fmt.Errorf("source %s: %w", s.rel, err)
		}
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}
