package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// The runner's binary plays two more parts, chosen before flags are parsed:
//
//   - started with $enterEnv set, it joins the cgroups listed there and execs
//     its arguments: that is how a test executable starts inside its own
//     cgroup in every hierarchy, before it can create any container;
//   - started by the name wrapperName (a symlink in the work directory, which
//     the suite gets as $RUNTIME), it execs the runtime under test with a
//     private --root, so the suite's containers never mix with anyone else's
//     state, and, if asked, rewrites the bundle's ociVersion first.
const (
	enterEnv      = "STRATA_VALIDATION_ENTER_CGROUPS"
	realEnv       = "STRATA_VALIDATION_RUNTIME"
	rootEnv       = "STRATA_VALIDATION_ROOT"
	ociVersionEnv = "STRATA_VALIDATION_OCI_VERSION"
	wrapperName   = "runtime-under-test"
)

// helperMode runs one of the two parts if this process was started for it;
// it returns only if not.
func helperMode() {
	if filepath.Base(os.Args[0]) == wrapperName {
		die(wrapRuntime(os.Args[1:]))
	}
	if dirs := os.Getenv(enterEnv); dirs != "" {
		os.Unsetenv(enterEnv)
		if err := enterCgroups(strings.Split(dirs, ":")); err != nil {
			die(err)
		}
		die(syscall.Exec(os.Args[1], os.Args[1:], os.Environ()))
	}
}

func die(err error) {
	fmt.Fprintln(os.Stderr, "validation:", err)
	os.Exit(125)
}

func wrapRuntime(args []string) error {
	real, root := os.Getenv(realEnv), os.Getenv(rootEnv)
	if real == "" || root == "" {
		return fmt.Errorf("%s and %s must be set", realEnv, rootEnv)
	}
	if v := os.Getenv(ociVersionEnv); v != "" && len(args) > 0 && (args[0] == "create" || args[0] == "run") {
		if err := rewriteOCIVersion(bundleArg(args[1:]), v); err != nil {
			return err
		}
	}
	return syscall.Exec(real, append([]string{real, "--root", root}, args...), os.Environ())
}

// bundleArg is the --bundle (-b) value of a create or run command line, "."
// by default as the runtime CLI spec says.
func bundleArg(args []string) string {
	for i, a := range args {
		for _, flag := range []string{"--bundle", "-b"} {
			if a == flag && i+1 < len(args) {
				return args[i+1]
			}
			if v, ok := strings.CutPrefix(a, flag+"="); ok {
				return v
			}
		}
	}
	return "."
}

// rewriteOCIVersion sets config.json's ociVersion, leaving every other field
// as the test wrote it. crun 1.8 refuses the suite's 1.3.0.
func rewriteOCIVersion(bundle, version string) error {
	path := filepath.Join(bundle, "config.json")
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var config map[string]json.RawMessage
	if err := json.Unmarshal(data, &config); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	config["ociVersion"], _ = json.Marshal(version)
	if data, err = json.Marshal(config); err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o644)
}
