package bundle

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/strata-runtime/strata/image"
	"github.com/strata-runtime/strata/image/ocispec"
)

// Diff writes the bundle's changes (its overlay upper directory) as an OCI
// layer to out, replacing out only once the whole layer is written.
func Diff(dir, out string, c image.Compression) (image.DiffBlob, error) {
	tmp, err := os.CreateTemp(filepath.Dir(out), "."+filepath.Base(out)+".")
	if err != nil {
		return image.DiffBlob{}, fmt.Errorf("bundle diff %s: %w", dir, err)
	}
	defer os.Remove(tmp.Name())
	blob, err := DiffTo(dir, tmp, c)
	if cerr := tmp.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("bundle diff %s: %w", dir, cerr)
	}
	if err == nil {
		if rerr := os.Rename(tmp.Name(), out); rerr != nil {
			err = fmt.Errorf("bundle diff %s: %w", dir, rerr)
		}
	}
	if err != nil {
		return image.DiffBlob{}, err
	}
	return blob, nil
}

// DiffTo writes the bundle's changes as an OCI layer to w (standard output
// for `diff -o -`).
func DiffTo(dir string, w io.Writer, c image.Compression) (image.DiffBlob, error) {
	upper, rec, err := overlayUpper(dir)
	if err != nil {
		return image.DiffBlob{}, err
	}
	exclude, err := runtimeMountpoints(dir, rec)
	if err != nil {
		return image.DiffBlob{}, err
	}
	view, release, err := containerView(upper, rec)
	if err != nil {
		return image.DiffBlob{}, fmt.Errorf("bundle diff %s: %w", dir, err)
	}
	defer release()
	blob, err := image.WriteDiffBlob(view, w, c, exclude)
	if err != nil {
		return image.DiffBlob{}, fmt.Errorf("bundle diff %s: %w", dir, err)
	}
	return blob, nil
}

// runtimeMountpoints finds the directories the runtime made in upper only to
// mount on (/proc, /dev, /sys when the image lacks them): empty, plain, named
// by a mount in config.json and absent from every layer. They are not the
// container's changes, so diff leaves them out, as docker's init layer does.
func runtimeMountpoints(dir string, rec *Record) (map[string]bool, error) {
	var spec struct {
		Mounts []struct {
			Destination string `json:"destination"`
		} `json:"mounts"`
	}
	if err := readJSONFile(filepath.Join(dir, "config.json"), &spec); err != nil {
		return nil, err
	}
	store, err := image.OpenStore(rec.Store)
	if err != nil {
		return nil, err
	}
	exclude := map[string]bool{}
	for _, m := range spec.Mounts {
		rel := strings.TrimPrefix(path.Clean("/"+m.Destination), "/")
		if rel == "" || !emptyPlainDir(filepath.Join(dir, upperDir, rel)) {
			continue
		}
		inLayer := false
		for _, d := range rec.Layers {
			if _, err := os.Lstat(filepath.Join(store.LayerDir(d), rel)); err == nil {
				inLayer = true
				break
			}
		}
		if !inLayer {
			exclude[rel] = true
		}
	}
	return exclude, nil
}

// emptyPlainDir reports whether p is an empty directory without xattrs
// (an opaque directory is a change even when empty).
func emptyPlainDir(p string) bool {
	entries, err := os.ReadDir(p)
	if err != nil || len(entries) > 0 {
		return false
	}
	n, err := unix.Llistxattr(p, nil)
	return err == nil && n == 0
}

func readJSONFile(p string, v any) error {
	data, err := os.ReadFile(p)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("%s: %w", p, err)
	}
	return nil
}

func overlayUpper(dir string) (string, *Record, error) {
	rec, err := ReadRecord(dir)
	if err != nil {
		return "", nil, err
	}
	if rec.Copy {
		return "", nil, fmt.Errorf("bundle %s was created with --copy: it has no overlay upper directory recording its changes", dir)
	}
	return filepath.Join(dir, upperDir), rec, nil
}

