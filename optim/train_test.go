package optim_test

import (
	"math/rand/v2"
	"testing"

	"github.com/bottleneck-ml/bottleneck/nn"
	"github.com/bottleneck-ml/bottleneck/optim"
	"github.com/bottleneck-ml/bottleneck/tensor"
)

// A small autoencoder 8→3→8 learns data that lies on a 2-D subspace: every
// optimiser cuts the reconstruction loss at least tenfold.
func TestAutoencoderConverges(t *testing.T) {
	if testing.Short() {
		t.Skip("convergence smoke test")
	}
	rng := rand.New(rand.NewPCG(5, 6))
	x := tensor.New(32, 8)
	basis := [2][8]float64{}
	for k := range basis {
		for j := range basis[k] {
			basis[k][j] = rng.NormFloat64()
		}
	}
	for i := range 32 {
		a, b := rng.NormFloat64(), rng.NormFloat64()
		for j := range 8 {
			x.Data[i*8+j] = float32(a*basis[0][j] + b*basis[1][j])
		}
	}
	for _, c := range []struct {
		name  string
		opt   optim.Optimizer
		steps int
	}{
		{"adam", optim.NewAdam(1e-2, 0.9, 0.999, 1e-8, 0), 400},
		{"adamw", optim.NewAdamW(1e-2, 0.9, 0.999, 1e-8, 0.01), 400},
		{"sgd-nesterov", optim.NewSGD(1e-2, 0.9, true, 0), 400},
	} {
		net, err := nn.NewNet([]int{8}, nn.NewDense(8, 3), nn.NewDense(3, 8))
		if err != nil {
			t.Fatal(err)
		}
		ps := nn.NewParamSet(net.Params())
		net.Init(rand.New(rand.NewPCG(1, 1)))
		var loss nn.MSE
		dy := tensor.New(32, 8)
		var first, last float64
		for s := range c.steps {
			ps.ZeroGrad()
			out := net.Forward(x, true)
			last = loss.Forward(out, x)
			if s == 0 {
				first = last
			}
			loss.Backward(dy, out, x)
			net.Backward(dy)
			optim.ClipGradNorm(ps.G, 5)
			c.opt.Step(ps.W, ps.G)
		}
		if last > first/10 {
			t.Errorf("%s: loss %.4g after %d steps, from %.4g; want a tenfold drop", c.name, last, c.steps, first)
		}
	}
}
