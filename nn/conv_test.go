package nn_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/bottleneck-ml/bottleneck/nn"
	"github.com/bottleneck-ml/bottleneck/nn/nntest"
	"github.com/bottleneck-ml/bottleneck/tensor"
)

// budgets run each convolution one sample per GEMM, two samples per GEMM
// (a group that does not divide the batch of 3) and the whole batch at once.
var budgets = []struct {
	name string
	n    int
}{{"per-sample", 0}, {"group", 2 * 27 * 35}, {"batch", 1 << 30}}

// withBudgets runs f with every budget, then with the per-sample GEMMs
// that large images get (no batched groups, im2col without index tables).
func withBudgets(t *testing.T, f func(t *testing.T)) {
	for _, b := range budgets {
		t.Run(b.name, func(t *testing.T) {
			old := nn.SetConvColBudget(b.n)
			defer nn.SetConvColBudget(old)
			f(t)
		})
	}
	t.Run("unbatched", func(t *testing.T) {
		old := nn.SetConvBatchCols(0)
		defer nn.SetConvBatchCols(old)
		f(t)
	})
}

func TestConv2DGrad(t *testing.T) {
	cases := []struct{ inC, outC, k, s, p, d int }{
		{3, 2, 3, 1, 1, 1},
		{3, 4, 3, 2, 1, 1},
		{3, 2, 3, 1, 0, 2},
		{3, 2, 2, 3, 2, 1},
		{3, 2, 1, 1, 0, 1}, // pointwise: no im2col
		{3, 2, 1, 2, 1, 1},
		{3, 1, 5, 1, 2, 1},
		{3, 2, 3, 2, 2, 2},
	}
	withBudgets(t, func(t *testing.T) {
		for _, c := range cases {
			t.Run(fmt.Sprintf("%d→%d k%d s%d p%d d%d", c.inC, c.outC, c.k, c.s, c.p, c.d), func(t *testing.T) {
				nntest.CheckLayer(t, nn.NewConv2D(c.inC, c.outC, c.k, c.s, c.p, c.d), []int{c.inC, 7, 5}, 3)
			})
		}
	})
}

func TestConvTranspose2DGrad(t *testing.T) {
	cases := []struct{ inC, outC, k, s, p, op int }{
		{3, 2, 3, 1, 1, 0},
		{3, 4, 3, 2, 1, 1},
		{3, 2, 3, 2, 0, 0},
		{3, 2, 2, 2, 0, 1},
		{3, 2, 4, 3, 2, 2},
		{3, 1, 1, 1, 0, 0},
	}
	withBudgets(t, func(t *testing.T) {
		for _, c := range cases {
			t.Run(fmt.Sprintf("%d→%d k%d s%d p%d op%d", c.inC, c.outC, c.k, c.s, c.p, c.op), func(t *testing.T) {
				nntest.CheckLayer(t, nn.NewConvTranspose2D(c.inC, c.outC, c.k, c.s, c.p, c.op), []int{c.inC, 4, 3}, 3)
			})
		}
	})
}

// TestFusedReLU compares nets where a ReLU follows a Conv2D or a
// ConvTranspose2D (fused: the convolution rectifies, the ReLU passes
// through) with the same nets where an Identity in between keeps them
// apart: outputs and all gradients must agree exactly (each layer on its
// own is checked against finite differences elsewhere).
func TestFusedReLU(t *testing.T) {
	build := func(split bool) []nn.Layer {
		ls := []nn.Layer{nn.NewConv2D(2, 4, 3, 1, 1, 1)}
		if split {
			ls = append(ls, &nn.Identity{})
		}
		ls = append(ls, &nn.ReLU{}, nn.NewConvTranspose2D(4, 3, 3, 2, 1, 1))
		if split {
			ls = append(ls, &nn.Identity{})
		}
		return append(ls, &nn.ReLU{}, nn.NewConv2D(3, 1, 3, 1, 1, 1))
	}
	run := func(split bool) (out, dx, grads []float32) {
		net, err := nn.NewNet([]int{2, 6, 6}, build(split)...)
		if err != nil {
			t.Fatal(err)
		}
		ps := nn.NewParamSet(net.Params())
		net.Init(rand.New(rand.NewPCG(1, 2)))
		net.NeedInputGrad()
		rng := rand.New(rand.NewPCG(3, 4))
		x := tensor.New(5, 2, 6, 6)
		for i := range x.Data {
			x.Data[i] = float32(rng.NormFloat64())
		}
		y := net.Forward(x, true)
		dy := tensor.New(y.Shape...)
		for i := range dy.Data {
			dy.Data[i] = float32(rng.NormFloat64())
		}
		ps.ZeroGrad()
		d := net.Backward(dy)
		return slices.Clone(y.Data), slices.Clone(d.Data), slices.Clone(ps.G)
	}
	fy, fdx, fg := run(false)
	sy, sdx, sg := run(true)
	if !slices.Equal(fy, sy) || !slices.Equal(fdx, sdx) || !slices.Equal(fg, sg) {
		t.Fatal("fused and unfused conv+ReLU nets differ")
	}
}
