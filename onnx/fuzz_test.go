package onnx

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzImport feeds damaged ONNX files to Import: it must return an error
// or a model, never panic. Seeded with the PyTorch fixtures.
func FuzzImport(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.onnx"))
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		mp, err := Unmarshal(b)
		if err != nil {
			return
		}
		if m, err := Import(mp, ImportOptions{}); err == nil && m.NumParams() < 0 {
			t.Fatal("a model with a negative parameter count")
		}
	})
}
