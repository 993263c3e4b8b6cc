package train

import (
	"context"
	"image"
	"image/color"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/bottleneck-ml/bottleneck/ae"
	"github.com/bottleneck-ml/bottleneck/dataset"
	"github.com/bottleneck-ml/bottleneck/noise"
	"github.com/bottleneck-ml/bottleneck/patches"
	"github.com/bottleneck-ml/bottleneck/tensor"
)

// toyData is n rows of d features in [0,1] lying near a 2-D subspace, so a
// code of 2 can reconstruct them.
func toyData(n, d int, seed uint64) *dataset.Dataset {
	rng := rand.New(rand.NewPCG(seed, 9))
	x := tensor.New(n, d)
	for i := range n {
		a, b := rng.Float64(), rng.Float64()
		for j := range d {
			v := 0.5 + 0.4*(a*math.Sin(float64(j))+b*math.Cos(float64(j)))/1.5 + 0.01*rng.NormFloat64()
			x.Data[i*d+j] = float32(min(1, max(0, v)))
		}
	}
	return &dataset.Dataset{X: x, Shape: []int{d}}
}

// newModel builds cfg with weights from seed.
func newModel(t testing.TB, cfg ae.Config, seed uint64) *ae.Model {
	t.Helper()
	m, err := ae.New(cfg, seed)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// denseConfig is a 16 → hidden → 2 → hidden → 16 autoencoder with a sigmoid
// output (BCE), with dropout after the hidden layers when dropout > 0.
func denseConfig(t testing.TB, hidden int, dropout float64) ae.Config {
	t.Helper()
	cfg, err := ae.DenseConfig([]int{16}, true, ae.Dense{Hidden: []int{hidden}, Code: 2, Dropout: dropout})
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// vaeConfig is a dense Bernoulli VAE on 16 features trained on binarised
// inputs.
func vaeConfig(t testing.TB) ae.Config {
	t.Helper()
	cfg, err := ae.DenseConfig([]int{16}, true, ae.Dense{Hidden: []int{8}, Code: 2, Variational: true})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Binarize = true
	return cfg
}

// convBNConfig is a tiny fully convolutional residual denoiser with
// BatchNorm (its running statistics are the model's buffers).
func convBNConfig() ae.Config {
	return ae.Config{Channels: 1, Encoder: []string{"conv:4:3", "bn", "relu"},
		Decoder: []string{"conv:4:3", "bn", "relu", "conv:1:3"}, Residual: true, Loss: ae.LossMSE}
}

// convVAEConfig is a tiny convolutional Bernoulli VAE on 8×8 patches.
func convVAEConfig() ae.Config {
	return ae.Config{Input: []int{1, 8, 8},
		Encoder:     []string{"conv:4:3:s2", "relu", "flatten", "dense:4"},
		Decoder:     []string{"dense:64", "relu", "reshape:4:4:4", "convt:1:3:s2", "sigmoid"},
		Variational: true, Loss: ae.LossELBO, Likelihood: ae.LikelihoodBernoulli, Beta: 1}
}

// pool is a small grey picture pool: smooth gradients and a few edges.
func pool() *patches.Pool {
	im := image.NewGray(image.Rect(0, 0, 24, 20))
	for y := range 20 {
		for x := range 24 {
			v := 40 + 6*x + 3*y
			if (x/6+y/5)%2 == 0 {
				v += 40
			}
			im.SetGray(x, y, color.Gray{Y: uint8(min(v, 255))})
		}
	}
	return patches.FromImages(false, im)
}

// patchTask is a task on the pool with 8×8 patches: denoise (Gaussian σ 25)
// or reconstruct.
func patchTask(t testing.TB, kind string) *patches.Task {
	t.Helper()
	tk := &patches.Task{Kind: kind, Pool: pool(), Patch: 8}
	if kind == "denoise" {
		nm, err := noise.Parse("gaussian:25")
		if err != nil {
			t.Fatal(err)
		}
		tk.Noise = &nm
	}
	if err := tk.Check(); err != nil {
		t.Fatal(err)
	}
	return tk
}

// modelState returns a copy of the model's weights and BatchNorm statistics.
func modelState(m *ae.Model) []float32 {
	s := slices.Clone(m.Params.W)
	for _, b := range m.Buffers {
		s = append(s, b.W...)
	}
	return s
}

// sameState reports the first difference between two models' weights and
// statistics, by tensor name, or "".
func sameState(a, b *ae.Model) string {
	for i, p := range a.Params.Params {
		if !slices.Equal(p.W, b.Params.Params[i].W) {
			return p.Name + " differs"
		}
	}
	if len(a.Buffers) != len(b.Buffers) {
		return "buffer counts differ"
	}
	for i, p := range a.Buffers {
		if !slices.Equal(p.W, b.Buffers[i].W) {
			return p.Name + " differs"
		}
	}
	return ""
}

// fit is Fit with a background context that fails the test on error.
func fit(t testing.TB, m *ae.Model, tr, val Source, o Options) *Record {
	t.Helper()
	rec, err := Fit(context.Background(), m, tr, val, o)
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

// wrapped is a Source around another that keeps its fingerprint and batch
// size and calls hook before every batch (to cancel, or to look at the
// model between steps) and epoch, when set, at the start of every epoch.
type wrapped struct {
	Source
	hook  func()
	epoch func(e int)
}

func (w *wrapped) Epoch(e int) int {
	if w.epoch != nil {
		w.epoch(e)
	}
	return w.Source.Epoch(e)
}

func (w *wrapped) Next() (x, y *tensor.Tensor, err error) {
	if w.hook != nil {
		w.hook()
	}
	return w.Source.Next()
}

func (w *wrapped) Fingerprint() string {
	if f, ok := w.Source.(Fingerprinter); ok {
		return f.Fingerprint()
	}
	return ""
}

func (w *wrapped) BatchSize() int {
	if b, ok := w.Source.(Batcher); ok {
		return b.BatchSize()
	}
	return 0
}

// fixed is a Source of one batch per epoch whose target is given per call
// of Epoch by target (a validation set whose loss the test decides).
type fixed struct {
	x      *tensor.Tensor
	target func(call int) *tensor.Tensor
	calls  int
}

func (f *fixed) Epoch(int) int { f.calls++; return 1 }
func (f *fixed) Len() int      { return f.x.Rows() }
func (f *fixed) Next() (x, y *tensor.Tensor, err error) {
	return f.x, f.target(f.calls), nil
}

// interruptAfterEpoch returns opt with an OnEpoch that cancels the
// returned context once the given epoch has completed: Fit then stops
// with ErrInterrupted, as after Ctrl-C, with that epoch's checkpoint.
func interruptAfterEpoch(opt Options, epoch int) (Options, context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	opt.OnEpoch = func(_ *ae.Model, rec *Record) error {
		if rec.Epochs == epoch {
			cancel()
		}
		return nil
	}
	return opt, ctx, cancel
}
