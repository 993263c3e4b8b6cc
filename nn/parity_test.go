package nn_test

import (
	"math"
	"testing"

	"github.com/bottleneck-ml/bottleneck/nn"
	"github.com/bottleneck-ml/bottleneck/nn/nntest"
	"github.com/bottleneck-ml/bottleneck/tensor"
)

// parityTol is the relative tolerance against PyTorch float32 results: a
// few float32 ulps (6e-8 each) accumulated over a handful of operations.
const parityTol = 1e-5

func readFixture(t *testing.T, name string) *nntest.Fixture {
	t.Helper()
	f, err := nntest.ReadFixture("../testdata/ref/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestLinearMatchesPyTorch(t *testing.T) {
	f := readFixture(t, "layers.bin")
	d := nn.NewDense(5, 3)
	net, err := nn.NewNet([]int{5}, d)
	if err != nil {
		t.Fatal(err)
	}
	net.NeedInputGrad()
	nn.NewParamSet(net.Params())
	copy(d.Weight.W, f.Get(t, "linear.weight"))
	copy(d.Bias.W, f.Get(t, "linear.bias"))
	x := tensor.From(f.Get(t, "linear.x"), 4, 5)
	y := net.Forward(x, true)
	nntest.Compare(t, "linear.y", y.Data, f.Get(t, "linear.y"), parityTol)
	dx := net.Backward(tensor.From(f.Get(t, "linear.dy"), 4, 3))
	nntest.Compare(t, "linear.dx", dx.Data, f.Get(t, "linear.dx"), parityTol)
	nntest.Compare(t, "linear.dweight", d.Weight.G, f.Get(t, "linear.dweight"), parityTol)
	nntest.Compare(t, "linear.dbias", d.Bias.G, f.Get(t, "linear.dbias"), parityTol)
}

func TestActivationsMatchPyTorch(t *testing.T) {
	f := readFixture(t, "layers.bin")
	xs, dys := f.Get(t, "act.x"), f.Get(t, "act.dy")
	// PyTorch evaluates GELU's 1+erf(x/√2) in float32, which cancels for
	// x ≲ -3: at x = -3.73 its y is 3e-4 off in relative terms, at x = -5
	// its dx 3e-3 off (checked against torch.float64; Go computes these in
	// float64 and matches float64 to 1e-7). tanh' = 1-y² cancels likewise
	// for |x| ≳ 5 (PyTorch fuses it into an FMA, Go rounds y² first: 2e-5
	// apart at x = -5, both 2e-4 from the exact value). Those are absolute
	// differences of at most a few float32 ulps of 1 times |x|·|dy|, so the
	// scale is floored at 0.05 (absolute tolerance 5e-7); elsewhere the
	// comparison stays relative at 1e-5.
	const floor = 0.05
	n := len(xs)
	for _, name := range []string{nn.ActReLU, nn.ActLeakyReLU, nn.ActSigmoid, nn.ActTanh, nn.ActGELU} {
		act, err := nn.NewActivation(name)
		if err != nil {
			t.Fatal(err)
		}
		net, err := nn.NewNet([]int{n}, act)
		if err != nil {
			t.Fatal(err)
		}
		net.NeedInputGrad()
		y := net.Forward(tensor.From(xs, 1, n), true)
		nntest.CompareFloor(t, "act."+name+".y", y.Data, f.Get(t, "act."+name+".y"), parityTol, floor)
		dx := net.Backward(tensor.From(dys, 1, n))
		nntest.CompareFloor(t, "act."+name+".dx", dx.Data, f.Get(t, "act."+name+".dx"), parityTol, floor)
	}
}

func TestLossesMatchPyTorch(t *testing.T) {
	f := readFixture(t, "layers.bin")
	get := func(name string) *tensor.Tensor { return tensor.From(f.Get(t, name), 3, 4) }
	for _, c := range []struct {
		name         string
		loss         nn.Loss
		pred, target string
	}{
		{"mse", nn.MSE{}, "loss.pred", "loss.target"},
		{"l1", nn.L1{}, "loss.pred", "loss.target"},
		{"bce", nn.BCE{}, "loss.prob", "loss.label"},
		{"bce-logits", nn.BCEWithLogits{}, "loss.logits", "loss.label"},
	} {
		p, tg := get(c.pred), get(c.target)
		v := c.loss.Forward(p, tg)
		nntest.CompareScalar(t, "loss."+c.name+".value", v, f.Scalar(t, "loss."+c.name+".value"), parityTol)
		g := tensor.New(3, 4)
		c.loss.Backward(g, p, tg)
		want := f.Get(t, "loss."+c.name+".grad")
		// The gradients of a mean over 12 elements are about 1/12: floor at
		// 1e-3 of the largest so saturated entries (1e-18) compare absolutely.
		nntest.CompareFloor(t, "loss."+c.name+".grad", g.Data, want, parityTol, 1e-3*maxAbs(want))
	}
}

func maxAbs(v []float32) float64 {
	var m float64
	for _, x := range v {
		m = max(m, math.Abs(float64(x)))
	}
	return m
}
