package ocispec

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// The documents strata rewrites must come out as image-spec's own types
// write them, every field kept: each sample is decoded into both, encoded
// again, and the bytes compared.
func TestJSONMatchesImageSpec(t *testing.T) {
	const d1 = "sha256:" + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	const d2 = "sha256:" + "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"
	desc := `{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"` + d1 + `","size":7,` +
		`"urls":["https://example.com/b"],"annotations":{"org.opencontainers.image.ref.name":"v1","z":"1"},` +
		`"data":"aGVsbG8=","platform":{"architecture":"arm64","os":"linux","os.version":"10","os.features":["f"],"variant":"v8"},` +
		`"artifactType":"application/x-art"}`
	minimal := `{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"` + d2 + `","size":0}`
	samples := []struct {
		name       string
		ours, spec any
		doc        string
	}{
		{"descriptor", &Descriptor{}, &v1.Descriptor{}, desc},
		{"minimal descriptor", &Descriptor{}, &v1.Descriptor{}, minimal},
		{"manifest", &Manifest{}, &v1.Manifest{}, `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",` +
			`"artifactType":"a/b","config":` + minimal + `,"layers":[` + desc + `,` + minimal + `],"subject":` + minimal + `,"annotations":{"k":"v"}}`},
		{"minimal manifest", &Manifest{}, &v1.Manifest{}, `{"schemaVersion":2,"config":` + minimal + `,"layers":null}`},
		{"index", &Index{}, &v1.Index{}, `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json",` +
			`"artifactType":"a/b","manifests":[` + desc + `],"subject":` + minimal + `,"annotations":{"k":"v"}}`},
		{"empty index", &Index{}, &v1.Index{}, `{"schemaVersion":2,"manifests":[]}`},
		{"layout", &ImageLayout{}, &v1.ImageLayout{}, `{"imageLayoutVersion":"1.0.0"}`},
		{"rootfs", &RootFS{}, &v1.RootFS{}, `{"type":"layers","diff_ids":["` + d1 + `","` + d2 + `"]}`},
		{"history", &[]History{}, &[]v1.History{}, `[{"created":"2024-01-02T03:04:05.000000006Z","created_by":"sh","author":"a","comment":"c","empty_layer":true},{}]`},
		{"platform", &Platform{}, &v1.Platform{}, `{"architecture":"amd64","os":"linux"}`},
	}
	for _, s := range samples {
		t.Run(s.name, func(t *testing.T) {
			for _, v := range []any{s.ours, s.spec} {
				if err := json.Unmarshal([]byte(s.doc), v); err != nil {
					t.Fatal(err)
				}
			}
			ours, err := json.Marshal(s.ours)
			if err != nil {
				t.Fatal(err)
			}
			spec, err := json.Marshal(s.spec)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(ours, spec) {
				t.Errorf("ocispec writes\n%s\nimage-spec writes\n%s", ours, spec)
			}
		})
	}
}

// Image and ImageConfig hold the fields strata reads: each must decode as
// image-spec's does.
func TestImageConfigReadsAsImageSpec(t *testing.T) {
	doc := `{"created":"2024-01-02T03:04:05Z","author":"me","architecture":"arm64","os":"linux","os.version":"1",
		"os.features":["x"],"variant":"v8","config":{"User":"1:2","ExposedPorts":{"80/tcp":{}},"Env":["A=b"],
		"Entrypoint":["/e"],"Cmd":["c"],"Volumes":{"/v":{}},"WorkingDir":"/w","Labels":{"l":"v"},"StopSignal":"SIGINT",
		"ArgsEscaped":true,"Healthcheck":{"Test":["NONE"]}},"rootfs":{"type":"layers","diff_ids":[]},
		"history":[{"created_by":"x"}],"container":"docker's own"}`
	var ours Image
	var spec v1.Image
	for _, v := range []any{&ours, &spec} {
		if err := json.Unmarshal([]byte(doc), v); err != nil {
			t.Fatal(err)
		}
	}
	// Re-encode image-spec's value without the fields strata does not
	// read, and decode it as ours: the same value must come out.
	spec.Config.ArgsEscaped = false //nolint:staticcheck // deprecated, not read by strata
	raw, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	var viaSpec Image
	if err := json.Unmarshal(raw, &viaSpec); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(ours, viaSpec) {
		t.Errorf("decoded\n%+v\nimage-spec's reading gives\n%+v", ours, viaSpec)
	}
	if ours.Config.User != "1:2" || ours.Variant != "v8" || ours.Config.StopSignal != "SIGINT" || len(ours.History) != 1 {
		t.Errorf("decoded %+v", ours)
	}
}

