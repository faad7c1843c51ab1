package build

import (
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	securejoin "github.com/cyphar/filepath-securejoin"
	"golang.org/x/sys/unix"

	"github.com/strata-runtime/strata/bundle"
)

// copyPlan is a COPY or ADD with its words expanded and, for the build
// context, its sources matched and hashed (the cache needs the digest
// before the step runs).
type copyPlan struct {
	srcs     []string // patterns as expanded
	matched  []source // context sources; nil with --from
	dest     string   // absolute in the image
	destDir  bool     // dest names a directory the sources go into
	chown    string
	chmod    os.FileMode
	hasChmod bool
	from     int // the stage COPY --from reads, or -1
	digest   string
}

func (sr *stageRun) planCopy(ins Instruction) (*copyPlan, error) {
	b := sr.b
	p := &copyPlan{from: -1}
	env := lookupEnv(sr.st.config.Config.Env, sr.args)
	for _, fl := range ins.Flags {
		name, val, _ := strings.Cut(fl, "=")
		val, err := expandWord(b.file.Escape, val, env)
		if err != nil {
			return nil, err
		}
		switch name {
		case "--chown":
			p.chown = val
		case "--chmod":
			m, err := strconv.ParseUint(val, 8, 32)
			if err != nil || m > 0o7777 {
				return nil, fmt.Errorf("%s: expected an octal mode such as 0644", fl)
			}
			p.chmod, p.hasChmod = os.FileMode(m), true
		case "--from":
			if p.from, err = b.stageIndex(val, sr.index); err != nil {
				return nil, err
			}
		default:
			return nil, fmt.Errorf("%s: unknown flag %s (expected --chown, --chmod or, for COPY, --from)", ins.Cmd, fl)
		}
	}
	words := ins.JSON
	if words == nil {
		var err error
		if words, err = expandWords(b.file.Escape, ins.Rest, env); err != nil {
			return nil, err
		}
	}
	if len(words) < 2 {
		return nil, fmt.Errorf("%s takes SOURCE... DEST", ins.Cmd)
	}
	p.srcs, p.dest = words[:len(words)-1], words[len(words)-1]
	p.destDir = strings.HasSuffix(p.dest, "/") || len(p.srcs) > 1
	if !path.IsAbs(p.dest) {
		p.dest = path.Join("/", sr.st.config.Config.WorkingDir, p.dest)
	}
	p.dest = path.Clean(p.dest)
	for _, s := range p.srcs {
		if ins.Cmd == "ADD" && (strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://") || strings.HasPrefix(s, "git@")) {
			return nil, fmt.Errorf("ADD %s: remote sources are not supported; fetch the file into the build context", s)
		}
	}
	if p.from >= 0 {
		// Another stage's files are named by that stage's image.
		p.digest = "stage " + b.stages[p.from].state.key
		return p, nil
	}
	for _, s := range p.srcs {
		m, err := b.ctx.match(s)
		if err != nil {
			return nil, err
		}
		p.matched = append(p.matched, m...)
	}
	if len(p.matched) > 1 {
		p.destDir = true
	}
	var err error
	p.digest, err = b.ctx.contentDigest(p.matched, b.ctx.excluded)
	return p, err
}

// copy runs COPY or ADD: the sources are written into a bundle of the
// current image and the bundle's changes become the layer.
func (sr *stageRun) copy(ins Instruction, p *copyPlan, next *state) error {
	createdBy := fmt.Sprintf("/bin/sh -c #(nop) %s %s", ins.Cmd, ins.Rest)
	// The bundle's command is never run: the step only writes to it.
	return sr.layerStep(next, createdBy, []string{"/bin/true"}, true, func(_, _, rootfs string) error {
		srcs := p.matched
		var skip func(string) bool = sr.b.ctx.excluded
		if p.from >= 0 {
			var release func()
			var err error
			srcs, release, err = sr.stageSources(p)
			if err != nil {
				return err
			}
			defer release()
			skip = nil
		}
		uid, gid, err := chownIDs(rootfs, p.chown)
		if err != nil {
			return err
		}
		c := &copier{rootfs: rootfs, uid: uid, gid: gid, chmod: p.chmod, hasChmod: p.hasChmod, skip: skip}
		for _, s := range srcs {
			if ins.Cmd == "ADD" {
				extracted, err := c.extract(s, p.dest)
				if err != nil {
					return err
				}
				if extracted {
					continue
				}
			}
			if err := c.copySource(s, p.dest, p.destDir); err != nil {
				return err
			}
		}
		return nil
	})
}

// stageSources mounts the image of the stage COPY --from names and matches
// the sources in it.
func (sr *stageRun) stageSources(p *copyPlan) ([]source, func(), error) {
	b := sr.b
	dir, err := os.MkdirTemp(b.tmp, "from-")
	if err != nil {
		return nil, nil, err
	}
	if _, err := bundle.Create(bundle.CreateOptions{Bundle: dir, Image: b.cache.ref(b.stages[p.from].state.key), Store: b.store.Root(), Spec: bundle.SpecOptions{Args: []string{"/bin/true"}, AsRoot: true}}); err != nil {
		return nil, nil, err
	}
	release := func() { bundle.Remove(dir) }
	root := filepath.Join(dir, "rootfs")
	var out []source
	for _, pattern := range p.srcs {
		// Resolved inside the stage's rootfs: its symlinks cannot lead out.
		base, err := securejoin.SecureJoin(root, path.Dir(path.Clean("/"+pattern)))
		if err != nil {
			release()
			return nil, nil, err
		}
		matches, err := filepath.Glob(filepath.Join(base, path.Base(path.Clean("/"+pattern))))
		if err != nil || len(matches) == 0 {
			release()
			return nil, nil, fmt.Errorf("COPY --from: source %q: no such file or directory in stage %d's image", pattern, p.from)
		}
		for _, m := range matches {
			rel, _ := filepath.Rel(root, m)
			out = append(out, source{root: root, rel: filepath.ToSlash(rel)})
		}
	}
	if len(out) > 1 {
		p.destDir = true
	}
	return out, release, nil
}

