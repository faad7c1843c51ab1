package build

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/strata-runtime/strata/image"
	"github.com/strata-runtime/strata/image/ocispec"
)

// defaultShell runs RUN's, CMD's and ENTRYPOINT's shell forms until SHELL.
var defaultShell = []string{"/bin/sh", "-c"}

// stageRun is a stage in progress.
type stageRun struct {
	b     *builder
	index int
	st    *state
	shell []string
	// args are the stage's declared ARGs with their values, in order.
	args     map[string]string
	argOrder []string
	// cmdSet: this stage has a CMD, which a later ENTRYPOINT keeps (it
	// drops only a Cmd inherited from the base, as docker does).
	cmdSet bool
}

// globalArgs evaluates the ARGs before the first FROM, which FROM lines
// (and ARGs re-declared without a value in a stage) may use.
func (b *builder) globalArgs() (map[string]string, error) {
	vals := map[string]string{}
	for _, ins := range b.file.GlobalArgs {
		k, v, err := b.argValue(ins, vals, nil)
		if err != nil {
			return nil, err
		}
		vals[k] = v
	}
	return vals, nil
}

// argValue evaluates ARG NAME[=DEFAULT]: --build-arg wins over the default.
func (b *builder) argValue(ins Instruction, args map[string]string, env []string) (string, string, error) {
	words, err := expandWords(b.file.Escape, ins.Rest, lookupEnv(env, args))
	if err != nil || len(words) != 1 {
		return "", "", &SyntaxError{b.file.Name, ins.Line, "ARG takes one NAME or NAME=VALUE"}
	}
	k, v, _ := strings.Cut(words[0], "=")
	if k == "" {
		return "", "", &SyntaxError{b.file.Name, ins.Line, "ARG: empty name"}
	}
	if bv, ok := b.o.BuildArgs[k]; ok {
		v = bv
		b.usedArg[k] = true
	}
	return k, v, nil
}

// runStage builds one stage and returns its image.
func (b *builder) runStage(i int, stage Stage, globals map[string]string) (*stageResult, error) {
	sr := &stageRun{b: b, index: i, shell: defaultShell, args: map[string]string{}}
	if err := sr.from(stage.From, globals); err != nil {
		return nil, b.errAt(stage.From, err)
	}
	for _, ins := range stage.Instructions {
		if err := b.interrupted(); err != nil {
			return nil, b.errAt(ins, err)
		}
		if err := sr.step(ins, globals); err != nil {
			return nil, b.errAt(ins, err)
		}
	}
	return &stageResult{state: sr.st, shell: sr.shell}, nil
}

// from starts the stage: scratch, an earlier stage, or an image.
func (sr *stageRun) from(ins Instruction, globals map[string]string) error {
	b := sr.b
	word := strings.Fields(ins.Rest)[0]
	name, err := expandWord(b.file.Escape, word, lookupEnv(nil, globals))
	if err != nil {
		return err
	}
	platform := ""
	for _, fl := range ins.Flags {
		if p, ok := strings.CutPrefix(fl, "--platform="); ok {
			if platform, err = expandWord(b.file.Escape, p, lookupEnv(nil, globals)); err != nil {
				return err
			}
		}
	}
	b.steps++
	if name == "scratch" {
		key := stepKey("", "FROM scratch "+platform, nil, "")
		sr.st = &state{key: key, config: scratchConfig(platform)}
		if cached, err := b.cache.lookup(key); err != nil || cached != nil {
			sr.st = cached
			b.logStep(ins, true)
			b.cached++
			return err
		}
		b.logStep(ins, false)
		return b.cache.put(sr.st)
	}
	if !strings.Contains(name, ":") {
		// An earlier stage, by name or index: its image as it ended.
		j, err := b.stageIndex(name, sr.index)
		if err != nil {
			return fmt.Errorf("%w; FROM takes docker://HOST/REPO[:TAG], oci:DIR:TAG, oci-archive:FILE:TAG, docker-archive:FILE[:NAME:TAG], scratch or an earlier stage", err)
		}
		r := b.stages[j]
		sr.st, sr.shell = r.state, r.shell
		b.logStep(ins, true)
		b.cached++
		return nil
	}
	ref, err := image.ParseRef(name)
	if err != nil {
		return err
	}
	if ref, err = ref.Abs(); err != nil {
		return err
	}
	ref.Insecure = ref.Transport == image.Docker && slices.Contains(b.o.InsecureRegistries, ref.RegistryHost())
	img, err := image.Open(ref, platform)
	if err != nil {
		return err
	}
	defer img.Close()
	key := stepKey("", "FROM "+string(img.ManifestDigest), nil, "")
	if cached, err := b.cache.lookup(key); err != nil || cached != nil {
		sr.st = cached
		b.logStep(ins, true)
		b.cached++
		return err
	}
	b.logStep(ins, false)
	sr.st, err = b.cache.importBase(img, key)
	return err
}

