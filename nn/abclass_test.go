package nn_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/bottleneck-ml/bottleneck/imageio"
	"github.com/bottleneck-ml/bottleneck/nn"
	"github.com/bottleneck-ml/bottleneck/nn/nntest"
	"github.com/bottleneck-ml/bottleneck/tensor"
)

// The classes are part of every colorizer file that uses them: a change
// in their count or order would silently repaint old models.
func TestABBinsFixed(t *testing.T) {
	b := imageio.ABBins()
	if len(b) != 261 || b[0] != [2]float32{-90, 80} || b[len(b)-1] != [2]float32{100, -50} {
		t.Fatalf("%d classes from %v to %v; models were trained on 261 from [-90 80] to [100 -50]", len(b), b[0], b[len(b)-1])
	}
	if nn.ABClassCount() != len(b) {
		t.Fatalf("ABClassCount %d, bins %d", nn.ABClassCount(), len(b))
	}
	// grey is a class: the centre (0, 0)
	found := false
	for _, c := range b {
		found = found || c == [2]float32{0, 0}
	}
	if !found {
		t.Fatal("no class at a = b = 0 (grey)")
	}
}

func TestABMeanGrad(t *testing.T) {
	q := nn.ABClassCount()
	nntest.CheckLayer(t, nn.NewABMean(0.38), []int{q, 2, 3}, 2, nntest.Options{Input: normal, Seed: 3})
	nntest.CheckLayer(t, nn.NewABMean(1), []int{q, 1, 2}, 1, nntest.Options{Input: normal, Seed: 4})
}

// A logit far above the others gives that class's centre; equal logits
// give the mean of all centres; a lower temperature sharpens towards the
// strongest class.
func TestABMeanDecodes(t *testing.T) {
	q := nn.ABClassCount()
	bins := imageio.ABBins()
	l := nn.NewABMean(0.38)
	if _, err := l.Setup([]int{q, 1, 1}); err != nil {
		t.Fatal(err)
	}
	x := tensor.New(1, q, 1, 1)
	const k = 17
	x.Data[k] = 40
	y := l.Forward(x, false)
	if got, want := [2]float32{y.Data[0] * imageio.ABScale, y.Data[1] * imageio.ABScale}, bins[k]; math.Abs(float64(got[0]-want[0])) > 1e-3 || math.Abs(float64(got[1]-want[1])) > 1e-3 {
		t.Errorf("one strong class: a,b %v, want its centre %v", got, want)
	}
	clear(x.Data)
	y = l.Forward(x, false)
	var ma, mb float64
	for _, c := range bins {
		ma += float64(c[0]) / float64(q)
		mb += float64(c[1]) / float64(q)
	}
	if math.Abs(float64(y.Data[0])*imageio.ABScale-ma) > 1e-3 || math.Abs(float64(y.Data[1])*imageio.ABScale-mb) > 1e-3 {
		t.Errorf("equal logits: a,b %v %v, want the centres' mean %v %v", y.Data[0]*imageio.ABScale, y.Data[1]*imageio.ABScale, ma, mb)
	}
	// two classes, logits 1 and 0: at T = 1 the weight of the first is
	// e/(1+e) = 0.731; at T = 0.38 it is 1/(1+e^(-1/0.38)) = 0.933
	for _, c := range []struct{ t, w float64 }{{1, 0.7311}, {0.38, 0.9329}} {
		l := nn.NewABMean(c.t)
		if _, err := l.Setup([]int{q, 1, 1}); err != nil {
			t.Fatal(err)
		}
		for i := range x.Data {
			x.Data[i] = -50
		}
		x.Data[0], x.Data[1] = 1, 0
		y := l.Forward(x, false)
		want := c.w*float64(bins[0][0]) + (1-c.w)*float64(bins[1][0])
		if got := float64(y.Data[0]) * imageio.ABScale; math.Abs(got-want) > 0.01 {
			t.Errorf("T %v: a %.3f, want %.3f", c.t, got, want)
		}
	}
	if _, err := nn.NewABMean(0.38).Setup([]int{3, 4, 4}); err == nil {
		t.Error("abmean on 3 channels: no error")
	}
	if _, err := nn.NewABMean(0).Setup([]int{q, 4, 4}); err == nil {
		t.Error("abmean at temperature 0: no error")
	}
}

