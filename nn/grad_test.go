package nn_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/bottleneck-ml/bottleneck/nn"
	"github.com/bottleneck-ml/bottleneck/nn/nntest"
	"github.com/bottleneck-ml/bottleneck/tensor"
)

func TestDenseGrad(t *testing.T) {
	nntest.CheckLayer(t, nn.NewDense(5, 3), []int{5}, 4)
	nntest.CheckLayer(t, nn.NewDense(1, 1), []int{1}, 1)
	// A multi-dimensional input is flattened per sample.
	nntest.CheckLayer(t, nn.NewDense(6, 2), []int{2, 3}, 3)
	// Odd sizes, larger than one kernel block.
	nntest.CheckLayer(t, nn.NewDense(19, 13), []int{19}, 7)
}

func normal(rng *rand.Rand, x []float32) {
	for i := range x {
		x[i] = float32(rng.NormFloat64() * 2)
	}
}

func TestActivationGrad(t *testing.T) {
	for _, name := range nn.Activations {
		t.Run(name, func(t *testing.T) {
			act, err := nn.NewActivation(name)
			if err != nil {
				t.Fatal(err)
			}
			// Away from 0 for the kinks of relu and leakyrelu.
			nntest.CheckLayer(t, act, []int{7}, 3)
			switch name {
			case nn.ActSigmoid, nn.ActTanh, nn.ActGELU, nn.ActIdentity:
				// Smooth: also through 0.
				act, _ := nn.NewActivation(name)
				nntest.CheckLayer(t, act, []int{2, 5}, 4, nntest.Options{Input: normal, Seed: 7})
			}
		})
	}
	if _, err := nn.NewActivation("swish"); err == nil {
		t.Error(`NewActivation("swish"): no error`)
	}
}

func TestLeakyReLUSlope(t *testing.T) {
	nntest.CheckLayer(t, &nn.LeakyReLU{Slope: 0.2}, []int{9}, 2)
}

func TestDropoutEvalIsIdentity(t *testing.T) {
	nntest.CheckLayer(t, nn.NewDropout(0.5), []int{6}, 3) // Train false
	d := nn.NewDropout(0.5)
	if _, err := d.Setup([]int{4}); err != nil {
		t.Fatal(err)
	}
	d.Init(rand.New(rand.NewPCG(1, 1)))
	x := tensor.From([]float32{1, -2, 3, 4, 5, 6, 7, -8}, 2, 4)
	out := d.Forward(x, false)
	for i, v := range out.Data {
		if v != x.Data[i] {
			t.Fatalf("eval Forward = %v; want the input %v", out.Data, x.Data)
		}
	}
}

// In training, Forward zeroes a fraction P and scales the rest by 1/(1-P);
// Backward must use the very mask of the last Forward.
func TestDropoutTrainMask(t *testing.T) {
	const p, n = 0.3, 2000
	d := nn.NewDropout(p)
	if _, err := d.Setup([]int{n / 4}); err != nil {
		t.Fatal(err)
	}
	d.Init(rand.New(rand.NewPCG(2, 3)))
	rng := rand.New(rand.NewPCG(4, 5))
	x := tensor.New(4, n/4)
	nntest.AwayFromZero(rng, x.Data)
	dy := tensor.New(4, n/4)
	normal(rng, dy.Data)
	scale := float32(1 / (1 - p))

	out := d.Forward(x, true)
	mask := make([]float32, n)
	zeros := 0
	for i, v := range out.Data {
		switch v {
		case 0:
			zeros++
		case x.Data[i] * scale:
			mask[i] = scale
		default:
			t.Fatalf("out[%d] = %g; want 0 or x·1/(1-p) = %g", i, v, x.Data[i]*scale)
		}
	}
	if frac := float64(zeros) / n; math.Abs(frac-p) > 0.05 { // 5σ is 0.051
		t.Errorf("dropped %.3f of the elements; want about %.2f", frac, p)
	}
	dx := d.Backward(dy)
	for i, g := range dx.Data {
		if g != dy.Data[i]*mask[i] {
			t.Fatalf("dx[%d] = %g; want dy·mask = %g (Backward must reuse the Forward mask)", i, g, dy.Data[i]*mask[i])
		}
	}
	// A new Forward draws a new mask.
	out2 := d.Forward(x, true)
	same := 0
	for i := range out2.Data {
		if (out2.Data[i] == 0) == (mask[i] == 0) {
			same++
		}
	}
	if same == n {
		t.Error("two training Forwards drew the same mask")
	}

	// The same seed draws the same masks.
	d2 := nn.NewDropout(p)
	d2.Setup([]int{n / 4})
	d2.Init(rand.New(rand.NewPCG(2, 3)))
	out3 := d2.Forward(x, true)
	for i := range out3.Data {
		if (out3.Data[i] == 0) != (mask[i] == 0) {
			t.Fatal("same seed, different dropout mask")
		}
	}
}

