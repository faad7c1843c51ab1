package build

import (
	"encoding/json"
	"fmt"
	"maps"
	"path"
	"slices"
	"strings"

	"github.com/strata-runtime/strata/image/ocispec"
)

// metadata applies an instruction that changes only the config.
func (sr *stageRun) metadata(ins Instruction, next *state) error {
	b := sr.b
	c := &next.config.Config
	env := lookupEnv(c.Env, sr.args)
	words := func() ([]string, error) { return expandWords(b.file.Escape, ins.Rest, env) }
	switch ins.Cmd {
	case "ENV", "LABEL":
		w, err := words()
		if err != nil {
			return err
		}
		pairs, err := keyValues(ins.Cmd, w)
		if err != nil {
			return err
		}
		for _, kv := range pairs {
			if ins.Cmd == "ENV" {
				c.Env = setEnv(c.Env, kv[0], kv[1])
				// Later words of the same ENV see the earlier ones.
				env = lookupEnv(c.Env, sr.args)
			} else {
				if c.Labels == nil {
					c.Labels = map[string]string{}
				}
				c.Labels[kv[0]] = kv[1]
			}
		}
	case "WORKDIR":
		dir, err := expandWord(b.file.Escape, ins.Rest, env)
		if err != nil {
			return err
		}
		if !path.IsAbs(dir) {
			dir = path.Join("/", c.WorkingDir, dir)
		}
		c.WorkingDir = path.Clean(dir)
	case "USER":
		u, err := expandWord(b.file.Escape, ins.Rest, env)
		if err != nil {
			return err
		}
		c.User = u
	case "EXPOSE":
		w, err := words()
		if err != nil {
			return err
		}
		if c.ExposedPorts == nil {
			c.ExposedPorts = map[string]struct{}{}
		}
		for _, p := range w {
			if !strings.Contains(p, "/") {
				p += "/tcp"
			}
			c.ExposedPorts[p] = struct{}{}
		}
	case "VOLUME":
		vols := ins.JSON
		if vols == nil {
			var err error
			if vols, err = words(); err != nil {
				return err
			}
		}
		if c.Volumes == nil {
			c.Volumes = map[string]struct{}{}
		}
		for _, v := range vols {
			c.Volumes[v] = struct{}{}
		}
	case "CMD":
		c.Cmd = sr.command(ins)
	case "ENTRYPOINT":
		c.Entrypoint = sr.command(ins)
		// As docker: a new ENTRYPOINT drops the Cmd inherited from the base.
		if !sr.cmdSet {
			c.Cmd = nil
		}
	case "STOPSIGNAL":
		s, err := expandWord(b.file.Escape, ins.Rest, env)
		if err != nil {
			return err
		}
		c.StopSignal = s
	case "MAINTAINER":
		next.config.Author = ins.Rest
	default:
		return fmt.Errorf("instruction %s is not handled", ins.Cmd)
	}
	return nil
}

// command is CMD's or ENTRYPOINT's argv: the exec form as given, the shell
// form through the stage's SHELL.
func (sr *stageRun) command(ins Instruction) []string {
	if ins.JSON != nil {
		return slices.Clone(ins.JSON)
	}
	return append(slices.Clone(sr.shell), ins.Rest)
}

// keyValues reads ENV's and LABEL's KEY=VALUE words, or the old one-pair
// form KEY VALUE... (ENV only).
func keyValues(cmd string, words []string) ([][2]string, error) {
	if len(words) > 0 && !strings.Contains(words[0], "=") {
		if cmd != "ENV" || len(words) < 2 {
			return nil, fmt.Errorf("%s takes KEY=VALUE pairs", cmd)
		}
		return [][2]string{{words[0], strings.Join(words[1:], " ")}}, nil
	}
	var out [][2]string
	for _, w := range words {
		k, v, ok := strings.Cut(w, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("%s: %q is not KEY=VALUE", cmd, w)
		}
		out = append(out, [2]string{k, v})
	}
	return out, nil
}

// setEnv sets k in place if env has it, as docker does, else appends it.
func setEnv(env []string, k, v string) []string {
	out := slices.Clone(env)
	for i, e := range out {
		if strings.HasPrefix(e, k+"=") {
			out[i] = k + "=" + v
			return out
		}
	}
	return append(out, k+"="+v)
}

func cloneConfig(c ocispec.ImageConfig) ocispec.ImageConfig {
	c.ExposedPorts = maps.Clone(c.ExposedPorts)
	c.Env = slices.Clone(c.Env)
	c.Entrypoint = slices.Clone(c.Entrypoint)
	c.Cmd = slices.Clone(c.Cmd)
	c.Volumes = maps.Clone(c.Volumes)
	c.Labels = maps.Clone(c.Labels)
	return c
}

func decodeConfig(raw []byte, v *ocispec.Image) error {
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("image config: %w", err)
	}
	return nil
}
