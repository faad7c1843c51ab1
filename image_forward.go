//go:build !strata_image

package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"
)

// imageSideName is the image side's executable (see image_side.go).
const imageSideName = "strata-image"

var (
	buildCommand      = forwarded("build", buildUsage)
	bundleCommand     = forwarded("bundle", bundleUsage)
	checkCommand      = forwarded("check", checkUsage)
	checkpointCommand = forwarded("checkpoint", checkpointUsage)
	pullCommand       = forwarded("pull", pullUsage)
	pushCommand       = forwarded("push", pushUsage)
	restoreCommand    = forwarded("restore", restoreUsage)
)

// forwarded is a command of the image side: strata-image parses its flags
// (its --help too) and runs it.
func forwarded(name, usage string) *cli.Command {
	return &cli.Command{
		Name:            name,
		Usage:           usage + " (runs " + imageSideName + ")",
		SkipFlagParsing: true,
		HideHelp:        true,
		Action:          func(*cli.Context) error { return execImageSide(name) },
	}
}

// execImageSide replaces this process with strata-image, given strata's
// own arguments as they came (global flags included: both executables have
// the same), so its exit status, output and signals are the command's.
func execImageSide(name string) error {
	path, err := imageSidePath()
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	argv := append([]string{path}, os.Args[1:]...)
	return fmt.Errorf("%s: exec %s: %w", name, path, unix.Exec(path, argv, os.Environ()))
}

// imageSidePath finds strata-image beside this executable, where `make`
// builds it and where it is installed with strata, else in $PATH.
func imageSidePath() (string, error) {
	self, err := os.Executable()
	if err != nil {
		return "", err
	}
	beside := filepath.Join(filepath.Dir(self), imageSideName)
	if _, err := os.Stat(beside); err == nil {
		return beside, nil
	}
	if p, err := exec.LookPath(imageSideName); err == nil {
		return p, nil
	} else if !errors.Is(err, exec.ErrNotFound) {
		return "", err
	}
	return "", fmt.Errorf("this command is strata's image side, the executable %s, and there is none at %s or in $PATH (install it beside strata: `make` builds both)", imageSideName, beside)
}
