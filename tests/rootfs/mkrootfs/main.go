// Command mkrootfs writes a busybox rootfs into the directory given as its
// argument (used by `make demo`; the tests call the rootfs package directly).
package main

import (
	"fmt"
	"os"

	"github.com/strata-runtime/strata/tests/rootfs"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: mkrootfs DIR")
		os.Exit(2)
	}
	if err := rootfs.Build(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "mkrootfs:", err)
		os.Exit(1)
	}
}
