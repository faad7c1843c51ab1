package identity

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestHomeDir(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	passwd := "root:x:0:0:root:/root:/bin/sh\nweb:x:1000:1000::/srv/web:/bin/sh\nnohome:x:1001:1001:::/bin/sh\n"
	if err := os.WriteFile(filepath.Join(root, "etc/passwd"), []byte(passwd), 0o644); err != nil {
		t.Fatal(err)
	}
	for uid, want := range map[uint32]string{0: "/root", 1000: "/srv/web", 1001: "/", 4242: "/"} {
		if got := HomeDir(root, uid); got != want {
			t.Errorf("HomeDir(%d) = %q, want %q", uid, got, want)
		}
	}
	if got := HomeDir(t.TempDir(), 0); got != "/" {
		t.Errorf("HomeDir without /etc/passwd = %q, want /", got)
	}

	env := []string{"PATH=/bin"}
	got := WithHome(env, func() string { return HomeDir(root, 1000) })
	if !slices.Equal(got, []string{"PATH=/bin", "HOME=/srv/web"}) || len(env) != 1 {
		t.Errorf("WithHome = %q (input now %q)", got, env)
	}
	kept := []string{"HOME="}
	if got := WithHome(kept, func() string { panic("home looked up with HOME set") }); !slices.Equal(got, kept) {
		t.Errorf("WithHome with HOME set = %q, want it unchanged", got)
	}
}
