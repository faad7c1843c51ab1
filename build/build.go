// Package build makes an OCI image from a Containerfile: each stage starts
// from an image, a RUN step runs in a strata container made by the bundle
// builder from the layers so far, COPY and ADD write into such a bundle,
// and each of those steps' changes becomes a layer through the code of
// `strata bundle diff`. Metadata instructions change the config only.
// Every step's result is kept in a cache keyed by its parent chain (cache.go).
package build

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/strata-runtime/strata/image"
	"github.com/strata-runtime/strata/image/ocispec"
)

// Options describe a build.
type Options struct {
	File      string    // the Containerfile
	Context   string    // the build context directory
	Target    image.Ref // where the image goes: oci:, oci-archive:, docker-archive:, docker://
	Store     string    // the layer store (and its build cache)
	BuildArgs map[string]string
	Network   string // "none" (the default) or "host" for RUN steps
	// InsecureRegistries may be reached over plain HTTP by FROM docker://.
	InsecureRegistries []string
	// CgroupParent, if set, holds the RUN containers' cgroups (each its
	// own, below it); else each lands below the caller's cgroup.
	CgroupParent string
	// Runtime is the strata binary that runs RUN steps (`strata run`).
	Runtime string
	// Out receives the RUN steps' output and one line per step.
	Out io.Writer
}

// Result is a finished build.
type Result struct {
	Manifest ocispec.Descriptor
	Steps    int // steps in the final image's chain
	Cached   int // of those, taken from the cache
}

// state is the image a step leaves: its cache key, config and layers.
type state struct {
	key      string
	config   ocispec.Image
	layers   []ocispec.Descriptor
	manifest ocispec.Descriptor
}

func stateFromImage(img *image.Image, key string) (*state, error) {
	st := &state{key: key, layers: img.Manifest.Layers}
	if err := decodeConfig(img.RawConfig, &st.config); err != nil {
		return nil, fmt.Errorf("build cache image %s: %w", key, err)
	}
	st.manifest = ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: img.ManifestDigest, Size: int64(len(img.RawManifest))}
	return st, nil
}

// child is a copy of st to be changed by the step with key.
func (st *state) child(key string) *state {
	c := &state{key: key, config: st.config, layers: append([]ocispec.Descriptor(nil), st.layers...)}
	c.config.Config = cloneConfig(st.config.Config)
	c.config.RootFS.DiffIDs = append([]ocispec.Digest(nil), st.config.RootFS.DiffIDs...)
	c.config.History = append([]ocispec.History(nil), st.config.History...)
	return c
}

// builder holds what all stages share.
type builder struct {
	o       Options
	file    *File
	store   *image.Store
	cache   *cache
	ctx     *buildContext
	tmp     string // this build's bundles and container state
	stages  []*stageResult
	usedArg map[string]bool
	steps   int
	cached  int
	// signals receives SIGINT, SIGTERM and SIGHUP: the build stops at the
	// next step (or the running RUN is stopped) and cleans up, rather than
	// dying with its bundle mounted.
	signals chan os.Signal
	stopped os.Signal
}

// stageResult is a finished stage, for FROM and COPY --from.
type stageResult struct {
	state *state
	shell []string
}

// Build runs the Containerfile and writes the image to o.Target. A build
// that fails takes back what it added to the store and the cache.
func Build(o Options) (res *Result, err error) {
	if o.Out == nil {
		o.Out = io.Discard
	}
	if o.Network == "" {
		o.Network = "none"
	}
	if o.Network != "none" && o.Network != "host" {
		return nil, fmt.Errorf("--network %q: expected none or host", o.Network)
	}
	if err := checkTarget(o.Target); err != nil {
		return nil, err
	}
	data, err := os.ReadFile(o.File)
	if err != nil {
		return nil, fmt.Errorf("containerfile: %w", err)
	}
	f, err := Parse(o.File, strings.NewReader(string(data)))
	if err != nil {
		return nil, err
	}
	ctx, err := openContext(o.Context)
	if err != nil {
		return nil, err
	}
	b := &builder{o: o, file: f, ctx: ctx, usedArg: map[string]bool{}, signals: make(chan os.Signal, 1)}
	signal.Notify(b.signals, unix.SIGINT, unix.SIGTERM, unix.SIGHUP)
	defer signal.Stop(b.signals)
	// Stage references are checked before anything is made.
	if err := b.checkStages(); err != nil {
		return nil, err
	}
	_, statErr := os.Stat(o.Store)
	if b.store, err = image.OpenStore(o.Store); err != nil {
		return nil, err
	}
	if errors.Is(statErr, os.ErrNotExist) {
		// A failed build into a new store leaves no store.
		defer func() {
			if err != nil {
				removeIfUnused(b.store)
			}
		}()
	}
	j, err := startJournal(b.store)
	if err != nil {
		return nil, err
	}
	b.cache = &cache{dir: filepath.Join(b.store.Root(), cacheDir), journal: j}
	if _, err := os.Stat(b.cache.dir); errors.Is(err, os.ErrNotExist) {
		j.newCache = true
	}
	if b.tmp, err = os.MkdirTemp("", "strata-build-"); err != nil {
		return nil, err
	}
	defer os.RemoveAll(b.tmp)
	defer func() {
		if err != nil {
			if uerr := j.undo(b.cache.dir); uerr != nil {
				err = fmt.Errorf("%w (and undoing the build: %v)", err, uerr)
			}
		}
	}()
	globals, err := b.globalArgs()
	if err != nil {
		return nil, err
	}
	for i, st := range f.Stages {
		r, err := b.runStage(i, st, globals)
		if err != nil {
			return nil, err
		}
		b.stages = append(b.stages, r)
	}
	for k := range o.BuildArgs {
		if !b.usedArg[k] {
			fmt.Fprintf(o.Out, "warning: --build-arg %s: no ARG %s in %s\n", k, k, o.File)
		}
	}
	final := b.stages[len(b.stages)-1].state
	if err := writeTarget(b.cache, final, o.Target, o.Out); err != nil {
		return nil, err
	}
	return &Result{Manifest: final.manifest, Steps: b.steps, Cached: b.cached}, nil
}

