//go:build cri

package cri

import (
	"archive/tar"
	"runtime"
	"testing"

	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/strata-runtime/strata/image/imagetest"
)

// critestRepo is where critest's own test images live upstream; containerd's
// mirror sends gcr.io to the test's registry.
const critestRepo = "k8s-staging-cri-tools/"

// pushCritestImages makes the images critest pulls, as cri-tools'
// images/build makes them (FROM busybox, plus a file or a USER), from the
// same busybox layer, and the e2e images it names from programs of the
// test's own. One cannot be made: test-image-digest is named by the digest
// of the upstream build (see docs/kubernetes.md).
func pushCritestImages(t *testing.T, dir string, reg *registry) {
	t.Helper()
	base := busyboxLayer(t)
	withFile := func(name string) builtImage {
		return buildImage(t, busyboxConfig, base, imagetest.Tar(t, imagetest.Entry{Name: name}))
	}
	for _, name := range []string{"test-image-1", "test-image-2", "test-image-3", "test-image-latest"} {
		reg.push(t, critestRepo+name, "latest", withFile(name))
	}
	same := withFile("same-image")
	for _, tag := range []string{"1", "2", "3"} {
		reg.push(t, critestRepo+"test-image-tags", tag, same)
	}
	for _, tag := range []string{"test", "all"} {
		reg.push(t, critestRepo+"test-image-tag", tag, withFile(tag))
	}
	for name, user := range map[string]string{
		"test-image-user-uid": "1002", "test-image-user-username": "www-data",
		"test-image-user-uid-group": "1003:1004", "test-image-user-username-group": "www-data:1004",
	} {
		cfg := busyboxConfig
		cfg.User = user
		reg.push(t, critestRepo+name, "latest", buildImage(t, cfg, base))
	}
	// adduser -u 1000 default-user; addgroup -g 50000 group-defined-in-image
	// with default-user in it; USER 1000.
	predefined := imagetest.Tar(t,
		imagetest.Entry{Name: "etc/passwd", Body: busyboxPasswd + "default-user:x:1000:1000::/home/default-user:/bin/sh\n"},
		imagetest.Entry{Name: "etc/group", Body: busyboxGroup + "default-user:x:1000:\ngroup-defined-in-image:x:50000:default-user\n"})
	cfg := busyboxConfig
	cfg.User = "1000"
	reg.push(t, critestRepo+"test-image-predefined-group", "latest", buildImage(t, cfg, base, predefined))
	// The web servers and no_new_privs' setuid program: programs of the
	// test's own in the images' places (see ./webserver, ./nnp).
	web := goProgram(t, dir, "webserver")
	reg.push(t, "e2e-test-images/nginx", "1.14-2", buildImage(t, webServer("nginx", "80"), base, webLayer(t, "nginx", web)))
	reg.push(t, critestRepo+"hostnet-nginx-"+runtime.GOARCH, "latest", buildImage(t, webServer("nginx", "12003"), base, webLayer(t, "nginx", web)))
	reg.push(t, "e2e-test-images/httpd", "2.4.39-4", buildImage(t, webServer("httpd", "80"), base, webLayer(t, "httpd", web)))
	nnp := imagetest.Tar(t, imagetest.Entry{Name: "usr/local/bin/", Type: tar.TypeDir},
		imagetest.Entry{Name: "usr/local/bin/nnp", Body: string(goProgram(t, dir, "nnp")), Mode: 0o4755})
	nnpConfig := busyboxConfig
	nnpConfig.Entrypoint = []string{"/usr/local/bin/nnp"}
	reg.push(t, "e2e-test-images/nonewprivs", "1.3", buildImage(t, nnpConfig, base, nnp))
}

// webServer runs the stand-in web server as name on port.
func webServer(name, port string) v1.ImageConfig {
	cfg := busyboxConfig
	cfg.Cmd = []string{"/usr/sbin/" + name, port}
	return cfg
}

// webLayer installs the web server as /usr/sbin/name, with /var/run for
// its pid file.
func webLayer(t *testing.T, name string, program []byte) []byte {
	return imagetest.Tar(t, imagetest.Entry{Name: "var/run/", Type: tar.TypeDir}, imagetest.Entry{Name: "usr/", Type: tar.TypeDir},
		imagetest.Entry{Name: "usr/sbin/", Type: tar.TypeDir}, imagetest.Entry{Name: "usr/sbin/" + name, Body: string(program), Mode: 0o755})
}
