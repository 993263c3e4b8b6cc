package train

import (
	"slices"
	"strings"
	"testing"

	"github.com/bottleneck-ml/bottleneck/dataset"
	"github.com/bottleneck-ml/bottleneck/noise"
	"github.com/bottleneck-ml/bottleneck/tensor"
)

// epochBatches returns copies of the inputs and targets of epoch e.
func epochBatches(t *testing.T, s Source, e int) (xs, ys [][]float32) {
	t.Helper()
	n := s.Epoch(e)
	for range n {
		x, y, err := s.Next()
		if err != nil {
			t.Fatal(err)
		}
		xs = append(xs, slices.Clone(x.Data))
		ys = append(ys, slices.Clone(y.Data))
	}
	return xs, ys
}

func equalBatches(a, b [][]float32) bool {
	return slices.EqualFunc(a, b, func(x, y []float32) bool { return slices.Equal(x, y) })
}

// TestRowsNoise: a denoising source's noise depends only on the seed and
// the epoch (a resumed run sees the same corrupted inputs), changes from
// epoch to epoch, and leaves the targets clean.
func TestRowsNoise(t *testing.T) {
	ds := toyData(50, 16, 1)
	nm, err := noise.Parse("gaussian:25")
	if err != nil {
		t.Fatal(err)
	}
	src := func() *Rows { return NewRows(ds, RowsOptions{Batch: 16, Seed: 3, Noise: &nm}) }
	a := src()
	x0, _ := epochBatches(t, a, 0)
	x1, y1 := epochBatches(t, a, 1)
	again, _ := epochBatches(t, a, 1)
	b := src() // epoch 1 first, as after a resume
	fresh, _ := epochBatches(t, b, 1)
	if !equalBatches(x1, again) || !equalBatches(x1, fresh) {
		t.Error("epoch 1's noisy inputs differ between passes")
	}
	if equalBatches(x0, x1) {
		t.Error("epochs 0 and 1 have the same noise")
	}
	// the targets are the clean rows, each once per epoch
	plain := NewRows(ds, RowsOptions{Batch: 16, Seed: 3})
	_, clean := epochBatches(t, plain, 1)
	if !equalBatches(y1, clean) {
		t.Error("targets are not the clean rows in the shuffled order")
	}
	for i := range x1 {
		if slices.Equal(x1[i], y1[i]) {
			t.Errorf("batch %d: input equals target; want noise", i)
		}
	}
	// another seed, other noise
	c := NewRows(ds, RowsOptions{Batch: 16, Seed: 4, Noise: &nm})
	if other, _ := epochBatches(t, c, 1); equalBatches(other, x1) {
		t.Error("seeds 3 and 4 give the same noisy inputs")
	}
}

// TestRowsOrder: training rows are a permutation of the data per epoch,
// the same for the same (seed, epoch); Ordered keeps them in order; the
// last batch is partial; Next past the end is an error.
func TestRowsOrder(t *testing.T) {
	const n, d = 37, 3
	x := tensor.New(n, d)
	for i := range x.Data {
		x.Data[i] = float32(i / d)
	}
	ds := &dataset.Dataset{X: x, Shape: []int{d}}
	for _, ordered := range []bool{false, true} {
		r := NewRows(ds, RowsOptions{Batch: 10, Seed: 1, Ordered: ordered})
		if r.Len() != n || r.BatchSize() != 10 {
			t.Errorf("Len %d, BatchSize %d; want %d, 10", r.Len(), r.BatchSize(), n)
		}
		var first []int
		for e := range 2 {
			xs, ys := epochBatches(t, r, e)
			if len(xs) != 4 || len(xs[3]) != 7*d {
				t.Fatalf("%d batches, last of %d values; want 4, the last of 7 rows", len(xs), len(xs[len(xs)-1]))
			}
			var rows []int
			for i, b := range xs {
				if !slices.Equal(b, ys[i]) {
					t.Error("input and target differ without noise")
				}
				for j := 0; j < len(b); j += d {
					rows = append(rows, int(b[j]))
				}
			}
			sorted := slices.Sorted(slices.Values(rows))
			for i, v := range sorted {
				if v != i {
					t.Fatalf("epoch %d visits rows %v; want each row once", e, rows)
				}
			}
			switch {
			case ordered && !slices.Equal(rows, sorted):
				t.Errorf("ordered rows come as %v", rows)
			case !ordered && slices.Equal(rows, sorted):
				t.Error("training rows are not shuffled")
			case !ordered && e == 1 && slices.Equal(rows, first):
				t.Error("epochs 0 and 1 have the same order")
			}
			first = rows
		}
		if _, _, err := r.Next(); err == nil || !strings.HasPrefix(err.Error(), "train: ") {
			t.Errorf("Next past the epoch: err = %v; want a train: error", err)
		}
	}
}

// TestRowsFingerprint: the fingerprint tells apart other rows, another
// batch size, seed and noise, and not another copy of the same rows.
func TestRowsFingerprint(t *testing.T) {
	ds := toyData(40, 16, 1)
	g, _ := noise.Parse("gaussian:25")
	m, _ := noise.Parse("mask:0.3")
	base := NewRows(ds, RowsOptions{Batch: 8}).Fingerprint()
	if same := NewRows(toyData(40, 16, 1), RowsOptions{Batch: 8}).Fingerprint(); same != base {
		t.Errorf("the same rows: %q vs %q", same, base)
	}
	changed := toyData(40, 16, 1)
	changed.X.Data[len(changed.X.Data)-1] += 0.5
	for name, r := range map[string]*Rows{
		"other rows":     NewRows(toyData(40, 16, 2), RowsOptions{Batch: 8}),
		"one value":      NewRows(changed, RowsOptions{Batch: 8}),
		"fewer rows":     NewRows(toyData(39, 16, 1), RowsOptions{Batch: 8}),
		"other batch":    NewRows(ds, RowsOptions{Batch: 16}),
		"other seed":     NewRows(ds, RowsOptions{Batch: 8, Seed: 9}),
		"gaussian noise": NewRows(ds, RowsOptions{Batch: 8, Noise: &g}),
	} {
		if f := r.Fingerprint(); f == base {
			t.Errorf("%s: same fingerprint %q", name, f)
		}
	}
	if NewRows(ds, RowsOptions{Batch: 8, Noise: &g}).Fingerprint() == NewRows(ds, RowsOptions{Batch: 8, Noise: &m}).Fingerprint() {
		t.Error("gaussian and mask noise: same fingerprint")
	}
}

// TestRowsAllocs: after NewRows a batch allocates nothing, noisy or not.
func TestRowsAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation count")
	}
	ds := toyData(64, 16, 1)
	nm, _ := noise.Parse("gaussian:25")
	for _, o := range []RowsOptions{{Batch: 16}, {Batch: 16, Noise: &nm}} {
		r := NewRows(ds, o)
		e := 0
		if a := testing.AllocsPerRun(10, func() {
			n := r.Epoch(e)
			for range n {
				if _, _, err := r.Next(); err != nil {
					t.Fatal(err)
				}
			}
			e++
		}); a != 0 {
			t.Errorf("noise %v: %v allocations per epoch; want 0", o.Noise != nil, a)
		}
	}
}
