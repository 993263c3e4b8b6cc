package nn_test

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/bottleneck-ml/bottleneck/nn"
	"github.com/bottleneck-ml/bottleneck/nn/nntest"
	"github.com/bottleneck-ml/bottleneck/tensor"
)

// formula is make_fixtures.py's formula_param: value i of tensor number p
// is ((i·7919 + p·104729) mod 2001 - 1000)/1000 · 1/√fanIn, computed in
// float64 and rounded once, so Go and NumPy agree bit for bit.
func formula(w []float32, p, fanIn int) {
	s := 1 / math.Sqrt(float64(fanIn))
	for i := range w {
		k := (int64(i)*7919+int64(p)*104729)%2001 - 1000
		w[i] = float32(float64(k) / 1000 * s)
	}
}

// TestConvLayersMatchPyTorch replays CONV_CASES of make_fixtures.py
// (testdata/ref/conv.bin): PyTorch 1.13 float32 on CPU, batch 2, forward in
// training mode, backward of a formula dy.
func TestConvLayersMatchPyTorch(t *testing.T) {
	f := readFixture(t, "conv.bin")
	cases := []struct {
		name  string
		layer nn.Layer
		fanIn int
		x     []int
	}{
		{"conv_s2", nn.NewConv2D(3, 4, 3, 2, 1, 1), 27, []int{2, 3, 7, 5}},
		{"conv_d2", nn.NewConv2D(3, 4, 3, 1, 2, 2), 27, []int{2, 3, 7, 5}},
		{"conv_k1", nn.NewConv2D(3, 4, 1, 1, 0, 1), 3, []int{2, 3, 7, 5}},
		{"convt", nn.NewConvTranspose2D(4, 3, 3, 2, 1, 1), 27, []int{2, 4, 4, 3}},
		{"up_nearest", nn.NewUpsample(2, nn.UpsampleNearest), 0, []int{2, 3, 4, 5}},
		{"up_bilinear", nn.NewUpsample(2, nn.UpsampleBilinear), 0, []int{2, 3, 4, 5}},
		{"maxpool", nn.NewMaxPool2D(2, 0, 0), 0, []int{2, 3, 7, 5}},
		{"avgpool", nn.NewAvgPool2D(3, 2, 1), 0, []int{2, 3, 7, 5}},
		{"batchnorm", nn.NewBatchNorm2D(3), 1, []int{2, 3, 7, 5}},
	}
	for c, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			net, err := nn.NewNet(tc.x[1:], tc.layer)
			if err != nil {
				t.Fatal(err)
			}
			net.NeedInputGrad()
			ps := nn.NewParamSet(net.Params())
			net.Init(rand.New(rand.NewPCG(1, 1))) // BatchNorm2D: running statistics 0, 1
			for p, prm := range tc.layer.Params() {
				formula(prm.W, 100*c+p, tc.fanIn)
			}
			x := tensor.New(tc.x...)
			formula(x.Data, 100*c+50, 1)
			y := net.Forward(x, true)
			check(t, tc.name+".y", y.Data, f.Get(t, tc.name+".y"))
			if want := f.Shape(tc.name + ".y"); !equalInts(y.Shape, want) {
				t.Fatalf("output shape %v; want %v", y.Shape, want)
			}
			dy := tensor.New(y.Shape...)
			formula(dy.Data, 100*c+51, 1)
			ps.ZeroGrad()
			dx := net.Backward(dy)
			check(t, tc.name+".dx", dx.Data, f.Get(t, tc.name+".dx"))
			for _, prm := range tc.layer.Params() {
				_, name, _ := strings.Cut(prm.Name, ".") // "0.weight"
				check(t, tc.name+".d"+name, prm.G, f.Get(t, tc.name+".d"+name))
			}
			if bn, ok := tc.layer.(*nn.BatchNorm2D); ok {
				nntest.Compare(t, "running_mean", bn.RunningMean.W, f.Get(t, tc.name+".running_mean"), parityTol)
				nntest.Compare(t, "running_var", bn.RunningVar.W, f.Get(t, tc.name+".running_var"), parityTol)
				ye := net.Forward(x, false)
				check(t, tc.name+".y_eval", ye.Data, f.Get(t, tc.name+".y_eval"))
			}
		})
	}
}

// check compares with PyTorch relative to max(|got|, |want|, 2% of the
// tensor's largest magnitude): outputs and gradients are sums of terms of
// mixed sign, whose float32 rounding error scales with the terms, not with
// the sum, so an element that cancels to 1e-3 of its terms differs from
// PyTorch by a few ulps of the terms. The worst two, checked against
// PyTorch in float64: conv_d2.y[67] exact -0.00426392192, Go
// -0.0042638928 (3e-8 off), PyTorch -0.004264012 (9e-8 off);
// batchnorm.dx[14] exact 0.001549570611, Go 0.0015495463 (2e-8 off),
// PyTorch 0.0015496094 (4e-8 off). The floor makes the tolerance an
// absolute 2e-7 of the tensor's largest value (a few float32 ulps).
func check(t *testing.T, name string, got, want []float32) float64 {
	t.Helper()
	return nntest.CompareFloor(t, name, got, want, parityTol, 2e-2*maxAbs(want))
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