func TestLossGrad(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 9))
	const n = 12
	pred, target := tensor.New(3, 4), tensor.New(3, 4)
	probs, labels := tensor.New(3, 4), tensor.New(3, 4)
	for i := range n {
		pred.Data[i] = float32(rng.NormFloat64())
		// Away from pred, for L1's kink.
		target.Data[i] = pred.Data[i] + float32((0.05+rng.Float64())*float64(1-2*rng.IntN(2)))
		probs.Data[i] = float32(0.05 + 0.9*rng.Float64())
		labels.Data[i] = float32(rng.Float64()) // soft labels are allowed
	}
	labels.Data[0], labels.Data[1] = 0, 1
	nntest.CheckLoss(t, nn.MSE{}, pred, target)
	nntest.CheckLoss(t, nn.L1{}, pred, target)
	nntest.CheckLoss(t, nn.BCE{}, probs, labels)
	nntest.CheckLoss(t, nn.BCEWithLogits{}, pred, labels)
	for _, name := range []string{nn.LossMSE, nn.LossL1, nn.LossBCE, nn.LossBCEWithLogits} {
		if _, err := nn.NewLoss(name); err != nil {
			t.Errorf("NewLoss(%q): %v", name, err)
		}
	}
	if _, err := nn.NewLoss("huber"); err == nil {
		t.Error(`NewLoss("huber"): no error`)
	}
}

// Hand-checked values: MSE of (1,2) against (0,0) is 2.5, L1 is 1.5, BCE of
// 0.5 is ln 2 whatever the target, and L1's gradient at 0 is 0.
func TestLossByHand(t *testing.T) {
	p, z := tensor.From([]float32{1, 2}, 1, 2), tensor.From([]float32{0, 0}, 1, 2)
	half, lab := tensor.From([]float32{0.5, 0.5}, 1, 2), tensor.From([]float32{0, 1}, 1, 2)
	tests := []struct {
		name string
		loss nn.Loss
		p, t *tensor.Tensor
		want float64
		grad []float32
	}{
		{"mse", nn.MSE{}, p, z, 2.5, []float32{1, 2}},
		{"l1", nn.L1{}, p, z, 1.5, []float32{0.5, 0.5}},
		{"l1 zero diff", nn.L1{}, z, z, 0, []float32{0, 0}},
		{"bce", nn.BCE{}, half, lab, math.Ln2, []float32{1, -1}},
		{"bce-logits", nn.BCEWithLogits{}, z, lab, math.Ln2, []float32{0.25, -0.25}},
	}
	for _, tt := range tests {
		if got := tt.loss.Forward(tt.p, tt.t); math.Abs(got-tt.want) > 1e-7 {
			t.Errorf("%s: Forward = %.9g; want %.9g", tt.name, got, tt.want)
		}
		g := tensor.New(1, 2)
		tt.loss.Backward(g, tt.p, tt.t)
		for i := range g.Data {
			if math.Abs(float64(g.Data[i]-tt.grad[i])) > 1e-6 {
				t.Errorf("%s: Backward = %v; want %v", tt.name, g.Data, tt.grad)
				break
			}
		}
	}
}

