package nn

import (
	"fmt"
	"math"

	"github.com/bottleneck-ml/bottleneck/internal/f32"
	"github.com/bottleneck-ml/bottleneck/tensor"
)

// Loss compares a prediction with a target. Both are the mean over every
// element, as PyTorch's reduction='mean'.
type Loss interface {
	// Forward returns the loss of pred against target.
	Forward(pred, target *tensor.Tensor) float64
	// Backward writes dLoss/dpred into dpred (same shape as pred).
	Backward(dpred, pred, target *tensor.Tensor)
}

// FusedLoss is a Loss that gives the loss and its gradient in one pass.
// A training step calls ForwardBackward when its loss has it, so a loss
// whose per-element work is costly (ABClasses: a softmax and a nearest-
// class search per pixel) does it once a step rather than twice.
type FusedLoss interface {
	Loss
	// ForwardBackward returns Forward(pred, target) and writes
	// Backward's gradient into dpred.
	ForwardBackward(dpred, pred, target *tensor.Tensor) float64
}

// Loss names accepted by NewLoss.
const (
	LossMSE           = "mse"
	LossL1            = "l1"
	LossBCE           = "bce"
	LossBCEWithLogits = "bce-logits"
	LossABClasses     = "ab-classes" // a colorizer's class logits against a and b (see ABClasses)
)

// NewLoss returns the loss for name.
func NewLoss(name string) (Loss, error) {
	switch name {
	case LossMSE:
		return MSE{}, nil
	case LossL1:
		return L1{}, nil
	case LossBCE:
		return BCE{}, nil
	case LossBCEWithLogits:
		return BCEWithLogits{}, nil
	case LossABClasses:
		return NewABClasses(), nil
	}
	return nil, fmt.Errorf("unknown loss %q (want mse, l1, bce, bce-logits or ab-classes)", name)
}

func checkLoss(name string, pred, target *tensor.Tensor) {
	if len(pred.Data) != len(target.Data) {
		panic(fmt.Sprintf("nn: %s: pred %v and target %v differ in size", name, pred.Shape, target.Shape))
	}
}

// MSE is the mean squared error.
type MSE struct{}

func (MSE) Forward(pred, target *tensor.Tensor) float64 {
	checkLoss("MSE", pred, target)
	return f32.SqDiffSum(pred.Data, target.Data) / float64(max(1, len(pred.Data)))
}

func (MSE) Backward(dpred, pred, target *tensor.Tensor) {
	checkLoss("MSE", pred, target)
	t := target.Data[:len(pred.Data)]
	g := dpred.Data[:len(pred.Data)]
	scale := float32(2 / float64(max(1, len(pred.Data))))
	f32.MSEGrad(g, pred.Data, t, scale)
}

// L1 is the mean absolute error. Its gradient at zero difference is 0, as
// PyTorch's sign().
type L1 struct{}

func (L1) Forward(pred, target *tensor.Tensor) float64 {
	checkLoss("L1", pred, target)
	t := target.Data[:len(pred.Data)]
	var s float64
	for i, p := range pred.Data {
		s += math.Abs(float64(p - t[i]))
	}
	return s / float64(max(1, len(pred.Data)))
}

func (L1) Backward(dpred, pred, target *tensor.Tensor) {
	checkLoss("L1", pred, target)
	t := target.Data[:len(pred.Data)]
	g := dpred.Data[:len(pred.Data)]
	scale := float32(1 / float64(max(1, len(pred.Data))))
	for i, p := range pred.Data {
		switch d := p - t[i]; {
		case d > 0:
			g[i] = scale
		case d < 0:
			g[i] = -scale
		default:
			g[i] = 0
		}
	}
}

// BCE is binary cross-entropy on probabilities in [0, 1]. Like PyTorch it
// clamps each log term at -100 so a saturated prediction gives a large but
// finite loss. Prefer BCEWithLogits where the logits are at hand.
type BCE struct{}

func clampLog(v float64) float64 {
	if v <= 0 {
		return -100
	}
	return max(math.Log(v), -100)
}

func (BCE) Forward(pred, target *tensor.Tensor) float64 {
	checkLoss("BCE", pred, target)
	t := target.Data[:len(pred.Data)]
	var s float64
	for i, p := range pred.Data {
		pv, tv := float64(p), float64(t[i])
		s -= tv*clampLog(pv) + (1-tv)*clampLog(1-pv)
	}
	return s / float64(max(1, len(pred.Data)))
}

func (BCE) Backward(dpred, pred, target *tensor.Tensor) {
	checkLoss("BCE", pred, target)
	t := target.Data[:len(pred.Data)]
	g := dpred.Data[:len(pred.Data)]
	const eps = 1e-12
	n := float64(max(1, len(pred.Data)))
	for i, p := range pred.Data {
		pv, tv := float64(p), float64(t[i])
		g[i] = float32((pv - tv) / max(pv*(1-pv), eps) / n)
	}
}

// BCEWithLogits is binary cross-entropy on logits z, computed as
// max(z,0) - z·t + log(1+e^-|z|), which never overflows.
type BCEWithLogits struct{}

func (BCEWithLogits) Forward(logits, target *tensor.Tensor) float64 {
	checkLoss("BCEWithLogits", logits, target)
	return BCEWithLogitsSum(logits.Data, target.Data) / float64(max(1, len(logits.Data)))
}

func (BCEWithLogits) Backward(dlogits, logits, target *tensor.Tensor) {
	checkLoss("BCEWithLogits", logits, target)
	BCEWithLogitsGrad(dlogits.Data, logits.Data, target.Data, float32(1/float64(max(1, len(logits.Data)))))
}

// BCEWithLogitsSum is Σ BCE(σ(z), t) over z (t at least as long), in
// float64: the Bernoulli negative log-likelihood VAEs need summed per
// sample rather than averaged.
func BCEWithLogitsSum(z, t []float32) float64 {
	t = t[:len(z)]
	var s float64
	for i, zf := range z {
		v, tv := float64(zf), float64(t[i])
		s += max(v, 0) - v*tv + math.Log1p(math.Exp(-math.Abs(v)))
	}
	return s
}

// BCEWithLogitsGrad writes scale·(σ(z) − t), the gradient of
// scale·BCEWithLogitsSum(z, t), into g.
func BCEWithLogitsGrad(g, z, t []float32, scale float32) {
	g, t = g[:len(z)], t[:len(z)]
	f32.Sigmoid(g, z)
	for i, p := range g {
		g[i] = scale * (p - t[i])
	}
}
