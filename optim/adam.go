package optim

import (
	"math"

	"github.com/bottleneck-ml/bottleneck/internal/f32"
)

// Adam is torch.optim.Adam (Decoupled false: weight decay is L2 added to the
// gradient) or torch.optim.AdamW (Decoupled true: p ← p·(1 - lr·wd) before
// the Adam update). For step t (from 1):
//
//	m = β1·m + (1-β1)·g
//	v = β2·v + (1-β2)·g²
//	p = p - (lr/(1-β1ᵗ)) · m / (√v/√(1-β2ᵗ) + eps)
//
// The bias corrections are computed in float64 and the loop in float32,
// with PyTorch's (1.13 and 2.x single-tensor) order of operations
// (f32.Adam: AVX-512 where available, split across the worker pool). One
// departure: moments that fall below float32's normal range are set to
// zero, since they cost a microcode assist per use on x86 and change no
// weight.
type Adam struct {
	lr           float64
	Beta1, Beta2 float64
	Eps          float64
	WeightDecay  float64
	Decoupled    bool
	steps        int64
	m, v         []float32
}

// NewAdam returns torch.optim.Adam(lr, betas=(beta1, beta2), eps,
// weight_decay).
func NewAdam(lr, beta1, beta2, eps, weightDecay float64) *Adam {
	return &Adam{lr: lr, Beta1: beta1, Beta2: beta2, Eps: eps, WeightDecay: weightDecay}
}

// NewAdamW returns torch.optim.AdamW(lr, betas=(beta1, beta2), eps,
// weight_decay); PyTorch's default weight decay is 0.01.
func NewAdamW(lr, beta1, beta2, eps, weightDecay float64) *Adam {
	o := NewAdam(lr, beta1, beta2, eps, weightDecay)
	o.Decoupled = true
	return o
}

func (o *Adam) SetLR(lr float64) { o.lr = lr }
func (o *Adam) LR() float64      { return o.lr }
func (o *Adam) Steps() int64     { return o.steps }
func (o *Adam) SetSteps(n int64) { o.steps = n }

func (o *Adam) String() string {
	if o.Decoupled {
		return "adamw"
	}
	return "adam"
}

// StateTensors returns "exp_avg" (m) and "exp_avg_sq" (v).
func (o *Adam) StateTensors(n int) ([]string, [][]float32) {
	o.alloc(n)
	return []string{"exp_avg", "exp_avg_sq"}, [][]float32{o.m, o.v}
}

func (o *Adam) alloc(n int) {
	if o.m == nil {
		o.m = make([]float32, n)
		o.v = make([]float32, n)
	}
}

// Step applies one Adam (or AdamW) update.
func (o *Adam) Step(params, grads []float32) {
	o.alloc(len(params))
	checkLens(o.String(), params, grads, len(o.m))
	o.steps++
	t := float64(o.steps)
	bc1 := 1 - math.Pow(o.Beta1, t)
	bc2 := 1 - math.Pow(o.Beta2, t)
	h := f32.AdamHyper{
		Decay:   1,
		B1:      float32(o.Beta1),
		C1:      float32(1 - o.Beta1),
		B2:      float32(o.Beta2),
		C2:      float32(1 - o.Beta2),
		Bc2Sqrt: float32(math.Sqrt(bc2)),
		Eps:     float32(o.Eps),
		NegStep: float32(-o.lr / bc1),
	}
	if o.Decoupled {
		h.Decay = float32(1 - o.lr*o.WeightDecay)
	} else {
		h.L2 = float32(o.WeightDecay)
	}
	n := len(params)
	f32.Adam(params, grads[:n], o.m[:n], o.v[:n], &h)
}
