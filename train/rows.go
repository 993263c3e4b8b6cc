package train

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/bottleneck-ml/bottleneck/dataset"
	"github.com/bottleneck-ml/bottleneck/noise"
	"github.com/bottleneck-ml/bottleneck/tensor"
)

// Rows is a Source over the rows (samples) of a dataset in batches of a
// fixed size, the last one of an epoch partial. Training rows are shuffled
// anew every epoch by (Seed, epoch); validation rows keep their order.
// With Noise the inputs are corrupted copies of the rows and the targets
// the clean rows (a denoising autoencoder), the noise of epoch e drawn
// from (Seed, e). After NewRows nothing allocates.
type Rows struct {
	ds      *dataset.Dataset
	batcher *dataset.Batcher
	noise   *noise.Model
	noisy   *tensor.Tensor
	pcg     *rand.PCG
	rng     *rand.Rand
	seed    uint64
}

// RowsOptions configure NewRows.
type RowsOptions struct {
	Batch   int    // rows per batch (at most the dataset's); default 128
	Seed    uint64 // shuffling and noise
	Ordered bool   // keep the rows in order (validation)
	// Noise corrupts the inputs (gaussian:0.1, mask:0.3, …; see package
	// noise); the targets stay clean.
	Noise *noise.Model
}

// NewRows returns a Source over the rows of ds.
func NewRows(ds *dataset.Dataset, o RowsOptions) *Rows {
	if o.Batch <= 0 {
		o.Batch = 128
	}
	b := dataset.NewBatcher(ds, o.Batch, o.Seed)
	b.Shuffle = !o.Ordered
	r := &Rows{ds: ds, batcher: b, noise: o.Noise, seed: o.Seed}
	if o.Noise != nil {
		r.noisy = tensor.New(append([]int{b.Size()}, ds.Shape...)...)
		r.pcg = rand.NewPCG(o.Seed, 0)
		r.rng = rand.New(r.pcg)
	}
	return r
}

// Epoch starts epoch e.
func (r *Rows) Epoch(e int) int {
	r.batcher.Reset(e)
	if r.pcg != nil {
		r.pcg.Seed(r.seed^0x5be0cd19137e2179, uint64(e))
	}
	return r.batcher.NumBatches()
}

// Next returns the next batch: the rows as input and target, or a noisy
// copy as input and the rows as target.
func (r *Rows) Next() (x, y *tensor.Tensor, err error) {
	b, ok := r.batcher.Next()
	if !ok {
		return nil, nil, fmt.Errorf("train: epoch of %d batches is over", r.batcher.NumBatches())
	}
	if r.noise == nil {
		return b, b, nil
	}
	r.noisy.SetRows(b.Rows())
	per := len(b.Data) / max(b.Rows(), 1)
	for i := range b.Rows() {
		r.noise.Apply(r.noisy.Data[i*per:(i+1)*per], b.Data[i*per:(i+1)*per], r.rng)
	}
	return r.noisy, b, nil
}

// Len is the number of rows.
func (r *Rows) Len() int { return r.ds.Len() }

// BatchSize is the rows per full batch.
func (r *Rows) BatchSize() int { return r.batcher.Size() }

// Fingerprint identifies the rows and the batch size: the shape and a hash
// of up to 1,000 rows spread over the data, with the noise.
func (r *Rows) Fingerprint() string {
	x := r.ds.X
	n, d := r.ds.Len(), tensor.Size(r.ds.Shape)
	h := sha256.New()
	var b4 [4]byte
	step := max(1, n/1000)
	for i := 0; i < n; i += step {
		for _, v := range x.Data[i*d : (i+1)*d] {
			binary.LittleEndian.PutUint32(b4[:], math.Float32bits(v))
			h.Write(b4[:])
		}
	}
	s := fmt.Sprintf("%d rows × %v, batch %d, seed %d, sha256 %s", n, r.ds.Shape, r.batcher.Size(), r.seed, hex.EncodeToString(h.Sum(nil))[:16])
	if r.noise != nil {
		s += ", noise " + r.noise.String()
	}
	return s
}
