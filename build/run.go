package build

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"time"

	securejoin "github.com/cyphar/filepath-securejoin"

	"github.com/strata-runtime/strata/bundle"
	"github.com/strata-runtime/strata/image"
	"github.com/strata-runtime/strata/image/ocispec"
)

// layerStep makes a bundle of the parent image, lets change alter its
// rootfs, and adds the bundle's diff to next as a layer: the code of
// `strata bundle diff`, whiteouts for what was removed. The bundle is
// removed whatever happens.
func (sr *stageRun) layerStep(next *state, createdBy string, args []string, asRoot bool, change func(id, dir, rootfs string) error) (err error) {
	b := sr.b
	dir, err := os.MkdirTemp(b.tmp, "bundle-")
	if err != nil {
		return err
	}
	id := fmt.Sprintf("strata-build-%d-%d", os.Getpid(), time.Now().UnixNano())
	cgroupsPath := ""
	if b.o.CgroupParent != "" {
		cgroupsPath = path.Join(b.o.CgroupParent, id)
	}
	// Create wants a directory it may claim: an empty one is.
	if _, err := bundle.Create(bundle.CreateOptions{
		Bundle: dir,
		Image:  b.cache.ref(sr.st.key),
		Store:  b.store.Root(),
		Spec: bundle.SpecOptions{
			Args:         args,
			NoEntrypoint: true,
			AsRoot:       asRoot,
			Env:          sr.env(),
			Net:          b.o.Network,
			CgroupsPath:  cgroupsPath,
		},
	}); err != nil {
		return err
	}
	defer func() {
		if rerr := bundle.Remove(dir); rerr != nil && err == nil {
			err = rerr
		}
	}()
	rootfs := filepath.Join(dir, "rootfs")
	if wd := next.config.Config.WorkingDir; wd != "" {
		// As docker and buildah: the WORKDIR exists for the steps after it.
		if err := mkdirInRoot(rootfs, wd); err != nil {
			return fmt.Errorf("WORKDIR %s: %w", wd, err)
		}
	}
	if err := change(id, dir, rootfs); err != nil {
		return err
	}
	w, err := image.OpenLayoutWriter(b.cache.dir)
	if err != nil {
		return err
	}
	defer w.Close()
	var diff image.DiffBlob
	layer, err := w.WriteBlob(func(out io.Writer) (ocispec.Descriptor, error) {
		var err error
		diff, err = bundle.DiffTo(dir, out, image.Gzip)
		return diff.Descriptor, err
	})
	if err != nil {
		return err
	}
	b.cache.journal.blobs = append(b.cache.journal.blobs, layer.Digest)
	now := *next.config.Created
	next.layers = append(next.layers, layer)
	next.config.RootFS.DiffIDs = append(next.config.RootFS.DiffIDs, diff.DiffID)
	next.config.History = append(next.config.History, ocispec.History{Created: &now, CreatedBy: createdBy})
	return nil
}

// run executes RUN in a strata container of the current image, with the
// stage's Env, WorkingDir, User and SHELL; network off unless --network host.
func (sr *stageRun) run(ins Instruction, next *state) error {
	if len(ins.Flags) > 0 {
		return fmt.Errorf("RUN %s is not supported (no RUN flags are)", ins.Flags[0])
	}
	argv := ins.JSON
	createdBy := strings.Join(argv, " ")
	if argv == nil {
		argv = append(append([]string(nil), sr.shell...), ins.Rest)
		createdBy = strings.Join(sr.shell, " ") + " " + ins.Rest
	}
	if len(argv) == 0 {
		return errors.New("RUN [] has no command")
	}
	return sr.layerStep(next, createdBy, argv, false, func(id, dir, _ string) error {
		return sr.runContainer(id, dir)
	})
}

// runContainer runs the bundle with `strata run` under a private --root,
// so that no container state outlives the step.
func (sr *stageRun) runContainer(id, dir string) error {
	b := sr.b
	root, err := os.MkdirTemp(b.tmp, "state-")
	if err != nil {
		return err
	}
	cmd := exec.Command(b.o.Runtime, "--root", root, "run", "--bundle", dir, id)
	cmd.Stdout, cmd.Stderr = b.o.Out, b.o.Out
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("running %s: %w", b.o.Runtime, err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	// On a signal the step's container is killed, not asked: its init, a
	// shell as PID 1, would ignore SIGINT. strata run then returns. The
	// kill is repeated until then, in case the container did not exist yet.
	kill := func() { exec.Command(b.o.Runtime, "--root", root, "kill", id, "KILL").Run() }
	var retry <-chan time.Time
	var tick *time.Ticker
wait:
	for {
		select {
		case s := <-b.signals:
			b.stopped = s
			kill()
			if tick == nil {
				tick = time.NewTicker(100 * time.Millisecond)
				retry = tick.C
			}
		case <-retry:
			kill()
		case err = <-done:
			break wait
		}
	}
	if tick != nil {
		tick.Stop()
	}
	var ee *exec.ExitError
	exited := errors.As(err, &ee) && ee.ExitCode() >= 0
	// strata run deletes its container when it returns, the step's
	// command failed or not; one interrupted, or killed itself, may
	// have left it.
	if b.stopped != nil || (err != nil && !exited) {
		exec.Command(b.o.Runtime, "--root", root, "delete", "--force", id).Run()
	}
	if b.stopped != nil {
		return fmt.Errorf("interrupted by %v", b.stopped)
	}
	if exited {
		return fmt.Errorf("exited with status %d", ee.ExitCode())
	}
	if err != nil {
		return fmt.Errorf("running %s: %w", b.o.Runtime, err)
	}
	return nil
}

// mkdirInRoot creates dir (absolute in the image) and its parents inside
// rootfs, resolving symlinks inside it, as root:root 0755.
func mkdirInRoot(rootfs, dir string) error {
	p, err := securejoin.SecureJoin(rootfs, dir)
	if err != nil {
		return err
	}
	return os.MkdirAll(p, 0o755)
}
