package dataset

import (
	"fmt"
	"iter"
	"math/rand/v2"

	"github.com/bottleneck-ml/bottleneck/tensor"
)

// Batcher iterates mini-batches of a Dataset, copying rows into one
// preallocated batch tensor of shape [size, Shape...]: after NewBatcher no
// call allocates. The last batch of an epoch is partial (its first
// dimension shrinks, via tensor.SetRows). The order of epoch e is a
// Fisher–Yates shuffle seeded by (seed, e) with a PCG, so it depends only on
// the seed and the epoch number, not on what was iterated before.
//
// The batch tensor is reused: it is valid until the next call to Next.
//
// Use either Reset + Next:
//
//	b.Reset(epoch)
//	for x, ok := b.Next(); ok; x, ok = b.Next() { ... }
//
// or the iterator: for i, x := range b.All(epoch) { ... }.
type Batcher struct {
	// Shuffle is true after NewBatcher; set it to false to visit rows in
	// order (e.g. for scoring). It takes effect at the next Reset.
	Shuffle bool

	ds    *Dataset
	size  int
	seed  uint64
	pcg   *rand.PCG
	rng   *rand.Rand
	perm  []int
	pos   int
	cur   []int
	batch *tensor.Tensor
}

// NewBatcher returns a Batcher over ds with batches of size rows (at most
// ds.Len()), shuffling with the given seed. It panics if size < 1.
func NewBatcher(ds *Dataset, size int, seed uint64) *Batcher {
	if size < 1 {
		panic(fmt.Sprintf("dataset: NewBatcher: batch size %d < 1", size))
	}
	size = max(min(size, ds.Len()), 1)
	pcg := rand.NewPCG(seed, 0)
	b := &Batcher{
		Shuffle: true,
		ds:      ds,
		size:    size,
		seed:    seed,
		pcg:     pcg,
		rng:     rand.New(pcg),
		perm:    make([]int, ds.Len()),
		batch:   tensor.New(append([]int{size}, ds.Shape...)...),
	}
	b.Reset(0)
	return b
}

// Size is the full batch size.
func (b *Batcher) Size() int { return b.size }

// NumBatches is the number of batches per epoch (the last may be partial).
func (b *Batcher) NumBatches() int { return (len(b.perm) + b.size - 1) / b.size }

// Reset starts epoch: rows are reordered (when Shuffle) and iteration
// restarts at the first batch.
func (b *Batcher) Reset(epoch int) {
	for i := range b.perm {
		b.perm[i] = i
	}
	if b.Shuffle {
		b.pcg.Seed(b.seed, uint64(epoch))
		shuffle(b.rng, b.perm)
	}
	b.pos = 0
	b.cur = b.perm[:0]
}

// Next fills and returns the next batch, or false at the end of the epoch.
func (b *Batcher) Next() (*tensor.Tensor, bool) {
	if b.pos >= len(b.perm) {
		b.cur = b.perm[:0]
		return nil, false
	}
	n := min(b.size, len(b.perm)-b.pos)
	b.cur = b.perm[b.pos : b.pos+n]
	b.pos += n
	b.batch.SetRows(n)
	x := b.ds.X
	d := x.Cols()
	for k, r := range b.cur {
		copy(b.batch.Data[k*d:(k+1)*d], x.Data[r*d:(r+1)*d])
	}
	return b.batch, true
}

// Indices returns the dataset rows of the current batch, in batch order
// (e.g. to look up Labels). It shares memory with the Batcher.
func (b *Batcher) Indices() []int { return b.cur }

// All resets to epoch and yields (batch number, batch tensor) for every
// batch of it.
func (b *Batcher) All(epoch int) iter.Seq2[int, *tensor.Tensor] {
	return func(yield func(int, *tensor.Tensor) bool) {
		b.Reset(epoch)
		for i := 0; ; i++ {
			x, ok := b.Next()
			if !ok || !yield(i, x) {
				return
			}
		}
	}
}
