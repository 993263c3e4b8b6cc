package ae

import (
	"context"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"

	"github.com/bottleneck-ml/bottleneck/tensor"
)

// smallConvVAE is a conv VAE on 8×8 images with a 3-d code, Bernoulli or
// Gaussian.
func smallConvVAE(t *testing.T, gaussian ...bool) *ConvModel {
	t.Helper()
	cfg := ConvConfig{Arch: ArchConv, InChannels: 1, OutChannels: 1, InputShape: []int{1, 8, 8},
		Encoder:     []string{"conv:4:3:s2", "relu", "flatten", "dense:6"},
		Decoder:     []string{"dense:64", "relu", "reshape:4:4:4", "convt:1:3:s2", "sigmoid"},
		Loss:        "bce",
		Variational: true, Beta: 1}
	if len(gaussian) > 0 && gaussian[0] {
		cfg.Decoder = cfg.Decoder[:len(cfg.Decoder)-1]
		cfg.Loss, cfg.Likelihood = "mse", LikelihoodGaussian
	}
	m, err := NewConv(cfg, 5)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func unitTensor(rng *rand.Rand, shape ...int) *tensor.Tensor {
	x := tensor.New(shape...)
	for i := range x.Data {
		x.Data[i] = rng.Float32()
	}
	return x
}

// TestConvVAEGrad checks the gradient of the negative ELBO (reconstruction
// through the sampled z, and the KL term) against finite differences with
// ε held fixed by reseeding.
func TestConvVAEGrad(t *testing.T) {
	t.Run("bernoulli", func(t *testing.T) { checkConvVAEGrad(t, smallConvVAE(t)) })
	t.Run("gaussian", func(t *testing.T) {
		m := smallConvVAE(t, true)
		m.vae.logvar.W[0] = -1.5 // away from the initial 0, inside the clamp
		checkConvVAEGrad(t, m)
	})
}

func checkConvVAEGrad(t *testing.T, m *ConvModel) {
	m.SetKLWeight(0.7)
	x := unitTensor(rand.New(rand.NewPCG(3, 4)), 3, 1, 8, 8)
	loss := func() float64 {
		m.SeedNoise(9, 9)
		l, err := m.TrainStep(x, x)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	m.Params.ZeroGrad()
	loss()
	g := slices.Clone(m.Params.G)
	const eps = 2e-3
	idx := []int{len(g) - 1} // the last parameter (the Gaussian's log-variance)
	for i := 0; i < len(g); i += 7 {
		idx = append(idx, i)
	}
	for _, i := range idx {
		w := m.Params.W[i]
		m.Params.W[i] = w + eps
		lp := loss()
		m.Params.W[i] = w - eps
		lm := loss()
		m.Params.W[i] = w
		num := (lp - lm) / (2 * eps)
		if d := math.Abs(num - float64(g[i])); d > 2e-2*math.Max(math.Abs(num), 1e-2)+1e-4 {
			t.Errorf("grad[%d] = %v; numeric %v", i, g[i], num)
		}
	}
}

// TestConvVAETrainsAndRoundTrips trains a small conv VAE on images of two
// kinds, checks the ELBO falls, and that the saved model gives the same
// codes, log-likelihoods and samples after loading.
func TestConvVAETrainsAndRoundTrips(t *testing.T) {
	m := smallConvVAE(t)
	m.Config.Binarize = true
	rng := rand.New(rand.NewPCG(1, 1))
	protos := [2][]float32{make([]float32, 64), make([]float32, 64)}
	for i := range 64 {
		if i%8 < 4 {
			protos[0][i] = 0.95
		} else {
			protos[1][i] = 0.95
		}
	}
	fill := func(x, y *tensor.Tensor, rng *rand.Rand) {
		for i := range x.Rows() {
			copy(x.Data[i*64:(i+1)*64], protos[rng.IntN(2)])
		}
		copy(y.Data, x.Data)
	}
	probe := tensor.New(8, 1, 8, 8)
	fill(probe, tensor.New(8, 1, 8, 8), rng)
	before, err := m.Loss(probe, probe)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "cvae.safetensors")
	rec, err := FitConv(context.Background(), m, ConvFitOptions{Epochs: 3, Steps: 60, Batch: 16, Patch: 8, LR: 3e-3, Seed: 1, KLWarmup: 1, Output: out, Fill: fill}, "test")
	if err != nil {
		t.Fatal(err)
	}
	after, _ := m.Loss(probe, probe)
	if !(after < before*0.8) {
		t.Errorf("negative ELBO %.3f → %.3f; want it to fall by 20%%", before, after)
	}
	if rec.KLWarmup != 1 || m.vae.klWeight != 1 {
		t.Errorf("record warm-up %v, KL weight after training %v; want 1, β = 1", rec.KLWarmup, m.vae.klWeight)
	}
	loaded, err := LoadConv(out)
	if err != nil {
		t.Fatal(err)
	}
	if !loaded.IsVAE() || loaded.CodeSize() != 3 || !loaded.Config.Binarize {
		t.Fatalf("loaded: VAE %v, code %d, binarize %v", loaded.IsVAE(), loaded.CodeSize(), loaded.Config.Binarize)
	}
	c1, _ := m.Encode(probe)
	c1 = tensor.From(slices.Clone(c1.Data), c1.Shape...)
	c2, _ := loaded.Encode(probe)
	if !slices.Equal(c1.Data, c2.Data) || !slices.Equal(c1.Shape, []int{8, 3}) {
		t.Errorf("codes differ after loading or have shape %v", c1.Shape)
	}
	lp1, elbo1, err := m.LogLikelihood(probe, 50, 16, rand.New(rand.NewPCG(2, 2)))
	if err != nil {
		t.Fatal(err)
	}
	lp2, _, _ := loaded.LogLikelihood(probe, 50, 7, rand.New(rand.NewPCG(2, 2)))
	for i := range lp1 {
		if math.Abs(lp1[i]-lp2[i]) > 1e-9*math.Abs(lp1[i]) {
			t.Errorf("row %d: log p %v before saving, %v after (chunks 16 vs 7)", i, lp1[i], lp2[i])
		}
		if !(lp1[i] >= elbo1[i]) || lp1[i] > 0 {
			t.Errorf("row %d: log p %v, ELBO %v; want ELBO ≤ log p ≤ 0", i, lp1[i], elbo1[i])
		}
	}
	s, err := loaded.Sample(5, rand.New(rand.NewPCG(3, 3)))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(s.Shape, []int{5, 1, 8, 8}) {
		t.Errorf("samples have shape %v", s.Shape)
	}
	for _, v := range s.Data {
		if !(v >= 0 && v <= 1) {
			t.Fatalf("sample value %v outside [0, 1]", v)
		}
	}
}

func TestConvVAEConfigErrors(t *testing.T) {
	base, _ := ConvPreset("mnist-vae-conv:8", 1)
	for name, edit := range map[string]func(c *ConvConfig){
		"odd code":      func(c *ConvConfig) { c.Encoder[len(c.Encoder)-1] = "dense:7" },
		"mse":           func(c *ConvConfig) { c.Loss = "mse" },
		"no shape":      func(c *ConvConfig) { c.InputShape = nil },
		"negative beta": func(c *ConvConfig) { c.Beta = -1 },
		"binarize AE":   func(c *ConvConfig) { c.Variational = false; c.Binarize = true },
	} {
		c := base
		c.Encoder = slices.Clone(base.Encoder)
		edit(&c)
		if _, err := NewConv(c, 1); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, err := NewConv(base, 1); err != nil {
		t.Fatal(err)
	}
	g := base
	g.Likelihood = LikelihoodGaussian // with the preset's sigmoid still on
	if _, err := NewConv(g, 1); err == nil {
		t.Error("gaussian likelihood behind a sigmoid: no error")
	}
}

// TestConvVAEGaussianTrains trains a Gaussian conv VAE on grey levels and
// checks the negative ELBO falls, the learned variance shrinks below 1,
// and log p(x) survives a save and load.
func TestConvVAEGaussianTrains(t *testing.T) {
	m := smallConvVAE(t, true)
	fill := func(x, y *tensor.Tensor, rng *rand.Rand) {
		for i := range x.Rows() {
			v := float32(0.2 + 0.6*rng.Float64())
			for j := range 64 {
				x.Data[i*64+j] = v * float32(j%8) / 8
			}
		}
		copy(y.Data, x.Data)
	}
	probe := tensor.New(8, 1, 8, 8)
	fill(probe, tensor.New(8, 1, 8, 8), rand.New(rand.NewPCG(1, 1)))
	before, _ := m.Loss(probe, probe)
	out := filepath.Join(t.TempDir(), "g.safetensors")
	if _, err := FitConv(context.Background(), m, ConvFitOptions{Epochs: 2, Steps: 80, Batch: 16, Patch: 8, LR: 3e-3, Seed: 1, Output: out, Fill: fill}, "test"); err != nil {
		t.Fatal(err)
	}
	after, _ := m.Loss(probe, probe)
	if !(after < before-20) {
		t.Errorf("negative ELBO %.2f → %.2f nats; want a clear fall", before, after)
	}
	if lv := m.vae.logvar.W[0]; !(lv < -0.3) { // Adam moves it at most ~lr per step
		t.Errorf("learned log-variance %v; want it well below 0 for data this regular", lv)
	}
	loaded, err := LoadConv(out)
	if err != nil {
		t.Fatal(err)
	}
	a, _, _ := m.LogLikelihood(probe, 20, 20, rand.New(rand.NewPCG(4, 4)))
	b, _, _ := loaded.LogLikelihood(probe, 20, 20, rand.New(rand.NewPCG(4, 4)))
	if !slices.Equal(a, b) {
		t.Errorf("log p(x) %v before saving, %v after", a, b)
	}
}

// TestConvVAEStepAllocs: after the first, a conv VAE training step (both
// likelihoods, with binarisation) allocates nothing.
func TestConvVAEStepAllocs(t *testing.T) {
	for _, gaussian := range []bool{false, true} {
		m := smallConvVAE(t, gaussian)
		m.Config.Binarize = !gaussian
		x := unitTensor(rand.New(rand.NewPCG(1, 2)), 4, 1, 8, 8)
		step := func() {
			m.SeedNoise(1, 1)
			m.Params.ZeroGrad()
			if _, err := m.TrainStep(x, x); err != nil {
				t.Fatal(err)
			}
		}
		step()
		if n := testing.AllocsPerRun(10, step); n != 0 {
			t.Errorf("gaussian %v: %v allocations per training step", gaussian, n)
		}
	}
}