func abTarget(rng *rand.Rand, n, h, w int) *tensor.Tensor {
	t := tensor.New(n, 2, h, w)
	for i := range t.Data {
		t.Data[i] = float32((rng.Float64()*2 - 1) * 0.6)
	}
	return t
}

func TestABClassesGrad(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	q := nn.ABClassCount()
	for _, c := range []struct{ h, s int }{{2, 1}, {2, 2}, {1, 4}} {
		pred := tensor.New(2, q, c.h, c.h)
		normal(rng, pred.Data)
		target := abTarget(rng, 2, c.h*c.s, c.h*c.s)
		nntest.CheckLoss(t, nn.NewABClasses(), pred, target)
		// the fused pass a training step uses gives the same loss and
		// gradient as Forward and Backward
		l := nn.NewABClasses()
		g1, g2 := tensor.New(pred.Shape...), tensor.New(pred.Shape...)
		l.Backward(g1, pred, target)
		if f, b := l.Forward(pred, target), l.ForwardBackward(g2, pred, target); f != b {
			t.Errorf("ForwardBackward loss %v, Forward %v", b, f)
		}
		nntest.Compare(t, "ForwardBackward gradient", g2.Data, g1.Data, 0)
	}
}

// The loss is the cross-entropy against the soft encoding: least when the
// logits put the encoding's mass where it is, and the soft encoding of a
// class centre has most of its weight on that class.
func TestABClassesEncoding(t *testing.T) {
	q := nn.ABClassCount()
	bins := imageio.ABBins()
	const k = 100
	target := tensor.New(1, 2, 1, 1)
	target.Data[0], target.Data[1] = bins[k][0]/imageio.ABScale, bins[k][1]/imageio.ABScale
	pred := tensor.New(1, q, 1, 1)
	loss := nn.NewABClasses()
	uniform := loss.Forward(pred, target)
	if math.Abs(uniform-math.Log(float64(q))) > 1e-4 {
		t.Errorf("uniform logits: loss %v, want log Q = %v", uniform, math.Log(float64(q)))
	}
	g := tensor.New(1, q, 1, 1)
	loss.Backward(g, pred, target)
	// the gradient is softmax − encoding: most negative at the true class
	best := 0
	for i, v := range g.Data {
		if v < g.Data[best] {
			best = i
		}
	}
	if best != k {
		t.Errorf("steepest class %d (%v), want %d (%v)", best, bins[best], k, bins[k])
	}
	// the step along −g lowers the loss
	for i := range pred.Data {
		pred.Data[i] -= 10 * g.Data[i]
	}
	if after := loss.Forward(pred, target); !(after < uniform) {
		t.Errorf("a gradient step raised the loss: %v → %v", uniform, after)
	}
	if err := loss.CheckTarget(tensor.New(1, q, 2, 2), tensor.New(1, 2, 5, 5)); err == nil {
		t.Error("target 5×5 for logits 2×2: no error")
	}
	if err := loss.CheckTarget(tensor.New(1, 3, 2, 2), tensor.New(1, 2, 4, 4)); err == nil {
		t.Error("3 logit channels: no error")
	}
}

