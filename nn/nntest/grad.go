// Package nntest holds the checks every nn layer and loss is tested with:
// finite-difference gradients (CheckLayer, CheckLoss), tolerance-aware
// comparisons that report the largest difference per tensor (Compare), and
// the reader of the PyTorch reference fixtures in testdata/ref (ReadFixture).
package nntest

import (
	"fmt"
	"iter"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/bottleneck-ml/bottleneck/nn"
	"github.com/bottleneck-ml/bottleneck/tensor"
)

// Options tunes CheckLayer and CheckLoss. Zero fields take the defaults.
type Options struct {
	Eps    float64 // finite-difference step (default 1e-3)
	RelTol float64 // relative tolerance (default 1e-2)
	AbsTol float64 // absolute floor of the tolerance (default 1e-3)
	Seed   uint64  // seeds parameters, input and r (default 1)
	Train  bool    // run Forward in training mode
	// Input fills the input batch. The default draws |x| in [0.1, 2) with a
	// random sign, which keeps every element away from the kinks of ReLU,
	// LeakyReLU and L1 by more than Eps.
	Input func(rng *rand.Rand, x []float32)
}

func (o Options) withDefaults() Options {
	if o.Eps == 0 {
		o.Eps = 1e-3
	}
	if o.RelTol == 0 {
		o.RelTol = 1e-2
	}
	if o.AbsTol == 0 {
		o.AbsTol = 1e-3
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	if o.Input == nil {
		o.Input = AwayFromZero
	}
	return o
}

// AwayFromZero fills x with values whose magnitude is uniform in [0.1, 2)
// and whose sign is random.
func AwayFromZero(rng *rand.Rand, x []float32) {
	for i := range x {
		v := 0.1 + 1.9*rng.Float64()
		if rng.IntN(2) == 0 {
			v = -v
		}
		x[i] = float32(v)
	}
}

func opts(o []Options) Options {
	if len(o) > 1 {
		panic("nntest: pass at most one Options")
	}
	if len(o) == 0 {
		return Options{}.withDefaults()
	}
	return o[0].withDefaults()
}

// CheckLayer checks layer's Backward against central differences of its
// Forward. It builds nn.NewNet(inShape, layer), binds a ParamSet, draws the
// parameters from a seeded generator, asks for the input gradient, and uses
// the scalar loss L = Σ out·r for a random r, so dL/dout = r. It then
// compares dL/dx and the gradient of every parameter with
// (L(θ+ε) - L(θ-ε)) / 2ε (L summed in float64), element by element, with
// tolerance AbsTol + RelTol·max(|analytic|, |numeric|), and reports the
// largest difference of each tensor that fails. It also checks that
// Backward accumulates into the parameter gradients (a second Backward
// doubles them) and that Forward and Backward leave their input untouched.
func CheckLayer(t testing.TB, layer nn.Layer, inShape []int, batch int, o ...Options) {
	t.Helper()
	CheckNet(t, inShape, batch, []nn.Layer{layer}, o...)
}

// CheckNet is CheckLayer for a sequence of layers.
func CheckNet(t testing.TB, inShape []int, batch int, layers []nn.Layer, o ...Options) {
	t.Helper()
	op := opts(o)
	net, err := nn.NewNet(inShape, layers...)
	if err != nil {
		t.Fatalf("NewNet(%v): %v", inShape, err)
	}
	ps := nn.NewParamSet(net.Params())
	rng := rand.New(rand.NewPCG(op.Seed, 0x5eed))
	net.Init(rng)
	net.NeedInputGrad()

	x := tensor.New(append([]int{batch}, inShape...)...)
	op.Input(rng, x.Data)
	x0 := slices.Clone(x.Data)
	outShape := append([]int{batch}, net.OutShape...)
	r := tensor.New(outShape...)
	for i := range r.Data {
		r.Data[i] = float32(rng.NormFloat64())
	}
	loss := func() float64 {
		out := net.Forward(x, op.Train)
		if !slices.Equal(out.Shape, outShape) {
			t.Fatalf("Forward: output shape %v; want %v", out.Shape, outShape)
		}
		var s float64
		for i, v := range out.Data {
			s += float64(v) * float64(r.Data[i])
		}
		return s
	}

	// Analytic gradients.
	ps.ZeroGrad()
	loss()
	dxT := net.Backward(r)
	if dxT == nil {
		t.Fatalf("Backward returned no input gradient after NeedInputGrad")
	}
	if !slices.Equal(dxT.Shape, x.Shape) {
		t.Fatalf("Backward: dx shape %v; want %v", dxT.Shape, x.Shape)
	}
	dx := slices.Clone(dxT.Data)
	g1 := slices.Clone(ps.G)
	if !slices.Equal(x.Data, x0) {
		t.Errorf("Forward/Backward modified their input")
	}

	// Accumulation: a second pass without ZeroGrad doubles the gradients.
	loss()
	net.Backward(r)
	for off, p := range params(ps) {
		var worst float64
		for i, g := range p.G {
			want := 2 * float64(g1[off+i])
			worst = max(worst, math.Abs(float64(g)-want)/max(1e-6, math.Abs(want)))
		}
		if worst > 1e-5 {
			t.Errorf("%s: a second Backward without ZeroGrad gives %.3g relative off 2×grad; Backward must accumulate (+=)", p.Name, worst)
		}
	}

	// Numeric gradients.
	numeric := func(v []float32, i int) float64 {
		orig := v[i]
		hi, lo := orig+float32(op.Eps), orig-float32(op.Eps)
		v[i] = hi
		lp := loss()
		v[i] = lo
		lm := loss()
		v[i] = orig
		return (lp - lm) / (float64(hi) - float64(lo))
	}
	num := make([]float64, len(x.Data))
	for i := range x.Data {
		num[i] = numeric(x.Data, i)
	}
	compareGrad(t, "input", dx, num, op)
	for off, p := range params(ps) {
		num := make([]float64, len(p.W))
		for i := range p.W {
			num[i] = numeric(p.W, i)
		}
		compareGrad(t, p.Name, g1[off:off+len(p.W)], num, op)
	}
}

// params yields each parameter of ps with its offset in ps.W and ps.G
// (NewParamSet binds them in order).
func params(ps *nn.ParamSet) iter.Seq2[int, *nn.Param] {
	return func(yield func(int, *nn.Param) bool) {
		off := 0
		for _, p := range ps.Params {
			if !yield(off, p) {
				return
			}
			off += p.Size()
		}
	}
}

// compareGrad reports the elements where analytic and numeric gradients
// differ by more than the tolerance, with the largest difference.
func compareGrad(t testing.TB, name string, analytic []float32, numeric []float64, op Options) {
	t.Helper()
	bad, worstI := 0, -1
	var worst float64
	for i, a := range analytic {
		d := math.Abs(float64(a) - numeric[i])
		tol := op.AbsTol + op.RelTol*max(math.Abs(float64(a)), math.Abs(numeric[i]))
		if d > tol || math.IsNaN(d) {
			bad++
		}
		if d > worst || math.IsNaN(d) {
			worst, worstI = d, i
		}
	}
	if bad > 0 {
		t.Errorf("%s gradient: %d of %d elements off; max |analytic-numeric| = %.3g at [%d] (analytic %.6g, numeric %.6g)",
			name, bad, len(analytic), worst, worstI, analytic[worstI], numeric[worstI])
	}
}

// CheckLoss checks loss.Backward against central differences of
// loss.Forward at pred (target fixed), and that Backward leaves pred and
// target untouched.
func CheckLoss(t testing.TB, loss nn.Loss, pred, target *tensor.Tensor, o ...Options) {
	t.Helper()
	op := opts(o)
	p0, t0 := slices.Clone(pred.Data), slices.Clone(target.Data)
	d := tensor.New(pred.Shape...)
	loss.Backward(d, pred, target)
	if !slices.Equal(pred.Data, p0) || !slices.Equal(target.Data, t0) {
		t.Errorf("%T: Backward modified pred or target", loss)
	}
	num := make([]float64, len(pred.Data))
	for i := range pred.Data {
		orig := pred.Data[i]
		hi, lo := orig+float32(op.Eps), orig-float32(op.Eps)
		pred.Data[i] = hi
		lp := loss.Forward(pred, target)
		pred.Data[i] = lo
		lm := loss.Forward(pred, target)
		pred.Data[i] = orig
		num[i] = (lp - lm) / (float64(hi) - float64(lo))
	}
	compareGrad(t, fmt.Sprintf("%T", loss), d.Data, num, op)
}
