package nn

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/bottleneck-ml/bottleneck/tensor"
)

// Reparam is the sampling step of a variational autoencoder (Kingma &
// Welling 2014). Its input is, per sample, the mean μ and the log-variance
// log σ² of a diagonal Gaussian q(z|x), as 2·Z features [μ₀…μ_Z−1,
// log σ²₀…log σ²_Z−1]; its output is z (Z features):
//
//	training:  z = μ + σ·ε, ε ~ N(0, I)   (the reparameterisation trick)
//	inference: z = μ
//
// Forward also records KL, the batch sum of KL(q(z|x) ‖ N(0, I)) =
// ½ Σ (μ² + σ² − 1 − log σ²). Backward adds Weight·∂KL/∂input to the
// gradient that flows back through z, so a model whose loss is
// reconstruction + w·KL sets Weight to w times the scale its reconstruction
// gradient carries (1/N for a per-sample mean, 1/(N·D) for a per-element
// mean). Keeping the KL term inside the layer lets a VAE be an ordinary
// stack of layers: the dense and convolutional VAEs share this code.
type Reparam struct {
	Weight float64 // multiplies ∂KL/∂input in Backward
	// Rand draws ε. Init seeds a generator of the layer's own; an owner
	// that wants the ε of a step to be reproducible (training resumed from
	// a checkpoint, a fixed-seed validation loss) replaces or reseeds it.
	Rand *rand.Rand
	// KeepNoise reuses the ε of the previous training Forward while the
	// batch size stays the same (finite-difference checks need a fixed ε).
	KeepNoise bool
	KL        float64 // batch sum of the KL divergence, from the last Forward

	code    int
	inShape []int // [2·Z] and [Z], kept so that steps do not allocate
	zShape  []int
	x       *tensor.Tensor
	eps     []float32
	sampled bool // the last Forward drew ε (training)
	out, dx *tensor.Tensor
}

// NewReparam returns the sampling layer.
func NewReparam() *Reparam { return &Reparam{} }

// Setup takes a flat input of 2·Z features and gives Z.
func (l *Reparam) Setup(in []int) ([]int, error) {
	if len(in) != 1 || in[0] < 2 || in[0]%2 != 0 {
		return nil, fmt.Errorf("reparam: input %v; want one even number of features (mean and log-variance per code unit), e.g. from a dense layer of 2×code", in)
	}
	l.code = in[0] / 2
	l.inShape, l.zShape = []int{in[0]}, []int{l.code}
	return []int{l.code}, nil
}

func (l *Reparam) Params() []*Param { return nil }

// Init seeds the layer's ε generator from rng.
func (l *Reparam) Init(rng *rand.Rand) {
	l.Rand = rand.New(rand.NewPCG(rng.Uint64(), rng.Uint64()))
}

func (l *Reparam) Forward(x *tensor.Tensor, train bool) *tensor.Tensor {
	n, k := x.Rows(), l.code
	l.x = x
	out := buffer(&l.out, n, l.zShape)
	keep := l.KeepNoise && l.sampled && len(l.eps) == n*k
	if train && !keep {
		if l.Rand == nil {
			l.Rand = rand.New(rand.NewPCG(1, 3))
		}
		if cap(l.eps) < n*k {
			l.eps = make([]float32, n*k)
		}
		l.eps = l.eps[:n*k]
		for i := range l.eps {
			l.eps[i] = float32(l.Rand.NormFloat64())
		}
	}
	l.sampled = train
	var kl float64
	for i := range n {
		h := x.Data[i*2*k : (i+1)*2*k]
		z := out.Data[i*k : (i+1)*k]
		for j := range k {
			mu, lv := float64(h[j]), float64(h[k+j])
			if train {
				z[j] = float32(mu + math.Exp(0.5*lv)*float64(l.eps[i*k+j]))
			} else {
				z[j] = h[j]
			}
			kl += 0.5 * (mu*mu + math.Exp(lv) - 1 - lv)
		}
	}
	l.KL = kl
	return out
}

func (l *Reparam) Backward(dy *tensor.Tensor) *tensor.Tensor {
	x := l.x
	n, k := x.Rows(), l.code
	dx := buffer(&l.dx, n, l.inShape)
	w := l.Weight
	for i := range n {
		h := x.Data[i*2*k : (i+1)*2*k]
		g := dy.Data[i*k : (i+1)*k]
		d := dx.Data[i*2*k : (i+1)*2*k]
		for j := range k {
			mu, lv := float64(h[j]), float64(h[k+j])
			dz := float64(g[j])
			v := math.Exp(lv)
			d[j] = float32(dz + w*mu)
			dlv := w * 0.5 * (v - 1)
			if l.sampled {
				dlv += dz * float64(l.eps[i*k+j]) * 0.5 * math.Sqrt(v)
			}
			d[k+j] = float32(dlv)
		}
	}
	return dx
}
