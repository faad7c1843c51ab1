// Command webserver stands in for the nginx and httpd images critest runs
// (registry.k8s.io/e2e-test-images/nginx, httpd, cri-tools' hostnet-nginx),
// which no registry the tests can reach serves. Installed under the name
// of the server it replaces (/usr/sbin/nginx), it does what critest looks
// for: it answers GET / with 200 on the port given as its argument, writes
// /var/run/NAME.pid, logs "NAME: listening on :PORT", and shows
// "NAME: master process" in its command line, as nginx does, while its
// process name stays NAME (pidof finds it).
package main

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

const title = "master process"

func main() {
	exe, err := os.Executable()
	if err != nil || len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: NAME PORT (NAME: the server it stands in for)")
		os.Exit(2)
	}
	name := filepath.Base(exe)
	if !strings.HasSuffix(os.Args[0], title) {
		// Once, to retitle: the kernel names the process after exe's
		// file name, and /proc/PID/cmdline shows the new argv[0].
		err := syscall.Exec(exe, []string{name + ": " + title, os.Args[1]}, os.Environ())
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := os.WriteFile("/var/run/"+name+".pid", []byte(fmt.Sprintln(os.Getpid())), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("%s: listening on :%s\n", name, os.Args[1])
	http.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintf(w, "<html>%s</html>\n", name) })
	fmt.Fprintln(os.Stderr, http.ListenAndServe(":"+os.Args[1], nil))
	os.Exit(1)
}
