package nn_test

import (
	"fmt"
	"testing"

	"github.com/bottleneck-ml/bottleneck/nn"
	"github.com/bottleneck-ml/bottleneck/nn/nntest"
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