// chownIDs resolves --chown=USER[:GROUP] in the image's own /etc/passwd and
// /etc/group; without a group the gid is the uid, as docker documents.
func chownIDs(rootfs, spec string) (int, int, error) {
	if spec == "" {
		return 0, 0, nil
	}
	uid, gid, err := bundle.LookupIDs(rootfs, spec)
	if err != nil {
		return 0, 0, fmt.Errorf("--chown=%s: %w", spec, err)
	}
	if !strings.Contains(spec, ":") {
		gid = uid
	}
	return uid, gid, nil
}

// copier writes sources into the rootfs as COPY does: owner root (or
// --chown), modes as in the source (or --chmod), times kept.
type copier struct {
	rootfs   string
	uid, gid int
	chmod    os.FileMode
	hasChmod bool
	skip     func(rel string) bool
}

// copySource copies one source: a directory's contents go into dest, a
// file goes to dest, or into it when dest is a directory.
func (c *copier) copySource(s source, dest string, destDir bool) error {
	st, err := os.Lstat(s.path())
	if err != nil {
		return err
	}
	if st.IsDir() {
		return filepath.WalkDir(s.path(), func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(s.path(), p)
			if p == s.path() && c.existingDir(dest) {
				// A directory that exists keeps its own owner, mode
				// and times, as docker's and buildah's COPY leave it
				// (COPY --chown=app src/ /usr/local/ must not give
				// /usr/local to app); one the copy makes takes the
				// source's.
				return nil
			}
			if p != s.path() && c.skip != nil {
				crel, _ := filepath.Rel(s.root, p)
				if c.skip(filepath.ToSlash(crel)) {
					if d.IsDir() {
						return filepath.SkipDir
					}
					return nil
				}
			}
			return c.copyEntry(p, path.Join(dest, filepath.ToSlash(rel)))
		})
	}
	target := dest
	if destDir {
		target = path.Join(dest, path.Base(s.rel))
	} else if tp, err := securejoin.SecureJoin(c.rootfs, dest); err == nil {
		if fi, err := os.Stat(tp); err == nil && fi.IsDir() {
			target = path.Join(dest, path.Base(s.rel))
		}
	}
	return c.copyEntry(s.path(), target)
}

// existingDir tells whether dest (absolute in the image) is a directory
// of the rootfs already.
func (c *copier) existingDir(dest string) bool {
	p, err := securejoin.SecureJoin(c.rootfs, dest)
	if err != nil {
		return false
	}
	fi, err := os.Lstat(p)
	return err == nil && fi.IsDir()
}

// copyEntry creates one file, directory or symlink at target (absolute in
// the image), resolved inside the rootfs so that no symlink of the image
// leads the write out of it. Its errors name target.
func (c *copier) copyEntry(src, target string) error {
	if err := c.writeEntry(src, target); err != nil {
		return fmt.Errorf("%s: %w", target, err)
	}
	return nil
}

func (c *copier) writeEntry(src, target string) error {
	st, err := os.Lstat(src)
	if err != nil {
		return err
	}
	parent, err := securejoin.SecureJoin(c.rootfs, path.Dir(target))
	if err != nil {
		return err
	}
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return err
	}
	p := filepath.Join(parent, path.Base(target))
	mode := st.Mode()
	switch {
	case mode.IsDir():
		if fi, err := os.Lstat(p); err != nil || !fi.IsDir() {
			os.Remove(p)
			if err := os.Mkdir(p, 0o755); err != nil {
				return err
			}
		}
	case mode&fs.ModeSymlink != 0:
		link, err := os.Readlink(src)
		if err != nil {
			return err
		}
		os.RemoveAll(p)
		if err := os.Symlink(link, p); err != nil {
			return err
		}
		return unix.Lchown(p, c.uid, c.gid)
	case mode.IsRegular():
		if err := copyFile(src, p); err != nil {
			return err
		}
	default:
		return fmt.Errorf("source %s: %v files cannot be copied", src, mode.Type())
	}
	// chown before chmod: chown clears setuid and setgid bits.
	if err := os.Lchown(p, c.uid, c.gid); err != nil {
		return err
	}
	perm := unixMode(mode)
	if c.hasChmod {
		perm = uint32(c.chmod)
	}
	if err := unix.Chmod(p, perm); err != nil {
		return err
	}
	return os.Chtimes(p, st.ModTime(), st.ModTime())
}

// unixMode is a FileMode's permission, setuid, setgid and sticky bits.
func unixMode(m os.FileMode) uint32 {
	out := uint32(m.Perm())
	if m&os.ModeSetuid != 0 {
		out |= unix.S_ISUID
	}
	if m&os.ModeSetgid != 0 {
		out |= unix.S_ISGID
	}
	if m&os.ModeSticky != 0 {
		out |= unix.S_ISVTX
	}
	return out
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	if fi, err := os.Lstat(dst); err == nil && !fi.Mode().IsRegular() {
		if err := os.RemoveAll(dst); err != nil {
			return err
		}
	}
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		return err
	}
	if _, err := out.ReadFrom(in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
