package dataset

import (
	"slices"
	"testing"

	"github.com/bottleneck-ml/bottleneck/tensor"
)

// seqDataset has n rows of width d; row i holds the value i everywhere.
func seqDataset(n, d int) *Dataset {
	x := tensor.New(n, d)
	labels := make([]string, n)
	for i := range n {
		for j := range d {
			x.Row(i)[j] = float32(i)
		}
		labels[i] = string(rune('a' + i%26))
	}
	return &Dataset{X: x, Shape: []int{d}, Labels: labels}
}

// epochOrder returns the row order of one epoch as seen in the batches.
func epochOrder(b *Batcher, epoch int) (order []int, sizes []int) {
	for _, x := range b.All(epoch) {
		sizes = append(sizes, x.Rows())
		for k := range x.Rows() {
			order = append(order, int(x.Row(k)[0]))
		}
	}
	return order, sizes
}

func TestBatcher(t *testing.T) {
	ds := seqDataset(10, 3)
	b := NewBatcher(ds, 4, 42)
	if b.NumBatches() != 3 {
		t.Errorf("NumBatches = %d; want 3", b.NumBatches())
	}
	o1, sizes := epochOrder(b, 1)
	if !slices.Equal(sizes, []int{4, 4, 2}) {
		t.Errorf("batch sizes %v; want [4 4 2]", sizes)
	}
	sorted := slices.Sorted(slices.Values(o1))
	if !slices.Equal(sorted, []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}) {
		t.Errorf("epoch does not visit every row once: %v", o1)
	}
	o2, _ := epochOrder(b, 2)
	if slices.Equal(o1, o2) {
		t.Errorf("epochs 1 and 2 have the same order %v", o1)
	}
	// Same seed and epoch → same order, whatever ran before.
	o1again, _ := epochOrder(NewBatcher(ds, 4, 42), 1)
	if !slices.Equal(o1, o1again) {
		t.Errorf("seed 42 epoch 1: %v then %v", o1, o1again)
	}
	if o, _ := epochOrder(NewBatcher(ds, 4, 43), 1); slices.Equal(o, o1) {
		t.Errorf("seeds 42 and 43 give the same order")
	}
	// Next/Indices agree with the batch contents; full batches come back.
	b.Reset(3)
	for x, ok := b.Next(); ok; x, ok = b.Next() {
		for k, r := range b.Indices() {
			if int(x.Row(k)[2]) != r {
				t.Fatalf("batch row %d holds %v, Indices says %d", k, x.Row(k), r)
			}
		}
	}
	b.Reset(4)
	if x, _ := b.Next(); x.Rows() != 4 {
		t.Errorf("after a partial batch, the next epoch starts with %d rows", x.Rows())
	}
	// Unshuffled order, early break, batch larger than the data.
	b.Shuffle = false
	if o, _ := epochOrder(b, 5); !slices.Equal(o, []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}) {
		t.Errorf("unshuffled order %v", o)
	}
	for i := range b.All(0) {
		if i > 0 {
			t.Fatal("iteration did not stop at break")
		}
		break
	}
	if big := NewBatcher(ds, 100, 1); big.Size() != 10 || big.NumBatches() != 1 {
		t.Errorf("batch 100 over 10 rows: size %d, %d batches", big.Size(), big.NumBatches())
	}
}

func TestBatcherImageShape(t *testing.T) {
	ds := &Dataset{X: tensor.New(5, 1, 2, 2), Shape: []int{1, 2, 2}}
	b := NewBatcher(ds, 2, 0)
	for _, x := range b.All(0) {
		if len(x.Shape) != 4 || x.Shape[1] != 1 || x.Shape[2] != 2 || x.Shape[3] != 2 {
			t.Fatalf("batch shape %v", x.Shape)
		}
	}
}

func TestBatcherAllocs(t *testing.T) {
	ds := seqDataset(100, 8)
	b := NewBatcher(ds, 7, 1)
	epoch := 0
	allocs := testing.AllocsPerRun(100, func() {
		if _, ok := b.Next(); !ok {
			epoch++
			b.Reset(epoch)
		}
	})
	if allocs != 0 {
		t.Errorf("Next/Reset allocate %v times per batch; want 0", allocs)
	}
	// The iterator allocates its closure once per epoch, never per batch.
	allocs = testing.AllocsPerRun(20, func() {
		for range b.All(epoch) {
		}
	})
	if allocs > 2 {
		t.Errorf("All allocates %v times per epoch of %d batches; want ≤ 2", allocs, b.NumBatches())
	}
}

func TestSplitSubset(t *testing.T) {
	ds := seqDataset(20, 2)
	tr, val := Split(ds, 0.25, 7)
	if tr.Len() != 15 || val.Len() != 5 {
		t.Fatalf("Split 0.25 of 20: %d + %d", tr.Len(), val.Len())
	}
	seen := map[int]bool{}
	for _, part := range []*Dataset{tr, val} {
		prev := -1
		for i := range part.Len() {
			r := int(part.X.Row(i)[0])
			if seen[r] || r <= prev {
				t.Fatalf("row %d repeated or out of order", r)
			}
			seen[r], prev = true, r
			if part.Labels[i] != ds.Labels[r] {
				t.Errorf("label of row %d = %q; want %q", r, part.Labels[i], ds.Labels[r])
			}
		}
	}
	tr2, val2 := Split(ds, 0.25, 7)
	if !slices.Equal(val.X.Data, val2.X.Data) || !slices.Equal(tr.X.Data, tr2.X.Data) {
		t.Errorf("Split is not deterministic")
	}
	if _, v := Split(ds, 0.25, 8); slices.Equal(v.X.Data, val.X.Data) {
		t.Errorf("seeds 7 and 8 give the same split")
	}
	for _, tc := range []struct {
		frac         float64
		ntrain, nval int
	}{{0, 20, 0}, {0.01, 19, 1}, {0.99, 1, 19}, {1, 0, 20}, {-1, 20, 0}} {
		tr, val := Split(ds, tc.frac, 1)
		if tr.Len() != tc.ntrain || val.Len() != tc.nval {
			t.Errorf("Split(%v) = %d + %d; want %d + %d", tc.frac, tr.Len(), val.Len(), tc.ntrain, tc.nval)
		}
	}
	sub := ds.Subset([]int{3, 1})
	if !slices.Equal(sub.X.Data, []float32{3, 3, 1, 1}) || !slices.Equal(sub.Labels, []string{"d", "b"}) {
		t.Errorf("Subset = %v %q", sub.X.Data, sub.Labels)
	}
}