// Rebalancing: λ = 1 weighs every class alike; otherwise a common class
// weighs less than a rare one, and the mean weight under the smoothed
// distribution is 1 (so the loss keeps its scale).
func TestABClassWeights(t *testing.T) {
	q := nn.ABClassCount()
	grey := nn.NearestABClass(0, 0)
	if c := imageio.ABBins()[grey]; c != [2]float32{0, 0} {
		t.Fatalf("nearest class to grey: %v", c)
	}
	counts := make([]float64, q)
	for i := range counts {
		counts[i] = 1
	}
	counts[grey] = 1000
	flat, err := nn.ABClassWeights(counts, 1)
	if err != nil {
		t.Fatal(err)
	}
	for i, w := range flat {
		if math.Abs(float64(w)-1) > 1e-5 {
			t.Fatalf("λ = 1: weight %d is %v, want 1", i, w)
		}
	}
	w, err := nn.ABClassWeights(counts, 0.5)
	if err != nil {
		t.Fatal(err)
	}
	far := nn.NearestABClass(60, 60)
	if !(w[grey] < 0.5 && w[far] > 1.5) {
		t.Errorf("grey weighs %v and a rare colour %v; want grey < 0.5 < 1.5 < rare", w[grey], w[far])
	}
	// the weights' mean under the smoothed counts is 1: check it under
	// the raw counts, which the Gaussian smooths only slightly
	var num, den float64
	for i, c := range counts {
		num += c * float64(w[i])
		den += c
	}
	if m := num / den; m < 0.5 || m > 1.5 {
		t.Errorf("mean weight under the counts %v; want near 1", m)
	}
	for _, bad := range []struct {
		counts []float64
		lambda float64
	}{{counts[:3], 0.5}, {counts, 0}, {counts, 1.5}, {make([]float64, q), 0.5}} {
		if _, err := nn.ABClassWeights(bad.counts, bad.lambda); err == nil {
			t.Errorf("%d counts, λ %v: no error", len(bad.counts), bad.lambda)
		}
	}
	// the loss weighs a pixel by its nearest class: a pixel of a class
	// with weight 2 costs twice the unweighted loss
	target := tensor.New(1, 2, 1, 1)
	target.Data[0], target.Data[1] = 60.0/imageio.ABScale, 60.0/imageio.ABScale
	pred := tensor.New(1, q, 1, 1)
	normal(rand.New(rand.NewPCG(1, 1)), pred.Data)
	plain := nn.NewABClasses().Forward(pred, target)
	l := nn.NewABClasses()
	l.Weights = make([]float32, q)
	l.Weights[far] = 2
	if got := l.Forward(pred, target); math.Abs(got-2*plain) > 1e-9 {
		t.Errorf("weighted loss %v, want 2 × %v", got, plain)
	}
	l.Weights[far] = 2
	nntest.CheckLoss(t, l, pred, target)
}

// A NaN target gives a NaN loss, not an index out of range.
func TestABClassesNaNTarget(t *testing.T) {
	q := nn.ABClassCount()
	target := tensor.New(1, 2, 1, 1)
	target.Data[0] = float32(math.NaN())
	if l := nn.NewABClasses().Forward(tensor.New(1, q, 1, 1), target); !math.IsNaN(l) {
		t.Errorf("loss %v for a NaN target; want NaN", l)
	}
}

// CountABClasses counts one class per whole s×s block, by the block's
// mean colour, and leaves the partial blocks at the edges out.
func TestCountABClasses(t *testing.T) {
	const w, h, s = 10, 6, 4 // 2×1 whole blocks; columns 8-9 and rows 4-5 left out
	a, b := make([]float32, w*h), make([]float32, w*h)
	for y := range h {
		for x := range w {
			i := y*w + x
			switch {
			case x < 4: // block (0, 0): half a = 40, half a = 80, mean 60
				a[i], b[i] = float32(40+40*(x%2)), 60
			default: // block (0, 1) and the edge: grey
				a[i], b[i] = 1, -2
			}
		}
	}
	counts := make([]float64, nn.ABClassCount())
	nn.CountABClasses(counts, a, b, w, s)
	var total float64
	for _, c := range counts {
		total += c
	}
	if total != 2 {
		t.Fatalf("%v blocks counted, want 2", total)
	}
	if c := counts[nn.NearestABClass(60, 60)]; c != 1 {
		t.Errorf("class of (60, 60): %v, want 1 (the mean of the first block)", c)
	}
	if c := counts[nn.NearestABClass(0, 0)]; c != 1 {
		t.Errorf("grey class: %v, want 1", c)
	}
}
