// Package identity gives the container's process its user: groups, gid, uid,
// umask, and the HOME it expects.
package identity

import (
	"path/filepath"
	"strconv"
	"strings"

	"github.com/moby/sys/user"
)

// HomeDir returns the home directory of uid from root's /etc/passwd, or "/"
// when there is no such file or entry: like runc, the uid does not have to
// exist in the image. Call it after pivot_root (root "/"), so that a symlinked
// /etc/passwd resolves inside the container and not on the host.
func HomeDir(root string, uid uint32) string {
	users, err := user.ParsePasswdFileFilter(filepath.Join(root, "etc/passwd"), func(u user.User) bool {
		return u.Uid == int(uid)
	})
	if err != nil || len(users) == 0 || users[0].Home == "" {
		return "/"
	}
	return users[0].Home
}

// WithHome returns env with HOME=<home of uid> appended when env sets no HOME,
// as runc does; an explicit HOME, even empty, is kept.
func WithHome(env []string, root string, uid uint32) []string {
	for _, kv := range env {
		if strings.HasPrefix(kv, "HOME=") {
			return env
		}
	}
	return append(env[:len(env):len(env)], "HOME="+HomeDir(root, uid))
}

// formatIDs renders ids for error messages.
func formatIDs(ids []uint32) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = strconv.FormatUint(uint64(id), 10)
	}
	return "[" + strings.Join(s, " ") + "]"
}
