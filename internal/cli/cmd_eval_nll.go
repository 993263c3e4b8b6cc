package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/pflag"

	"github.com/bottleneck-ml/bottleneck/ae"
	"github.com/bottleneck-ml/bottleneck/dataset"
	"github.com/bottleneck-ml/bottleneck/internal/parallel"
	"github.com/bottleneck-ml/bottleneck/tensor"
)

// nllFlags are eval's flags for a VAE's log-likelihood.
type nllFlags struct {
	on       bool
	samples  int
	seed     uint64
	binarize string
}

func (f *nllFlags) add(fs *pflag.FlagSet) {
	fs.BoolVar(&f.on, "nll", false, "VAE: estimate −log p(x) per row by importance sampling (IWAE bound), with the ELBO beside it")
	fs.IntVar(&f.samples, "samples", 5000, "--nll: importance samples per row (K)")
	fs.Uint64Var(&f.seed, "seed", 1, "--nll: seed of the samples and of the binarisation")
	fs.StringVar(&f.binarize, "binarize", "auto", "--nll: score Bernoulli samples of the [0,1] data (stochastic binarisation, fixed by --seed): auto (when the model was trained on binarised data), yes or no")
}

// NLLResult is what eval --nll prints; values are nats per row, averaged.
type NLLResult struct {
	NLL       float64 `json:"nll"`        // −log p(x), importance-sampled with K samples
	NLLStdErr float64 `json:"nll_stderr"` // standard error of the mean over rows
	NegELBO   float64 `json:"neg_elbo"`   // −ELBO, with the same samples
	Samples   int     `json:"samples"`
	Rows      int     `json:"rows"`
	Binarized bool    `json:"binarized"`
	Seed      uint64  `json:"seed"`
	Seconds   float64 `json:"seconds"`
}

// vaeScorer is a VAE, dense or convolutional, as eval --nll uses it.
type vaeScorer interface {
	LogLikelihood(x *tensor.Tensor, k, chunk int, rng *rand.Rand) (logp, elbo []float64, err error)
}

// nllModel is what runNLL scores with: copies of the model for the worker
// threads, the per-row input shape it takes, and whether it was trained
// on binarised data.
type nllModel struct {
	copyFor  func(worker int) vaeScorer // worker 0 may get the model itself
	rowShape []int
	binarize bool
}

func runNLL(ctx context.Context, o *evalOptions, m *ae.Model, ds *dataset.Dataset, stdout io.Writer) error {
	if !m.IsVAE() {
		return usagef("--nll needs a VAE (train one with --arch vae); %s is a %s autoencoder", o.model, m.Config.Arch)
	}
	nm := nllModel{rowShape: []int{m.Config.Input()}, binarize: m.Config.Binarize, copyFor: func(w int) vaeScorer {
		if w == 0 {
			return m
		}
		return m.Clone()
	}}
	return scoreNLL(ctx, o, nm, ds.X, stdout)
}

// runConvNLL is eval --nll for a convolutional VAE on an IDX file.
func runConvNLL(ctx context.Context, o *evalOptions, m *ae.ConvModel, stdout io.Writer) error {
	if !m.IsVAE() {
		return usagef("--nll needs a VAE (train one with --arch vae or --preset mnist-vae-conv); %s is a convolutional autoencoder", o.model)
	}
	opt, err := o.data.options()
	if err != nil {
		return err
	}
	opt.Scale = "" // pixels as the model was trained on them, whatever --scale says
	ds, err := dataset.Load(o.data.path, opt)
	if err != nil {
		return err
	}
	shape := m.Config.InputShape
	if tensor.Size(ds.Shape) != tensor.Size(shape) {
		return usagef("--data %s: samples of shape %v; the model takes %v", o.data.path, ds.Shape, shape)
	}
	nm := nllModel{rowShape: shape, binarize: m.Config.Binarize, copyFor: func(w int) vaeScorer {
		if w == 0 {
			return m
		}
		return m.Clone()
	}}
	return scoreNLL(ctx, o, nm, tensor.From(ds.X.Data, ds.Len(), tensor.Size(shape)), stdout)
}