// CommitOptions describe a commit of a bundle's changes as a new image.
type CommitOptions struct {
	Bundle   string
	Target   image.Ref // must be an oci: layout; its Tag names the new image
	Message  string
	Compress image.Compression
}

// Commit writes the bundle's changes as a layer on top of its image, with a
// config whose diff_ids and history are extended, a manifest and a tag in
// the target layout: the result is an image `bundle create` accepts. Base
// layer blobs the target lacks are copied from the bundle's source image.
func Commit(o CommitOptions) (ocispec.Descriptor, error) {
	if o.Target.Transport != image.OCILayout || o.Target.Tag == "" {
		return ocispec.Descriptor{}, fmt.Errorf("commit target %s: expected oci:DIR:TAG", o.Target)
	}
	upper, rec, err := overlayUpper(o.Bundle)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	store, err := image.OpenStore(rec.Store)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	var base ocispec.Manifest
	if err := readStoredJSON(store, rec.Manifest, &base); err != nil {
		return ocispec.Descriptor{}, err
	}
	rawConfig, err := store.ReadBlob(rec.Config)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	w, err := image.OpenLayoutWriter(o.Target.Path)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	defer w.Close()
	if err := copyBaseLayers(w, rec, base.Layers); err != nil {
		return ocispec.Descriptor{}, err
	}
	exclude, err := runtimeMountpoints(o.Bundle, rec)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	view, release, err := containerView(upper, rec)
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("bundle commit %s: %w", o.Bundle, err)
	}
	defer release()
	var diff image.DiffBlob
	layer, err := w.WriteBlob(func(out io.Writer) (ocispec.Descriptor, error) {
		var err error
		diff, err = image.WriteDiffBlob(view, out, o.Compress, exclude)
		return diff.Descriptor, err
	})
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	args, err := containerArgs(o.Bundle)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	newConfig, err := extendConfig(rawConfig, diff.DiffID, len(base.Layers), o.Message, args)
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("image config %s: %w", rec.Config, err)
	}
	configDesc, err := w.PutBlob(ocispec.MediaTypeImageConfig, newConfig)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	m := ocispec.Manifest{SchemaVersion: 2, MediaType: ocispec.MediaTypeImageManifest, Config: configDesc}
	for _, l := range base.Layers {
		// Docker schema2 layer types have OCI equivalents for the same bytes.
		c, err := image.Decompression(l.MediaType)
		if err != nil {
			return ocispec.Descriptor{}, err
		}
		m.Layers = append(m.Layers, ocispec.Descriptor{MediaType: image.LayerMediaType(c), Digest: l.Digest, Size: l.Size})
	}
	m.Layers = append(m.Layers, layer)
	rawManifest, err := json.Marshal(m)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	manifestDesc, err := w.PutBlob(ocispec.MediaTypeImageManifest, rawManifest)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	if err := w.Tag(manifestDesc, o.Target.Tag); err != nil {
		return ocispec.Descriptor{}, err
	}
	return manifestDesc, nil
}

func readStoredJSON(store *image.Store, d ocispec.Digest, v any) error {
	data, err := store.ReadBlob(d)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("store blob %s: %w", d, err)
	}
	return nil
}