// BCEWithLogits stays finite on saturated logits, and agrees with BCE after
// a sigmoid wherever the sigmoid is not saturated in float32.
func TestBCEWithLogitsExtremes(t *testing.T) {
	logits := []float32{-100, -50, -20, -15, -5, -1, -1e-3, 0, 1e-3, 1, 5, 15, 20, 50, 100}
	for _, lab := range []float32{0, 1, 0.3} {
		for _, z := range logits {
			zt := tensor.From([]float32{z}, 1, 1)
			tt := tensor.From([]float32{lab}, 1, 1)
			l := nn.BCEWithLogits{}.Forward(zt, tt)
			g := tensor.New(1, 1)
			nn.BCEWithLogits{}.Backward(g, zt, tt)
			if math.IsNaN(l) || math.IsInf(l, 0) || l < 0 {
				t.Errorf("BCEWithLogits(%g, %g) = %g; want finite >= 0", z, lab, l)
			}
			if gv := g.Data[0]; math.IsNaN(float64(gv)) || gv < -1 || gv > 1 {
				t.Errorf("BCEWithLogits'(%g, %g) = %g; want in [-1, 1]", z, lab, gv)
			}
			// Exact in float64: max(z,0) - z·t + log1p(e^-|z|).
			zv, tv := float64(z), float64(lab)
			want := max(zv, 0) - zv*float64(tv) + math.Log1p(math.Exp(-math.Abs(zv)))
			if math.Abs(l-want) > 1e-9*max(1, want) {
				t.Errorf("BCEWithLogits(%g, %g) = %.12g; want %.12g", z, lab, l, want)
			}
			if math.Abs(float64(z)) > 15 {
				continue
			}
			p := tensor.From([]float32{nn.SigmoidScalar(z)}, 1, 1)
			lb := nn.BCE{}.Forward(p, tt)
			// Rounding σ(z) to float32 moves p by up to half an ulp
			// (6e-8 near 1), which moves log(1-p) by 6e-8/(1-p): at z = 15
			// that is 0.02, so the tolerance grows with saturation.
			pv := float64(p.Data[0])
			if math.Abs(l-lb) > 1e-5*max(1, lb)+1.2e-7/min(pv, 1-pv) {
				t.Errorf("z=%g t=%g: BCEWithLogits %.8g, BCE(sigmoid) %.8g", z, lab, l, lb)
			}
			// Chain rule through the sigmoid: dBCE/dp · p(1-p) = p - t.
			gb := tensor.New(1, 1)
			nn.BCE{}.Backward(gb, p, tt)
			chain := float64(gb.Data[0]) * pv * (1 - pv)
			if math.Abs(chain-float64(g.Data[0])) > 1e-5*max(1e-3, math.Abs(chain)) {
				t.Errorf("z=%g t=%g: BCEWithLogits' %.8g, BCE'·σ' %.8g", z, lab, g.Data[0], chain)
			}
		}
	}
}

func TestNetGrad(t *testing.T) {
	nntest.CheckNet(t, []int{6}, 4, []nn.Layer{
		nn.NewDense(6, 5), &nn.Tanh{},
		nn.NewDense(5, 4), &nn.GELU{},
		nn.NewDense(4, 4), &nn.LeakyReLU{Slope: 0.01},
		nn.NewDense(4, 3), &nn.Sigmoid{},
	})
	// ReLU inside a net: its kink may fall within Eps of a pre-activation,
	// so the seed is fixed (it is deterministic).
	nntest.CheckNet(t, []int{5}, 3, []nn.Layer{
		nn.NewDense(5, 8), &nn.ReLU{}, nn.NewDropout(0.5), nn.NewDense(8, 2), &nn.Identity{},
	})
}

func TestNetParamNames(t *testing.T) {
	net, err := nn.NewNet([]int{4}, nn.NewDense(4, 3), &nn.ReLU{}, nn.NewDense(3, 2))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range net.Params() {
		names = append(names, p.Name)
	}
	want := []string{"0.weight", "0.bias", "2.weight", "2.bias"}
	if len(names) != len(want) {
		t.Fatalf("param names %v; want %v", names, want)
	}
	for i := range want {
		if names[i] != want[i] {
			t.Fatalf("param names %v; want %v", names, want)
		}
	}
	if _, err := nn.NewNet([]int{5}, nn.NewDense(4, 3)); err == nil {
		t.Error("NewNet with a 5-feature input into Dense(4, 3): no error")
	}
}

