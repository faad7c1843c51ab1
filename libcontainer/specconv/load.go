package specconv

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Load reads <bundle>/config.json. It only decodes: Validate checks the content.
// Unknown fields are accepted, as the spec allows extensions.
func Load(bundle string) (*specs.Spec, error) {
	data, err := os.ReadFile(filepath.Join(bundle, "config.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("bundle %q: config.json not found", bundle)
	}
	if err != nil {
		return nil, fmt.Errorf("bundle %q: %w", bundle, err)
	}
	var s specs.Spec
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("bundle %q: config.json: %s", bundle, describeJSONError(data, err))
	}
	return &s, nil
}

// describeJSONError says where the JSON went wrong in terms a person editing
// the file can use: a line and column, and for a wrong type the field's path.
func describeJSONError(data []byte, err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Sprintf("invalid JSON at %s: %s", position(data, syn.Offset), syn.Error())
	case errors.As(err, &typ):
		// Field is dotted ("process.rlimits.0.hard"; v1's decoder leaves
		// out the index), and the position pins down the element.
		field := typ.Field
		if field == "" {
			field = "(top level)"
		}
		return fmt.Sprintf("%s: got %s, expected %s, at %s", field, typ.Value, jsonKind(typ.Type), position(data, typ.Offset))
	}
	return err.Error()
}

// position turns a decoder's error offset into "line L, column C (byte B)"
// of the offending byte, all counted from 1.
func position(data []byte, offset int64) string {
	pos := int(min(max(offset-jsonOffsetPast, 0), int64(len(data))))
	line := 1 + bytes.Count(data[:pos], []byte("\n"))
	col := pos - bytes.LastIndexByte(data[:pos], '\n')
	return fmt.Sprintf("line %d, column %d (byte %d)", line, col, pos+1)
}

// jsonKind names a Go type by the JSON value it decodes from.
func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "an integer"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return fmt.Sprintf("an integer from 0 to %d", ^uint64(0)>>(64-t.Bits()))
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Map, reflect.Struct:
		return "an object"
	case reflect.Pointer:
		return jsonKind(t.Elem())
	}
	return t.String()
}

// LoadProcess reads a process.json (`strata exec --process`): a Process as
// config.json's "process" holds it.
func LoadProcess(path string) (*specs.Process, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--process %s: %w", path, err)
	}
	var p specs.Process
	if err := json.Unmarshal(data, &p); err != nil {
		return nil, fmt.Errorf("--process %s: %s", path, describeJSONError(data, err))
	}
	return &p, nil
}
