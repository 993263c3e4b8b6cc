package ae

import (
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/bottleneck-ml/bottleneck/tensor"
)

// TestStoreHalf: a conv VAE stored in half precision is about half the
// bytes, decodes, and reconstructs within half precision's rounding of
// the float32 model; a file that is not a model is refused.
func TestStoreHalf(t *testing.T) {
	m := newModel(t, smallConvVAE(LikelihoodBernoulli), 3)
	path := filepath.Join(t.TempDir(), "m.safetensors")
	if err := m.Save(path); err != nil {
		t.Fatal(err)
	}
	full, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	half, err := StoreHalf(full)
	if err != nil {
		t.Fatal(err)
	}
	h, err := Decode(half)
	if err != nil {
		t.Fatal(err)
	}
	wf, wh := m.Params.W, h.Params.W
	var body int
	for i, v := range wf {
		body += 2
		if d := math.Abs(float64(wh[i] - v)); d > math.Abs(float64(v))/2048+6e-8 {
			t.Fatalf("weight %d: %v stored as %v", i, v, wh[i])
		}
	}
	if saved := len(full) - len(half); saved < body*9/10 {
		t.Errorf("half file %d bytes, full %d: saved %d, want about %d", len(half), len(full), saved, body)
	}
	x := tensor.New(2, 1, 8, 8)
	for i := range x.Data {
		x.Data[i] = float32(i%7) / 7
	}
	a, err := m.Reconstruct(nil, x)
	if err != nil {
		t.Fatal(err)
	}
	b, err := h.Reconstruct(nil, x)
	if err != nil {
		t.Fatal(err)
	}
	for i := range a.Data {
		if d := math.Abs(float64(a.Data[i] - b.Data[i])); d > 5e-3 {
			t.Fatalf("reconstruction %d: %v from float32 weights, %v from half", i, a.Data[i], b.Data[i])
		}
	}
	if _, err := StoreHalf([]byte("not a model")); err == nil {
		t.Error("StoreHalf of garbage: no error")
	}
}