// After the first batch, training steps at the same or a smaller batch
// allocate nothing.
func TestNetReusesBuffers(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	net, err := nn.NewNet([]int{10},
		nn.NewDense(10, 8), &nn.ReLU{}, nn.NewDropout(0.2),
		nn.NewDense(8, 6), &nn.GELU{}, nn.NewDense(6, 10), &nn.Sigmoid{})
	if err != nil {
		t.Fatal(err)
	}
	ps := nn.NewParamSet(net.Params())
	rng := rand.New(rand.NewPCG(1, 2))
	net.Init(rng)
	x8 := tensor.New(8, 10)
	for i := range x8.Data {
		x8.Data[i] = float32(rng.Float64())
	}
	x5 := tensor.From(x8.Data[:50], 5, 10)
	dy8 := tensor.New(8, 10)
	dy5 := tensor.From(dy8.Data[:50], 5, 10)
	var loss nn.MSE
	step := func(x, dy *tensor.Tensor) {
		ps.ZeroGrad()
		out := net.Forward(x, true)
		loss.Forward(out, x)
		loss.Backward(dy, out, x)
		net.Backward(dy)
	}
	step(x8, dy8)
	if n := testing.AllocsPerRun(5, func() { step(x8, dy8) }); n != 0 {
		t.Errorf("step at batch 8 after batch 8: %v allocations; want 0", n)
	}
	if n := testing.AllocsPerRun(5, func() { step(x5, dy5) }); n != 0 {
		t.Errorf("step at batch 5 after batch 8: %v allocations; want 0", n)
	}
	if n := testing.AllocsPerRun(5, func() { step(x5, dy5); step(x8, dy8) }); n != 0 {
		t.Errorf("alternating batches 5 and 8: %v allocations; want 0", n)
	}
}

func TestReparamGrad(t *testing.T) {
	// The path through z, with ε held fixed, and at inference (z = μ).
	for _, train := range []bool{true, false} {
		l := nn.NewReparam()
		l.KeepNoise = true
		nntest.CheckLayer(t, l, []int{6}, 4, nntest.Options{Train: train, Input: normal})
	}
	// The KL term: Backward with dL/dz = 0 must give Weight·∂KL/∂input.
	l := nn.NewReparam()
	if _, err := l.Setup([]int{6}); err != nil {
		t.Fatal(err)
	}
	l.Init(rand.New(rand.NewPCG(3, 3)))
	l.Weight = 0.7
	x := tensor.New(4, 6)
	normal(rand.New(rand.NewPCG(5, 5)), x.Data)
	l.Forward(x, true)
	dx := l.Backward(tensor.New(4, 3)).Data
	for i := range x.Data {
		orig := x.Data[i]
		x.Data[i] = orig + 1e-3
		l.Forward(x, false)
		hi := l.KL
		x.Data[i] = orig - 1e-3
		l.Forward(x, false)
		lo := l.KL
		x.Data[i] = orig
		want := 0.7 * (hi - lo) / 2e-3
		if d := math.Abs(float64(dx[i]) - want); d > 1e-3+1e-2*math.Abs(want) {
			t.Errorf("∂KL/∂x[%d] = %g, finite differences %g", i, dx[i], want)
		}
	}
	// KL of N(μ, σ²) against N(0, 1) for one unit: ½(μ² + σ² − 1 − log σ²).
	one := nn.NewReparam()
	one.Setup([]int{2})
	one.Forward(tensor.From([]float32{1, float32(math.Log(4))}, 1, 2), false)
	if want := 0.5 * (1 + 4 - 1 - math.Log(4)); math.Abs(one.KL-want) > 1e-6 {
		t.Errorf("KL = %g, want %g", one.KL, want)
	}
	if _, err := nn.NewReparam().Setup([]int{5}); err == nil {
		t.Error("Setup([5]): no error for an odd width")
	}
}