func scoreNLL(ctx context.Context, o *evalOptions, m nllModel, x *tensor.Tensor, stdout io.Writer) error {
	f := o.nll
	if f.samples < 1 {
		return usagef("--samples %d must be at least 1", f.samples)
	}
	var bin bool
	switch f.binarize {
	case "auto":
		bin = m.binarize
	case "yes", "true":
		bin = true
	case "no", "false":
	default:
		return usagef("--binarize %q: want auto, yes or no", f.binarize)
	}
	n, d := x.Rows(), x.Cols()
	if n == 0 {
		return fmt.Errorf("%s: no rows to score", o.data.path)
	}
	rng := rand.New(rand.NewPCG(f.seed, 0x6e6c6c))
	if bin {
		xb := tensor.New(n, d)
		for i, p := range x.Data[:n*d] {
			if p < 0 || p > 1 {
				return fmt.Errorf("%s: value %g is outside [0,1]; binarisation needs probabilities (pass --binarize no)", o.data.path, p)
			}
			if rng.Float32() < p {
				xb.Data[i] = 1
			}
		}
		x = xb
	}
	start := time.Now()
	// Rows are scored in blocks spread over one model copy per thread; block
	// b draws its samples from PCG(seed, b), so the result does not depend
	// on the thread count.
	const block = 10
	nb := (n + block - 1) / block
	logp := make([]float64, n)
	elbo := make([]float64, n)
	workers := min(parallel.Threads(), nb)
	var next, done atomic.Int64
	var firstErr atomic.Pointer[error]
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		mw := m.copyFor(w)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				b := int(next.Add(1) - 1)
				if b >= nb || ctx.Err() != nil || firstErr.Load() != nil {
					return
				}
				lo, hi := b*block, min((b+1)*block, n)
				r := rand.New(rand.NewPCG(f.seed, uint64(b)))
				lp, el, err := mw.LogLikelihood(tensor.From(x.Data[lo*d:hi*d], append([]int{hi - lo}, m.rowShape...)...), f.samples, 1000, r)
				if err != nil {
					firstErr.CompareAndSwap(nil, &err)
					return
				}
				copy(logp[lo:hi], lp)
				copy(elbo[lo:hi], el)
				done.Add(int64(hi - lo))
			}
		}()
	}
	if o.stderr != nil && !o.json {
		stop := make(chan struct{})
		go func() {
			t := time.NewTicker(30 * time.Second)
			defer t.Stop()
			for {
				select {
				case <-stop:
					return
				case <-t.C:
					k := done.Load()
					el := time.Since(start).Seconds()
					fmt.Fprintf(o.stderr, "%d/%d rows, %.0fs, about %.0fs left\n", k, n, el, el/float64(max(k, 1))*float64(int64(n)-k))
				}
			}
		}()
		wg.Wait()
		close(stop)
	} else {
		wg.Wait()
	}
	if e := firstErr.Load(); e != nil {
		return *e
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("eval --nll interrupted after %d of %d rows: %w", done.Load(), n, err)
	}
	res := NLLResult{NLL: -mean(logp), NegELBO: -mean(elbo), Samples: f.samples, Rows: n, Binarized: bin, Seed: f.seed, Seconds: time.Since(start).Seconds()}
	var v float64
	for _, l := range logp {
		v += (l + res.NLL) * (l + res.NLL)
	}
	if n > 1 {
		res.NLLStdErr = math.Sqrt(v / float64(n-1) / float64(n))
	}
	if o.json {
		b, _ := json.Marshal(res)
		fmt.Fprintln(stdout, string(b))
		return nil
	}
	bins := ""
	if bin {
		bins = fmt.Sprintf(", binarised with seed %d", f.seed)
	}
	fmt.Fprintf(stdout, "rows        %d%s\n", n, bins)
	fmt.Fprintf(stdout, "−log p(x)   %.2f ± %.2f nats (importance sampling, K=%d)\n", res.NLL, res.NLLStdErr, f.samples)
	fmt.Fprintf(stdout, "−ELBO       %.2f nats\n", res.NegELBO)
	fmt.Fprintf(stdout, "time        %.1fs\n", res.Seconds)
	return nil
}

func mean(v []float64) float64 {
	var s float64
	for _, x := range v {
		s += x
	}
	return s / float64(max(len(v), 1))
}
