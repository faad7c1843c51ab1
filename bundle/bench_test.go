package bundle

import (
	"fmt"
	"path/filepath"
	"testing"

	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/strata-runtime/strata/image/imagetest"
)

// BenchmarkCreate times Create alone, without starting a process, with every
// layer in the store: the part of `strata bundle create` this package owns.
func BenchmarkCreate(b *testing.B) {
	for _, n := range []int{1, 100} {
		b.Run(fmt.Sprintf("layers=%d", n), func(b *testing.B) {
			layers := [][]byte{imagetest.Busybox(b)}
			for i := 1; i < n; i++ {
				layers = append(layers, imagetest.Tar(b, imagetest.Entry{Name: fmt.Sprintf("l%03d", i), Body: "x"}))
			}
			layout := filepath.Join(b.TempDir(), "layout")
			imagetest.WriteLayout(b, layout, "v1", imagetest.Image{Layers: layers, Config: v1.ImageConfig{Cmd: []string{"sh"}}})
			o := CreateOptions{Image: ociRef(layout, "v1"), Store: b.TempDir()}
			dir := b.TempDir()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				o.Bundle = filepath.Join(dir, fmt.Sprint(i))
				if _, err := Create(o); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				if err := Remove(o.Bundle); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
		})
	}
}
