package optim_test

import (
	"fmt"
	"math"
	"testing"

	"github.com/bottleneck-ml/bottleneck/nn"
	"github.com/bottleneck-ml/bottleneck/nn/nntest"
	"github.com/bottleneck-ml/bottleneck/optim"
	"github.com/bottleneck-ml/bottleneck/tensor"
)

// denseMNIST are the layer widths of the dense-mnist benchmark model
// (shared/bench/MODELS.md): ReLU after every layer but the code (4th
// width) and the output (Sigmoid).
var denseMNIST = []int{784, 512, 256, 64, 256, 512, 784}

func buildDenseMNIST(t *testing.T) (*nn.Net, *nn.ParamSet) {
	var layers []nn.Layer
	for k := range 6 {
		layers = append(layers, nn.NewDense(denseMNIST[k], denseMNIST[k+1]))
		switch k {
		case 2: // code: no activation
		case 5:
			layers = append(layers, &nn.Sigmoid{})
		default:
			layers = append(layers, &nn.ReLU{})
		}
	}
	net, err := nn.NewNet([]int{784}, layers...)
	if err != nil {
		t.Fatal(err)
	}
	ps := nn.NewParamSet(net.Params())
	for p, par := range ps.Params {
		formulaParam(par.W, p, denseMNIST[p/2])
	}
	return net, ps
}

// formulaParam fills parameter tensor number p (0 = first weight, 1 = first
// bias, ...) as testdata/ref/make_fixtures.py's formula_param:
// v[i] = ((i·7919 + p·104729) mod 2001 - 1000) / 1000 · (1/√fanIn), each
// step one IEEE float64 operation, then rounded to float32, so both sides
// get the same bits.
func formulaParam(w []float32, p, fanIn int) {
	s := 1 / math.Sqrt(float64(fanIn))
	for i := range w {
		k := (int64(i)*7919+int64(p)*104729)%2001 - 1000
		w[i] = float32(float64(k) / 1000 * s)
	}
}

// formulaInput is make_fixtures.py's formula_input: ((j·7927) mod 1009)/1008.
func formulaInput(x []float32) {
	for j := range x {
		x[j] = float32(float64((int64(j)*7927)%1009) / 1008)
	}
}

// sample32 is make_fixtures.py's sample32: 32 values at flat indices
// (i·104729 + 17) mod n, spread over rows and columns (the first 32 can all
// be zero gradients of one dead ReLU unit).
func sample32(v []float32) []float32 {
	out := make([]float32, 32)
	for i := range out {
		out[i] = v[(i*104729+17)%len(v)]
	}
	return out
}

