package nn_test

import (
	"fmt"
	"math"
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
	return convPassWith(t, layer, in, batch, passOptions{})
}

// passOptions varies convPass: layers after the convolution (a ReLU, which
// the net fuses into it), no input gradient, the backward pass run twice
// (the gradients accumulate; what the first pass leaves in scratch must
// not leak into the second).
type passOptions struct {
	after         []nn.Layer
	skipDX, twice bool
}

func convPassWith(t *testing.T, layer nn.Layer, in []int, batch int, o passOptions) []float32 {
	t.Helper()
	net, err := nn.NewNet(in, append([]nn.Layer{layer}, o.after...)...)
	if err != nil {
		t.Fatal(err)
	}
	if !o.skipDX {
		net.NeedInputGrad()
	}
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
	if o.twice {
		net.Backward(dy)
	}
	out := slices.Clone(y.Data)
	if dx := net.Backward(dy); dx != nil {
		out = append(out, dx.Data...)
	}
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

// The row path (float32 convolutions in NHWC, forced onto every geometry
// here) agrees with im2col: outputs, input gradients and weight gradients,
// with a fused ReLU or not, with the input gradient skipped, and the
// backward pass run twice; and it gives the same bits on 1 and 2 threads.
func TestConvRowsMatchesIm2col(t *testing.T) {
	for _, c := range []struct {
		name  string
		in    []int
		layer func() nn.Layer
		relu  bool
	}{
		{"conv-mnist conv2", []int{32, 14, 14}, func() nn.Layer { return nn.NewConv2D(32, 64, 3, 2, 1, 1) }, true},
		{"k3 s1 p1 20×17", []int{16, 20, 17}, func() nn.Layer { return nn.NewConv2D(16, 32, 3, 1, 1, 1) }, false},
		{"k3 d2 p1", []int{16, 9, 11}, func() nn.Layer { return nn.NewConv2D(16, 32, 3, 1, 1, 2) }, true},
		{"k5 s3 p3", []int{8, 12, 13}, func() nn.Layer { return nn.NewConv2D(8, 32, 5, 3, 3, 1) }, false},
		{"pointwise", []int{64, 9, 13}, func() nn.Layer { return nn.NewConv2D(64, 96, 1, 1, 0, 1) }, true},
		{"k3 s1 p1 24×20 (a group per sample)", []int{16, 24, 20}, func() nn.Layer { return nn.NewConv2D(16, 32, 3, 1, 1, 1) }, true},
		{"conv-mnist convT1", []int{64, 7, 7}, func() nn.Layer { return nn.NewConvTranspose2D(64, 32, 3, 2, 1, 1) }, true},
		{"convT k4 s2 p1", []int{64, 5, 6}, func() nn.Layer { return nn.NewConvTranspose2D(64, 16, 4, 2, 1, 0) }, false},
		{"convT k3 s1 p1", []int{96, 12, 11}, func() nn.Layer { return nn.NewConvTranspose2D(96, 16, 3, 1, 1, 0) }, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			for _, o := range []passOptions{{}, {skipDX: true}, {twice: true}} {
				if c.relu {
					o.after = []nn.Layer{&nn.ReLU{}}
				}
				pass := func(rows bool, threads int) []float32 {
					defer nn.SetConvRowsEvery(nn.SetConvRowsEvery(rows))
					defer nn.SetConvRows(nn.SetConvRows(rows))
					defer parallel.SetThreads(parallel.SetThreads(threads))
					return convPassWith(t, c.layer(), c.in, 19, o) // 19: groups of several samples, the last shorter
				}
				want, got := pass(false, 1), pass(true, 1)
				if len(got) != len(want) {
					t.Fatalf("%+v: %d values; im2col gives %d", o, len(got), len(want))
				}
				var maxAbs float64
				for _, v := range want {
					maxAbs = max(maxAbs, math.Abs(float64(v)))
				}
				for i, v := range got {
					if d := math.Abs(float64(v - want[i])); d > 1e-5*maxAbs {
						t.Fatalf("%+v: value %d = %v; im2col gives %v", o, i, v, want[i])
					}
				}
				two := pass(true, 2)
				for i := range got {
					if two[i] != got[i] {
						t.Fatalf("%+v, 2 threads: value %d = %v; 1 thread gives %v", o, i, two[i], got[i])
					}
				}
			}
		})
	}
}