// scratchConfig is the config of an empty image for this host (or platform).
func scratchConfig(platform string) ocispec.Image {
	p, _ := image.ParsePlatform(platform)
	return ocispec.Image{Platform: p, RootFS: ocispec.RootFS{Type: "layers", DiffIDs: []ocispec.Digest{}}}
}

// step runs one instruction after FROM.
func (sr *stageRun) step(ins Instruction, globals map[string]string) error {
	b := sr.b
	switch ins.Cmd {
	case "ARG":
		// An ARG changes no image; its value enters the keys of the
		// steps after it.
		k, v, err := b.argValue(ins, sr.args, sr.st.config.Config.Env)
		if err != nil {
			return err
		}
		// ARG NAME without a default takes the global ARG's value, unless
		// --build-arg gave one.
		if _, given := b.o.BuildArgs[k]; !given && !strings.Contains(ins.Rest, "=") {
			if g, ok := globals[k]; ok {
				v = g
			}
		}
		if _, ok := sr.args[k]; !ok {
			sr.argOrder = append(sr.argOrder, k)
		}
		sr.args[k] = v
		return nil
	case "SHELL":
		sr.shell = slices.Clone(ins.JSON)
		if len(sr.shell) == 0 {
			return fmt.Errorf("SHELL needs at least one word")
		}
		return nil
	}
	b.steps++
	if ins.Cmd == "CMD" {
		defer func() { sr.cmdSet = true }()
	}
	var content string
	var prepared *copyPlan
	if ins.Cmd == "COPY" || ins.Cmd == "ADD" {
		p, err := sr.planCopy(ins)
		if err != nil {
			return err
		}
		prepared, content = p, p.digest
	}
	text := ins.Original
	if ins.Cmd == "RUN" {
		// What a RUN makes depends on its shell and on whether it had
		// the network: a step run with --network host is not reused by
		// a build without it, nor the reverse.
		if ins.JSON == nil {
			text += " " + strings.Join(sr.shell, " ")
		}
		text += " network=" + b.o.Network
	}
	key := stepKey(sr.st.key, text, argsInEffect(sr.args, sr.argOrder), content)
	cached, err := b.cache.lookup(key)
	if err != nil {
		return err
	}
	if cached != nil {
		b.logStep(ins, true)
		b.cached++
		sr.st = cached
		return nil
	}
	b.logStep(ins, false)
	next := sr.st.child(key)
	now := time.Now().UTC()
	next.config.Created = &now
	switch ins.Cmd {
	case "RUN":
		err = sr.run(ins, next)
	case "COPY", "ADD":
		err = sr.copy(ins, prepared, next)
	default:
		err = sr.metadata(ins, next)
		next.config.History = append(next.config.History, ocispec.History{Created: &now, CreatedBy: "/bin/sh -c #(nop) " + ins.Original, EmptyLayer: true})
	}
	if err != nil {
		return err
	}
	if err := b.cache.put(next); err != nil {
		return err
	}
	sr.st = next
	return nil
}

// env is the stage's environment for expansion and RUN: the image's Env,
// then the ARGs the Env does not set.
func (sr *stageRun) env() []string {
	return lookupEnvList(sr.st.config.Config.Env, sr.args, sr.argOrder)
}