// TestDenseMNISTMatchesPyTorch replays the dense-mnist model from formula
// weights on a formula batch of 4 and compares the forward pass, the MSE
// loss, the gradients and 3 Adam steps with PyTorch 1.13
// (testdata/ref/dense_mnist.bin).
func TestDenseMNISTMatchesPyTorch(t *testing.T) {
	f, err := nntest.ReadFixture("../testdata/ref/dense_mnist.bin")
	if err != nil {
		t.Fatal(err)
	}
	net, ps := buildDenseMNIST(t)
	x := tensor.New(4, 784)
	formulaInput(x.Data)
	for i, v := range f.Get(t, "x.first64") {
		if x.Data[i] != v {
			t.Fatalf("formula input [%d] = %g; PyTorch has %g: the formulas disagree", i, x.Data[i], v)
		}
	}
	const tol = 1e-5
	var loss nn.MSE
	dy := tensor.New(4, 784)

	out := net.Forward(x, true)
	nntest.Compare(t, "out.first64", out.Data[:64], f.Get(t, "out.first64"), tol)
	var sum, sumsq float64
	for _, v := range out.Data {
		sum += float64(v)
		sumsq += float64(v) * float64(v)
	}
	// The outputs are sigmoids in (0, 1), all positive: their sums keep the
	// elements' relative accuracy.
	nntest.CompareScalar(t, "out.sum", sum, f.Scalar(t, "out.sum"), tol)
	nntest.CompareScalar(t, "out.sumsq", sumsq, f.Scalar(t, "out.sumsq"), tol)
	nntest.CompareScalar(t, "loss", loss.Forward(out, x), f.Scalar(t, "loss"), tol)

	ps.ZeroGrad()
	loss.Backward(dy, out, x)
	net.Backward(dy)
	for _, p := range ps.Params {
		var n2 float64
		for _, g := range p.G {
			n2 += float64(g) * float64(g)
		}
		nntest.CompareScalar(t, "grad."+p.Name+".norm", math.Sqrt(n2), f.Scalar(t, "grad."+p.Name+".norm"), tol)
		want := f.Get(t, "grad."+p.Name+".first32")
		// An element of a gradient is a sum over the batch (and the next
		// layer's up to 512 units) of terms of about the tensor's RMS, and
		// may cancel far below it: rounding leaves an absolute error of
		// √512 · 6e-8 ≈ 1.4e-6 of the terms, not of the result (grad.2.bias
		// [25] is 4% of its RMS and 5e-12 apart). So the scale is floored at
		// the RMS of the whole gradient (from PyTorch's norm).
		rms := f.Scalar(t, "grad."+p.Name+".norm") / math.Sqrt(float64(len(p.G)))
		nntest.CompareFloor(t, "grad."+p.Name+".first32", p.G[:32], want, tol, rms)
		nntest.CompareFloor(t, "grad."+p.Name+".sample32", sample32(p.G), f.Get(t, "grad."+p.Name+".sample32"), tol, rms)
	}

	opt := optim.NewAdam(1e-3, 0.9, 0.999, 1e-8, 0)
	losses := f.Get(t, "adam.losses")
	for s := range 3 {
		ps.ZeroGrad()
		out := net.Forward(x, true)
		nntest.CompareScalar(t, fmt.Sprintf("adam.losses[%d]", s), loss.Forward(out, x), float64(losses[s]), tol)
		loss.Backward(dy, out, x)
		net.Backward(dy)
		opt.Step(ps.W, ps.G)
	}
	nntest.CompareScalar(t, "adam.loss_after", loss.Forward(net.Forward(x, false), x), f.Scalar(t, "adam.loss_after"), tol)
	for _, p := range ps.Params {
		var sum, sumsq, sumAbs float64
		for _, w := range p.W {
			sum += float64(w)
			sumsq += float64(w) * float64(w)
			sumAbs += math.Abs(float64(w))
		}
		// The weights have both signs, so their sum cancels: if every weight
		// is within tol of PyTorch's, the sum is within tol·Σ|w|.
		want := f.Scalar(t, "adam."+p.Name+".sum")
		if d := math.Abs(sum - want); d > tol*sumAbs {
			t.Errorf("adam.%s.sum = %.8g; want %.8g (diff %.3g > tol·Σ|w| = %.3g)", p.Name, sum, want, d, tol*sumAbs)
		} else {
			t.Logf("adam.%s.sum: diff/Σ|w| %.3g (tolerance %.3g)", p.Name, d/sumAbs, tol)
		}
		nntest.CompareScalar(t, "adam."+p.Name+".sumsq", sumsq, f.Scalar(t, "adam."+p.Name+".sumsq"), tol)
		nntest.Compare(t, "adam."+p.Name+".first32", p.W[:32], f.Get(t, "adam."+p.Name+".first32"), tol)
		nntest.Compare(t, "adam."+p.Name+".sample32", sample32(p.W), f.Get(t, "adam."+p.Name+".sample32"), tol)
	}
}

// TestOptimizersMatchPyTorch runs 4 steps of each optimiser of
// make_fixtures.py's OPTIMIZERS on the same parameters and gradients as
// PyTorch 1.13 (testdata/ref/optim.bin), and clip_grad_norm_.
func TestOptimizersMatchPyTorch(t *testing.T) {
	f, err := nntest.ReadFixture("../testdata/ref/optim.bin")
	if err != nil {
		t.Fatal(err)
	}
	opts := map[string]optim.Optimizer{
		"sgd":             optim.NewSGD(0.1, 0, false, 0),
		"sgd-momentum-wd": optim.NewSGD(0.1, 0.9, false, 0.01),
		"sgd-nesterov":    optim.NewSGD(0.1, 0.9, true, 0),
		"adam":            optim.NewAdam(1e-2, 0.9, 0.999, 1e-8, 0),
		"adam-wd":         optim.NewAdam(1e-2, 0.8, 0.99, 1e-6, 0.1),
		"adamw":           optim.NewAdamW(1e-2, 0.9, 0.999, 1e-8, 0.01),
		"adamw-wd":        optim.NewAdamW(1e-2, 0.8, 0.99, 1e-6, 0.5),
	}
	p0, grads := f.Get(t, "p0"), f.Get(t, "grads")
	n := len(p0)
	for name, opt := range opts {
		p := append([]float32(nil), p0...)
		for s := 0; s < len(grads)/n; s++ {
			opt.Step(p, grads[s*n:(s+1)*n])
		}
		nntest.Compare(t, name, p, f.Get(t, name+".p"), 1e-5)
	}
	g := append([]float32(nil), f.Get(t, "clip.g")...)
	norm := optim.ClipGradNorm(g, 1)
	nntest.CompareScalar(t, "clip.norm", norm, f.Scalar(t, "clip.norm"), 1e-5)
	nntest.Compare(t, "clip.g_clipped", g, f.Get(t, "clip.g_clipped"), 1e-5)
}
