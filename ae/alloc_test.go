package ae

import (
	"math/rand/v2"
	"testing"

	"github.com/bottleneck-ml/bottleneck/optim"
)

// TestStepAllocs: once the buffers have grown to the batch, a training
// step — ZeroGrad, TrainStep, an Adam step, with the noise reseeded as
// package train does — allocates nothing, for every kind of model.
func TestStepAllocs(t *testing.T) {
	for _, tc := range []struct {
		name  string
		cfg   func(t testing.TB) Config
		input []int
	}{
		{"dense", smallDense, []int{5, 12}},
		{"dense-dropout-sparse", func(t testing.TB) Config {
			c := denseConfig(t, []int{12}, false, Dense{Hidden: []int{8}, Code: 3, Dropout: 0.2})
			c.Sparsity = "l1:1e-3"
			return c
		}, []int{5, 12}},
		{"vae-bernoulli-binarize", func(t testing.TB) Config {
			c := smallVAE(t, LikelihoodBernoulli)
			c.Binarize = true
			return c
		}, []int{5, 10}},
		{"vae-gaussian", func(t testing.TB) Config { return smallVAE(t, LikelihoodGaussian) }, []int{5, 10}},
		{"conv", func(t testing.TB) Config { return preset(t, "mnist-conv:8", 1) }, []int{2, 1, 28, 28}},
		{"conv-bce", func(t testing.TB) Config { return smallConvAE() }, []int{2, 1, 8, 8}},
		{"conv-vae-bernoulli-binarize", func(t testing.TB) Config {
			c := smallConvVAE(LikelihoodBernoulli)
			c.Binarize = true
			return c
		}, []int{4, 1, 8, 8}},
		{"conv-vae-gaussian", func(t testing.TB) Config { return smallConvVAE(LikelihoodGaussian) }, []int{4, 1, 8, 8}},
		{"residual-bn", func(t testing.TB) Config { return residualBN() }, []int{2, 1, 8, 8}},
		{"restore", func(t testing.TB) Config { return preset(t, "restore:3:8", 1) }, []int{2, 1, 8, 8}},
		{"colorize-classes", func(t testing.TB) Config { return preset(t, "colorize-classes:8", 1) }, []int{2, 1, 16, 16}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg(t)
			m := newModel(t, cfg, 1)
			x := unitTensor(rand.New(rand.NewPCG(1, 2)), tc.input...)
			target := x
			if cfg.Loss == LossABClasses { // a colorizer: L in, a and b out
				in := tc.input
				target = unitTensor(rand.New(rand.NewPCG(3, 4)), in[0], 2, in[2], in[3])
			}
			opt := optim.NewAdam(1e-3, 0.9, 0.999, 1e-8, 0)
			var step uint64
			var err error
			train := func() {
				step++
				m.SeedNoise(1, step)
				m.Params.ZeroGrad()
				if _, err = m.TrainStep(x, target); err != nil {
					return
				}
				opt.Step(m.Params.W, m.Params.G)
			}
			train()
			if err != nil {
				t.Fatal(err)
			}
			if n := testing.AllocsPerRun(10, train); n != 0 {
				t.Errorf("%v allocations per training step; want 0", n)
			}
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestForwardAllocs: scoring through Forward into preallocated buffers
// allocates nothing once the model has seen the batch size.
func TestForwardAllocs(t *testing.T) {
	for _, c := range []Config{smallDense(t), smallVAE(t, LikelihoodGaussian), residualBN()} {
		m := newModel(t, c, 1)
		in := []int{4, 12}
		switch {
		case c.Variational:
			in = []int{4, 10}
		case c.Input == nil:
			in = []int{4, 1, 8, 8}
		}
		x := unitTensor(rand.New(rand.NewPCG(1, 2)), in...)
		code, err := m.Encode(nil, x)
		if err != nil {
			t.Fatal(err)
		}
		out, err := m.Reconstruct(nil, x)
		if err != nil {
			t.Fatal(err)
		}
		if n := testing.AllocsPerRun(10, func() { err = m.Forward(x, code, out) }); n != 0 || err != nil {
			t.Errorf("%s: Forward: %v, %v allocations; want 0", c.Kind(), err, n)
		}
	}
}
