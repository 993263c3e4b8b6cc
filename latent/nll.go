package latent

import (
	"context"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/bottleneck-ml/bottleneck/ae"
	"github.com/bottleneck-ml/bottleneck/internal/parallel"
	"github.com/bottleneck-ml/bottleneck/tensor"
)

// NLLOptions configure NLL.
type NLLOptions struct {
	Samples int    // importance samples per row (K; default 5000)
	Seed    uint64 // of the samples and of the binarisation
	// Binarize scores Bernoulli samples of the [0,1] data (stochastic
	// binarisation, fixed by Seed), as a model trained on binarised data
	// is measured.
	Binarize bool
	// Progress, when set, is called now and then with the rows done.
	Progress func(done, total int)
}

// NLLResult is the negative log-likelihood of a VAE on data, in nats per
// row, averaged.
type NLLResult struct {
	NLL       float64 `json:"nll"`        // −log p(x), importance-sampled with K samples
	NLLStdErr float64 `json:"nll_stderr"` // standard error of the mean over rows
	NegELBO   float64 `json:"neg_elbo"`   // −ELBO, with the same samples
	Samples   int     `json:"samples"`
	Rows      int     `json:"rows"`
	Binarized bool    `json:"binarized"`
	Seed      uint64  `json:"seed"`
}

// NLL estimates −log p(x) of every row of x under the VAE m by importance
// sampling (ae.Model.LogLikelihood), spread over one copy of the model per
// worker thread. Rows are scored in blocks of 10; block b draws its samples
// from (Seed, b), so the result does not depend on the thread count.
func NLL(ctx context.Context, m *ae.Model, x *tensor.Tensor, o NLLOptions) (NLLResult, error) {
	if !m.IsVAE() {
		return NLLResult{}, fmt.Errorf("latent: the log-likelihood needs a VAE")
	}
	if o.Samples <= 0 {
		o.Samples = 5000
	}
	n := x.Rows()
	if n == 0 {
		return NLLResult{}, fmt.Errorf("latent: no rows to score")
	}
	d := len(x.Data) / n
	if d != tensor.Size(m.Config.Input) {
		return NLLResult{}, fmt.Errorf("latent: rows of %d values; the model takes %v", d, m.Config.Input)
	}
	rng := rand.New(rand.NewPCG(o.Seed, 0x6e6c6c))
	if o.Binarize {
		xb := tensor.New(n, d)
		for i, p := range x.Data[:n*d] {
			if p < 0 || p > 1 {
				return NLLResult{}, fmt.Errorf("latent: value %g is outside [0,1]; binarisation needs probabilities", p)
			}
			if rng.Float32() < p {
				xb.Data[i] = 1
			}
		}
		x = xb
	}
	const block = 10
	nb := (n + block - 1) / block
	logp := make([]float64, n)
	elbo := make([]float64, n)
	workers := min(parallel.Threads(), nb)
	var next, done atomic.Int64
	var firstErr atomic.Pointer[error]
	var wg sync.WaitGroup
	shape := m.Config.Input
	for w := range workers {
		mw := m
		if w > 0 {
			mw = m.Clone()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				b := int(next.Add(1) - 1)
				if b >= nb || ctx.Err() != nil || firstErr.Load() != nil {
					return
				}
				lo, hi := b*block, min((b+1)*block, n)
				r := rand.New(rand.NewPCG(o.Seed, uint64(b)))
				lp, el, err := mw.LogLikelihood(tensor.From(x.Data[lo*d:hi*d], append([]int{hi - lo}, shape...)...), o.Samples, 1000, r)
				if err != nil {
					firstErr.CompareAndSwap(nil, &err)
					return
				}
				copy(logp[lo:hi], lp)
				copy(elbo[lo:hi], el)
				k := done.Add(int64(hi - lo))
				if o.Progress != nil {
					o.Progress(int(k), n)
				}
			}
		}()
	}
	wg.Wait()
	if e := firstErr.Load(); e != nil {
		return NLLResult{}, *e
	}
	if err := ctx.Err(); err != nil {
		return NLLResult{}, fmt.Errorf("latent: log-likelihood interrupted after %d of %d rows: %w", done.Load(), n, err)
	}
	res := NLLResult{NLL: -mean(logp), NegELBO: -mean(elbo), Samples: o.Samples, Rows: n, Binarized: o.Binarize, Seed: o.Seed}
	var v float64
	for _, l := range logp {
		v += (l + res.NLL) * (l + res.NLL)
	}
	if n > 1 {
		res.NLLStdErr = math.Sqrt(v / float64(n-1) / float64(n))
	}
	return res, nil
}

func mean(v []float64) float64 {
	var s float64
	for _, x := range v {
		s += x
	}
	return s / float64(max(len(v), 1))
}

// WriteText writes the result as `bottleneck eval --nll` prints it, with
// the time it took.
func (r NLLResult) WriteText(w io.Writer, seconds float64) error {
	var b strings.Builder
	bins := ""
	if r.Binarized {
		bins = fmt.Sprintf(", binarised with seed %d", r.Seed)
	}
	fmt.Fprintf(&b, "rows        %d%s\n", r.Rows, bins)
	fmt.Fprintf(&b, "−log p(x)   %.2f ± %.2f nats (importance sampling, K=%d)\n", r.NLL, r.NLLStdErr, r.Samples)
	fmt.Fprintf(&b, "−ELBO       %.2f nats\n", r.NegELBO)
	fmt.Fprintf(&b, "time        %.1fs\n", seconds)
	_, err := io.WriteString(w, b.String())
	return err
}
