package nn_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/bottleneck-ml/bottleneck/internal/parallel"
	"github.com/bottleneck-ml/bottleneck/nn"
	"github.com/bottleneck-ml/bottleneck/tensor"
)

// convPass runs forward and backward of a fresh layer on a fixed batch and
// returns y, dx and the gradients, concatenated.
func convPass(t *testing.T, layer nn.Layer, in []int, batch int) []float32 {
	t.Helper()
	net, err := nn.NewNet(in, layer)
	if err != nil {
		t.Fatal(err)
	}
	net.NeedInputGrad()
	ps := nn.NewParamSet(net.Params())
	rng := rand.New(rand.NewPCG(3, 4))
	net.Init(rng)
	x := tensor.New(append([]int{batch}, in...)...)
	for i := range x.Data {
		x.Data[i] = float32(rng.NormFloat64())
	}
	y := net.Forward(x, true)
	dy := tensor.New(y.Shape...)
	for i := range dy.Data {
		dy.Data[i] = float32(rng.NormFloat64())
	}
	ps.ZeroGrad()
	dx := net.Backward(dy)
	out := slices.Concat(y.Data, dx.Data)
	for _, p := range layer.Params() {
		out = append(out, p.G...)
	}
	return out
}

var convDetCases = []struct {
	name  string
	layer func() nn.Layer
	in    []int
	batch int
}{
	{"conv-mnist/conv2", func() nn.Layer { return nn.NewConv2D(32, 64, 3, 2, 1, 1) }, []int{32, 14, 14}, 37},
	{"conv-mnist/convT1", func() nn.Layer { return nn.NewConvTranspose2D(64, 32, 3, 2, 1, 1) }, []int{64, 7, 7}, 37},
	{"srcnn/conv1", func() nn.Layer { return nn.NewConv2D(1, 16, 9, 1, 4, 1) }, []int{1, 17, 17}, 11},
	{"srcnn/conv2", func() nn.Layer { return nn.NewConv2D(64, 32, 1, 1, 0, 1) }, []int{64, 17, 17}, 11},
	{"srcnn/conv3", func() nn.Layer { return nn.NewConv2D(32, 1, 5, 1, 2, 1) }, []int{32, 17, 17}, 11},
}

// Outputs and gradients of every convolution algorithm are bit-identical
// for any thread count: the batch is cut into groups that do not depend on
// it, and partial gradients are summed in group order.
func TestConvThreadsBitIdentical(t *testing.T) {
	for _, c := range convDetCases {
		t.Run(c.name, func(t *testing.T) {
			var want []float32
			for _, th := range []int{1, 2, 3, 4} {
				old := parallel.SetThreads(th)
				got := convPass(t, c.layer(), c.in, c.batch)
				parallel.SetThreads(old)
				if want == nil {
					want = got
					continue
				}
				for i := range want {
					if got[i] != want[i] {
						t.Fatalf("threads %d: element %d = %v; want %v (1 thread)", th, i, got[i], want[i])
					}
				}
			}
		})
	}
}

// The taps algorithm (stride 1, fewer output than input channels) agrees
// with im2col.
func TestConvTapsMatchesIm2col(t *testing.T) {
	for _, c := range []struct{ inC, outC, k, p int }{{32, 1, 5, 2}, {5, 3, 3, 1}, {4, 2, 3, 0}, {6, 1, 4, 3}} {
		t.Run(fmt.Sprintf("%d→%d k%d p%d", c.inC, c.outC, c.k, c.p), func(t *testing.T) {
			in := []int{c.inC, 9, 7}
			mk := func() nn.Layer { return nn.NewConv2D(c.inC, c.outC, c.k, 1, c.p, 1) }
			taps := convPass(t, mk(), in, 3)
			old := nn.SetConvTaps(false)
			ref := convPass(t, mk(), in, 3)
			nn.SetConvTaps(old)
			var worst float64
			for i := range ref {
				d := float64(taps[i] - ref[i])
				if d < 0 {
					d = -d
				}
				worst = max(worst, d)
			}
			t.Logf("max diff %g", worst)
			if worst > 1e-4 {
				t.Errorf("max |taps - im2col| = %g; want ≤ 1e-4", worst)
			}
		})
	}
}
