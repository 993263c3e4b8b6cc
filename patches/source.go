package patches

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"

	"github.com/bottleneck-ml/bottleneck/tensor"
)

// Source is a training source (train.Source) of fresh patch pairs: every
// batch is drawn anew, so an epoch is a number of steps. The draws of
// epoch e come from (seed, e), so a resumed run sees the batches an
// uninterrupted one would.
type Source struct {
	task  *Task
	batch int
	steps int
	seed  uint64
	x, y  *tensor.Tensor
	pcg   *rand.PCG
	rng   *rand.Rand
}

// Source returns a source of steps batches of batch patch pairs per epoch.
func (t *Task) Source(batch, steps int, seed uint64) *Source {
	in, out := t.Channels()
	s := &Source{task: t, batch: max(batch, 1), steps: max(steps, 1), seed: seed}
	s.x = tensor.New(s.batch, in, t.Patch, t.Patch)
	s.y = s.x
	if t.Kind != "reconstruct" || t.Noise != nil {
		s.y = tensor.New(s.batch, out, t.Patch, t.Patch)
	}
	s.pcg = rand.NewPCG(seed, 0)
	s.rng = rand.New(s.pcg)
	return s
}

// Epoch starts epoch e.
func (s *Source) Epoch(e int) int {
	s.pcg.Seed(s.seed, uint64(e))
	return s.steps
}

// Next draws a batch: for plain reconstruction the input is its own target
// (the same tensor).
func (s *Source) Next() (x, y *tensor.Tensor, err error) {
	if s.y == s.x {
		// Fill writes input and target; with one tensor the target copy
		// is the input itself
		s.task.Fill(s.x, s.x, s.rng)
		return s.x, s.x, nil
	}
	s.task.Fill(s.x, s.y, s.rng)
	return s.x, s.y, nil
}

// Len is the number of patches per epoch.
func (s *Source) Len() int { return s.batch * s.steps }

// BatchSize is the patches per batch.
func (s *Source) BatchSize() int { return s.batch }

// Fingerprint identifies the task, the pool and the batch layout.
func (s *Source) Fingerprint() string {
	t := s.task
	f := fmt.Sprintf("%s patches %d, batch %d × %d steps, seed %d, %d images (%d pixels, sha256 %s)", t.Kind, t.Patch, s.batch, s.steps, s.seed, t.Pool.Len(), t.Pool.Pixels(), t.Pool.hash())
	if t.Noise != nil {
		f += ", noise " + t.Noise.String()
	}
	if len(t.Scales) > 0 {
		f += fmt.Sprintf(", scales %v", t.Scales)
	}
	return f
}

// hash identifies the pool's pictures: a SHA-256 of their sizes and of up
// to 4,096 pixels spread over each.
func (p *Pool) hash() string {
	h := sha256.New()
	for _, q := range p.ims {
		fmt.Fprintf(h, "%d×%d;", q.w, q.h)
		step := max(1, len(q.pix)/4096)
		for i := 0; i < len(q.pix); i += step {
			h.Write(q.pix[i : i+1])
		}
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}
