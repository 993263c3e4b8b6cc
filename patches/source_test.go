package patches

import (
	"slices"
	"testing"

	"github.com/bottleneck-ml/bottleneck/noise"
)

func sourceTask(t *testing.T, kind string) *Task {
	t.Helper()
	tk := &Task{Kind: kind, Pool: FromImages(true, ramp(40, 30), ramp(20, 20)), Patch: 8}
	switch kind {
	case "denoise":
		nm, err := noise.Parse("gaussian:25")
		if err != nil {
			t.Fatal(err)
		}
		tk.Noise = &nm
	case "upscale":
		tk.Scales = []int{2, 4}
	}
	if err := tk.Check(); err != nil {
		t.Fatal(err)
	}
	return tk
}

// epoch returns copies of the inputs and targets of epoch e.
func epoch(t *testing.T, s *Source, e int) (xs, ys [][]float32) {
	t.Helper()
	for range s.Epoch(e) {
		x, y, err := s.Next()
		if err != nil {
			t.Fatal(err)
		}
		xs = append(xs, slices.Clone(x.Data))
		ys = append(ys, slices.Clone(y.Data))
	}
	return xs, ys
}

func same(a, b [][]float32) bool {
	return slices.EqualFunc(a, b, func(x, y []float32) bool { return slices.Equal(x, y) })
}

// TestSourceEpochs: the batches of an epoch depend only on the seed and
// the epoch number — not on what was drawn before, nor on another source
// of the same task drawing in between — and differ between epochs.
func TestSourceEpochs(t *testing.T) {
	for _, kind := range []string{"reconstruct", "denoise", "upscale", "colorize"} {
		tk := sourceTask(t, kind)
		a := tk.Source(3, 4, 7)
		x0, y0 := epoch(t, a, 0)
		x1, y1 := epoch(t, a, 1)
		if len(x0) != 4 || a.Len() != 12 || a.BatchSize() != 3 {
			t.Errorf("%s: %d batches, Len %d, BatchSize %d; want 4, 12, 3", kind, len(x0), a.Len(), a.BatchSize())
		}
		if same(x0, x1) || same(y0, y1) {
			t.Errorf("%s: epochs 0 and 1 draw the same batches", kind)
		}
		other := tk.Source(3, 4, 8)
		b := tk.Source(3, 4, 7)
		bx, by := epoch(t, b, 1) // epoch 1 first, as after a resume
		epoch(t, other, 0)
		bx0, by0 := epoch(t, b, 0)
		if !same(bx, x1) || !same(by, y1) || !same(bx0, x0) || !same(by0, y0) {
			t.Errorf("%s: a second source with the same seed draws other batches", kind)
		}
		if ox, _ := epoch(t, other, 1); same(ox, x1) {
			t.Errorf("%s: seeds 7 and 8 draw the same batches", kind)
		}
	}
}

// TestSourceTargets: plain reconstruction returns one tensor as input and
// target; the other tasks fill a target of their own shape.
func TestSourceTargets(t *testing.T) {
	for _, c := range []struct {
		kind    string
		in, out int
	}{{"reconstruct", 3, 3}, {"denoise", 3, 3}, {"upscale", 1, 1}, {"colorize", 1, 2}} {
		s := sourceTask(t, c.kind).Source(2, 1, 1)
		s.Epoch(0)
		x, y, err := s.Next()
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(x.Shape, []int{2, c.in, 8, 8}) || !slices.Equal(y.Shape, []int{2, c.out, 8, 8}) {
			t.Errorf("%s: shapes %v, %v; want [2 %d 8 8], [2 %d 8 8]", c.kind, x.Shape, y.Shape, c.in, c.out)
		}
		if (x == y) != (c.kind == "reconstruct") {
			t.Errorf("%s: input and target are the same tensor: %v", c.kind, x == y)
		}
		if c.kind == "denoise" && slices.Equal(x.Data, y.Data) {
			t.Error("denoise: the input has no noise")
		}
	}
}

// TestSourceFingerprint: the fingerprint tells apart the task, the patch
// and batch layout, the seed and the noise, not another copy of the same.
func TestSourceFingerprint(t *testing.T) {
	base := sourceTask(t, "denoise").Source(4, 10, 1).Fingerprint()
	if f := sourceTask(t, "denoise").Source(4, 10, 1).Fingerprint(); f != base {
		t.Errorf("the same source: %q vs %q", f, base)
	}
	if f := sourceTask(t, "denoise").Source(4, 10, 2).Fingerprint(); f == base {
		t.Errorf("another seed gives the same fingerprint %q", f)
	}
	mask, _ := noise.Parse("mask:0.3")
	otherNoise := sourceTask(t, "denoise")
	otherNoise.Noise = &mask
	bigger := sourceTask(t, "denoise")
	bigger.Patch = 16
	morePixels := sourceTask(t, "denoise")
	morePixels.Pool = FromImages(true, ramp(40, 30), ramp(20, 20), ramp(10, 10))
	for name, f := range map[string]string{
		"reconstruct": sourceTask(t, "reconstruct").Source(4, 10, 1).Fingerprint(),
		"batch":       sourceTask(t, "denoise").Source(8, 10, 1).Fingerprint(),
		"steps":       sourceTask(t, "denoise").Source(4, 20, 1).Fingerprint(),
		"noise":       otherNoise.Source(4, 10, 1).Fingerprint(),
		"patch":       bigger.Source(4, 10, 1).Fingerprint(),
		"pool":        morePixels.Source(4, 10, 1).Fingerprint(),
	} {
		if f == base {
			t.Errorf("other %s: same fingerprint %q", name, f)
		}
	}
	up := sourceTask(t, "upscale")
	a := up.Source(4, 10, 1).Fingerprint()
	up.Scales = []int{2}
	if up.Source(4, 10, 1).Fingerprint() == a {
		t.Error("other scales: same fingerprint")
	}
}
