package specconv

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func writeConfig(t *testing.T, content string) string {
	t.Helper()
	bundle := t.TempDir()
	if err := os.WriteFile(filepath.Join(bundle, "config.json"), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return bundle
}

func TestLoadRoundTrip(t *testing.T) {
	t.Parallel()
	data, err := json.MarshalIndent(Example(), "", "\t")
	if err != nil {
		t.Fatal(err)
	}
	s, err := Load(writeConfig(t, string(data)))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(s, Example()) {
		t.Errorf("Load(Example) = %+v, want Example()", s)
	}
}

func TestLoadErrors(t *testing.T) {
	t.Parallel()
	missing := t.TempDir()
	if _, err := Load(missing); err == nil || err.Error() != `bundle "`+missing+`": config.json not found` {
		t.Errorf("missing config.json: %v", err)
	}
	for _, tc := range []struct {
		name, config string
		want         []string // in the error, each
	}{
		{"syntax", "{\n  \"ociVersion\": \"1.0.0\",\n  \"root\" {}\n}", []string{"invalid JSON at line 3, column 10"}},
		{"truncated", `{"ociVersion": "1.0.0",`, []string{"unexpected end of JSON input"}},
		{"trailing data", `{} x`, []string{"line 1, column 4"}},
		{"wrong type", "{\"process\": {\"rlimits\": [{\"type\": \"RLIMIT_NOFILE\", \"hard\": \"1024\"}]}}",
			// v1's decoder leaves the index out of the field, v2's has it.
			[]string{"process.rlimits.", "hard: got string, expected an integer from 0 to 18446744073709551615, at line 1, column"}},
		{"negative uid", `{"process": {"user": {"uid": -1}}}`, []string{"process.user.uid: got number -1, expected an integer from 0 to 4294967295"}},
		{"args not array", `{"process": {"args": "sh"}}`, []string{"process.args: got string, expected an array"}},
		{"top level", `[]`, []string{"(top level): got array, expected an object"}},
	} {
		bundle := writeConfig(t, tc.config)
		_, err := Load(bundle)
		if err == nil {
			t.Errorf("%s: loaded", tc.name)
			continue
		}
		if !strings.HasPrefix(err.Error(), `bundle "`+bundle+`": config.json: `) {
			t.Errorf("%s: error %q does not name the bundle's config.json", tc.name, err)
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q, want it to contain %q", tc.name, err, w)
			}
		}
	}
}