// copyBaseLayers puts into the target layout the base image's layer blobs it
// does not hold yet, read from the image the bundle was created from.
func copyBaseLayers(w *image.LayoutWriter, rec *Record, layers []ocispec.Descriptor) error {
	var src *image.Image
	defer func() {
		if src != nil {
			src.Close()
		}
	}()
	for i, l := range layers {
		if w.HasBlob(l.Digest) {
			continue
		}
		if src == nil {
			ref, err := image.ParseRef(rec.Image)
			if err != nil {
				return err
			}
			if src, err = image.Open(ref, rec.Platform); err != nil {
				return fmt.Errorf("commit needs base layer %s from the bundle's image: %w", l.Digest, err)
			}
			if src.ManifestDigest != rec.Manifest {
				return fmt.Errorf("commit needs base layer %s, but image %s now has manifest %s, not the bundle's %s", l.Digest, rec.Image, src.ManifestDigest, rec.Manifest)
			}
		}
		rc, err := src.OpenLayer(i)
		if err != nil {
			return err
		}
		err = w.CopyBlob(l, rc)
		rc.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// containerArgs is the command the bundle's container runs (config.json's
// process.args, which the user may have edited since create).
func containerArgs(dir string) ([]string, error) {
	var spec struct {
		Process *struct {
			Args []string `json:"args"`
		} `json:"process"`
	}
	if err := readJSONFile(filepath.Join(dir, "config.json"), &spec); err != nil {
		return nil, err
	}
	if spec.Process == nil || len(spec.Process.Args) == 0 {
		return nil, fmt.Errorf("%s: process.args is empty: no command to record in the image", filepath.Join(dir, "config.json"))
	}
	return spec.Process.Args, nil
}

// setCommand records the container's command as the image's, as podman and
// docker commit do: Cmd is what follows the image's Entrypoint in args, or,
// when args no longer start with it, args whole with no Entrypoint (what
// --entrypoint would have given under podman).
func setCommand(config json.RawMessage, args []string) (json.RawMessage, error) {
	fields := map[string]json.RawMessage{}
	if len(config) > 0 && string(config) != "null" {
		if err := json.Unmarshal(config, &fields); err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
	}
	var entrypoint []string
	if e, ok := fields["Entrypoint"]; ok {
		if err := json.Unmarshal(e, &entrypoint); err != nil {
			return nil, fmt.Errorf("config.Entrypoint: %w", err)
		}
	}
	cmd := args
	if len(args) >= len(entrypoint) && slices.Equal(args[:len(entrypoint)], entrypoint) {
		cmd = args[len(entrypoint):]
	} else {
		delete(fields, "Entrypoint")
	}
	b, err := json.Marshal(cmd)
	if err != nil {
		return nil, err
	}
	fields["Cmd"] = b
	return json.Marshal(fields)
}

// extendConfig adds a layer to an image config, keeping every field it does
// not touch (docker configs carry more than the OCI type knows), and records
// args, the container's command, as the image's command and in history.
func extendConfig(raw []byte, diffID ocispec.Digest, baseLayers int, message string, args []string) ([]byte, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return nil, err
	}
	config, err := setCommand(fields["config"], args)
	if err != nil {
		return nil, err
	}
	fields["config"] = config
	var rootfs ocispec.RootFS
	var history []ocispec.History
	if err := json.Unmarshal(fields["rootfs"], &rootfs); err != nil {
		return nil, fmt.Errorf("rootfs: %w", err)
	}
	if h, ok := fields["history"]; ok {
		if err := json.Unmarshal(h, &history); err != nil {
			return nil, fmt.Errorf("history: %w", err)
		}
	}
	// History must keep one non-empty entry per layer; an image without
	// history gets placeholder entries for its base layers.
	now := time.Now().UTC()
	nonEmpty := 0
	for _, h := range history {
		if !h.EmptyLayer {
			nonEmpty++
		}
	}
	for ; nonEmpty < baseLayers; nonEmpty++ {
		history = append(history, ocispec.History{Created: &now, CreatedBy: "(base layer)"})
	}
	rootfs.DiffIDs = append(rootfs.DiffIDs, diffID)
	// docker commit's created_by: the command that made the changes.
	history = append(history, ocispec.History{Created: &now, CreatedBy: strings.Join(args, " "), Comment: message})
	for k, v := range map[string]any{"rootfs": rootfs, "history": history, "created": now} {
		b, err := json.Marshal(v)
		if err != nil {
			return nil, err
		}
		fields[k] = b
	}
	return json.Marshal(fields)
}