func TestConstantsMatchImageSpec(t *testing.T) {
	for ours, spec := range map[string]string{
		MediaTypeDescriptor: v1.MediaTypeDescriptor, MediaTypeImageLayout: v1.MediaTypeLayoutHeader,
		MediaTypeImageIndex: v1.MediaTypeImageIndex, MediaTypeImageManifest: v1.MediaTypeImageManifest,
		MediaTypeImageConfig: v1.MediaTypeImageConfig, MediaTypeImageLayer: v1.MediaTypeImageLayer,
		MediaTypeImageLayerGzip: v1.MediaTypeImageLayerGzip, MediaTypeImageLayerZstd: v1.MediaTypeImageLayerZstd,
		MediaTypeImageLayerNonDistributable:     v1.MediaTypeImageLayerNonDistributable,     //nolint:staticcheck
		MediaTypeImageLayerNonDistributableGzip: v1.MediaTypeImageLayerNonDistributableGzip, //nolint:staticcheck
		MediaTypeImageLayerNonDistributableZstd: v1.MediaTypeImageLayerNonDistributableZstd, //nolint:staticcheck
		AnnotationRefName:                       v1.AnnotationRefName,
		ImageLayoutFile:                         v1.ImageLayoutFile, ImageLayoutVersion: v1.ImageLayoutVersion,
	} {
		if ours != spec {
			t.Errorf("%q, image-spec says %q", ours, spec)
		}
	}
}

// Validate accepts exactly the digests go-digest accepted in strata (which
// links sha256 only), and the digests agree.
func TestDigestMatchesGoDigest(t *testing.T) {
	hex64 := strings.Repeat("0123456789abcdef", 4)
	cases := []string{
		"", ":", "sha256", "sha256:", ":" + hex64, "sha256:" + hex64, "sha256:" + strings.ToUpper(hex64),
		"sha256:" + hex64[:63], "sha256:" + hex64 + "0", "sha256:" + hex64[:63] + "g", "sha256:" + hex64[:63] + "=",
		"sha512:" + hex64 + hex64, "sha384:" + hex64, "md5:abc", "SHA256:" + hex64, "sha256+b64u:abc",
		"sha256.x:" + hex64, "sha256..x:abc", "-sha:abc", "sha-:abc", "sha256:" + hex64 + ":", "sha256 :" + hex64,
		"sha256:" + hex64 + "\n", "a:b", "a_b:c=d", "a:b/c",
	}
	for _, c := range cases {
		ourErr, theirErr := Digest(c).Validate(), digest.Digest(c).Validate()
		if (ourErr == nil) != (theirErr == nil) {
			t.Errorf("Validate(%q) = %v, go-digest says %v", c, ourErr, theirErr)
		}
		if ourErr != nil && !errors.Is(ourErr, ErrDigestFormat) && !errors.Is(ourErr, ErrDigestUnsupported) && !errors.Is(ourErr, ErrDigestEncoding) {
			t.Errorf("Validate(%q) = %v, not one of the package's errors", c, ourErr)
		}
		if ourErr == nil {
			d := digest.Digest(c)
			if got := Digest(c); string(got.Algorithm()) != string(d.Algorithm()) || got.Encoded() != d.Encoded() {
				t.Errorf("%q splits as %q %q, go-digest says %q %q", c, got.Algorithm(), got.Encoded(), d.Algorithm(), d.Encoded())
			}
		}
	}
	for _, data := range []string{"", "x", "hello world"} {
		if got, want := FromBytes([]byte(data)), digest.FromBytes([]byte(data)); string(got) != string(want) {
			t.Errorf("FromBytes(%q) = %s, go-digest says %s", data, got, want)
		}
		if got := FromBytes([]byte(data)); got.Validate() != nil || SHA256.FromBytes([]byte(data)) != got {
			t.Errorf("FromBytes(%q) = %s", data, got)
		}
	}
	if Algorithm("md5").FromBytes([]byte("x")) != "" || Algorithm("md5").Hash() != nil {
		t.Error("an unsupported algorithm hashes")
	}
	if Digest("nocolon").Algorithm() != "" {
		t.Error("a digest without a colon has an algorithm")
	}
}
