// Command probe makes raw system calls inside a container, for the compat
// suite's seccomp cases: busybox offers no way to call a syscall by number.
//
//	probe NR...   prints "NR errno" for each, or "NR ok" when it succeeded
//
// Arguments are all zero: what matters is whether the seccomp filter lets
// the call reach the kernel (EFAULT/EINVAL) or answers it itself.
package main

import (
	"fmt"
	"os"
	"strconv"
	"syscall"
)

func main() {
	for _, arg := range os.Args[1:] {
		nr, err := strconv.Atoi(arg)
		if err != nil {
			fmt.Fprintf(os.Stderr, "probe: %q is not a syscall number\n", arg)
			os.Exit(2)
		}
		_, _, errno := syscall.RawSyscall6(uintptr(nr), 0, 0, 0, 0, 0, 0)
		if errno == 0 {
			fmt.Println(nr, "ok")
		} else {
			fmt.Println(nr, errnoName(errno))
		}
	}
}

// errnoName spells the few errnos a filter answers with by name, so the
// output reads as the seccomp profile does.
func errnoName(e syscall.Errno) string {
	switch e {
	case syscall.EPERM:
		return "EPERM"
	case syscall.ENOSYS:
		return "ENOSYS"
	}
	return "reached-kernel"
}
