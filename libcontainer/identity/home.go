// Package identity finds the HOME a container's process expects (its
// groups, gid, uid and umask are plan steps: libcontainer/plan).
package identity

import (
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/moby/sys/user"
)

// HomeDir returns the home directory of uid from root's /etc/passwd, or "/"
// when there is no such file or entry: like runc, the uid does not have to
// exist in the image. Call it after pivot_root (root "/"), so that a symlinked
// /etc/passwd resolves inside the container and not on the host.
func HomeDir(root string, uid uint32) string {
	f, err := os.Open(filepath.Join(root, "etc/passwd"))
	if err != nil {
		return "/"
	}
	defer f.Close()
	return HomeIn(f, uid)
}

// HomeIn is HomeDir reading an open /etc/passwd.
func HomeIn(passwd io.Reader, uid uint32) string {
	users, err := user.ParsePasswdFilter(passwd, func(u user.User) bool {
		return u.Uid == int(uid)
	})
	if err != nil || len(users) == 0 || users[0].Home == "" {
		return "/"
	}
	return users[0].Home
}

// WithHome returns env with HOME=home() appended when env sets no HOME, as
// runc does; an explicit HOME, even empty, is kept (and home not called).
func WithHome(env []string, home func() string) []string {
	for _, kv := range env {
		if strings.HasPrefix(kv, "HOME=") {
			return env
		}
	}
	return append(env[:len(env):len(env)], "HOME="+home())
}