// removeIfUnused removes a store that holds nothing (no layer, blob or
// bundle): one a failed build made.
func removeIfUnused(s *image.Store) {
	for _, d := range []string{"layers/sha256", "blobs/sha256", "bundles", "tmp"} {
		if entries, err := os.ReadDir(filepath.Join(s.Root(), d)); err != nil || len(entries) > 0 {
			return
		}
	}
	os.RemoveAll(s.Root())
}

// checkStages refuses a FROM or COPY --from naming a stage that is not
// defined before it, before anything is built.
func (b *builder) checkStages() error {
	for i, st := range b.file.Stages {
		// FROM words with a variable are known only once expanded.
		if word := strings.Fields(st.From.Rest)[0]; word != "scratch" && !strings.ContainsAny(word, ":$") {
			if _, err := b.stageIndex(word, i); err != nil {
				return &SyntaxError{b.file.Name, st.From.Line, fmt.Sprintf("FROM %s: %v (an image is TRANSPORT:REF, such as oci:DIR:TAG or docker://HOST/REPO:TAG)", word, err)}
			}
		}
		for _, ins := range st.Instructions {
			if ins.Cmd != "COPY" && ins.Cmd != "ADD" {
				continue
			}
			for _, fl := range ins.Flags {
				if from, ok := strings.CutPrefix(fl, "--from="); ok {
					if ins.Cmd == "ADD" {
						return &SyntaxError{b.file.Name, ins.Line, "ADD --from is not valid; use COPY --from"}
					}
					if _, err := b.stageIndex(from, i); err != nil {
						return &SyntaxError{b.file.Name, ins.Line, err.Error()}
					}
				}
			}
		}
	}
	return nil
}

// stageIndex finds a stage by name or number among the first `before`.
func (b *builder) stageIndex(ref string, before int) (int, error) {
	if n, err := strconv.Atoi(ref); err == nil {
		if n < 0 || n >= before {
			return 0, fmt.Errorf("stage %d is not defined before this one (stages 0 to %d are)", n, before-1)
		}
		return n, nil
	}
	for i, st := range b.file.Stages[:before] {
		if st.Name == strings.ToLower(ref) {
			return i, nil
		}
	}
	var names []string
	for _, st := range b.file.Stages[:before] {
		if st.Name != "" {
			names = append(names, st.Name)
		}
	}
	if len(names) == 0 {
		return 0, fmt.Errorf("unknown stage %q (no named stage comes before)", ref)
	}
	return 0, fmt.Errorf("unknown stage %q (stages before this one: %s)", ref, strings.Join(names, ", "))
}

// interrupted reports a signal that asked the build to stop.
func (b *builder) interrupted() error {
	select {
	case s := <-b.signals:
		b.stopped = s
	default:
	}
	if b.stopped != nil {
		return fmt.Errorf("interrupted by %v", b.stopped)
	}
	return nil
}

// errAt prefixes an error with the instruction's place and text.
func (b *builder) errAt(ins Instruction, err error) error {
	var se *SyntaxError
	if errors.As(err, &se) {
		return err
	}
	return fmt.Errorf("%s:%d: %s: %w", b.file.Name, ins.Line, ins.Original, err)
}

func (b *builder) logStep(ins Instruction, cached bool) {
	mark := ""
	if cached {
		mark = " (cached)"
	}
	fmt.Fprintf(b.o.Out, "STEP %d: %s%s\n", b.steps, ins.Original, mark)
}
