package nn

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/bottleneck-ml/bottleneck/internal/f32"
	"github.com/bottleneck-ml/bottleneck/tensor"
)

// Activation names accepted by NewActivation and stored in model configs.
const (
	ActIdentity  = "identity"
	ActReLU      = "relu"
	ActLeakyReLU = "leakyrelu"
	ActSigmoid   = "sigmoid"
	ActTanh      = "tanh"
	ActGELU      = "gelu"
)

// Activations lists the names NewActivation accepts.
var Activations = []string{ActIdentity, ActReLU, ActLeakyReLU, ActSigmoid, ActTanh, ActGELU}

// NewActivation returns the elementwise layer for name. LeakyReLU uses
// PyTorch's default slope 0.01.
func NewActivation(name string) (Layer, error) {
	switch name {
	case ActIdentity, "", "linear", "none":
		return &Identity{}, nil
	case ActReLU:
		return &ReLU{}, nil
	case ActLeakyReLU, "leaky_relu":
		return &LeakyReLU{Slope: 0.01}, nil
	case ActSigmoid:
		return &Sigmoid{}, nil
	case ActTanh:
		return &Tanh{}, nil
	case ActGELU:
		return &GELU{}, nil
	}
	return nil, fmt.Errorf("unknown activation %q (want one of %v)", name, Activations)
}

// elementwise holds what every activation shares: shape bookkeeping and the
// output and input-gradient buffers.
type elementwise struct {
	shape   []int
	x, out  *tensor.Tensor
	dx      *tensor.Tensor
	outBuf  *tensor.Tensor
	skipDX  bool
	present bool
}

func (e *elementwise) Setup(in []int) ([]int, error) {
	e.shape = slices.Clone(in)
	return e.shape, nil
}
func (e *elementwise) Params() []*Param     { return nil }
func (e *elementwise) Init(*rand.Rand)      {}
func (e *elementwise) SkipInputGrad(s bool) { e.skipDX = s }

func (e *elementwise) fwd(x *tensor.Tensor) (in, out []float32) {
	e.x = x
	e.out = buffer(&e.outBuf, x.Rows(), e.shape)
	return x.Data, e.out.Data
}

func (e *elementwise) dxBuffer(rows int) *tensor.Tensor { return buffer(&e.dx, rows, e.shape) }
func (e *elementwise) output() *tensor.Tensor           { return e.out }

func (e *elementwise) bwd(dy *tensor.Tensor) (dyd, dxd []float32, ok bool) {
	if e.skipDX {
		return nil, nil, false
	}
	dx := buffer(&e.dx, dy.Rows(), e.shape)
	return dy.Data, dx.Data, true
}

// Identity passes its input through (it still copies, so that its output
// buffer is its own).
type Identity struct{ elementwise }

func (l *Identity) fusable() (f32.Act, bool) { return f32.ActNone, true }
func (l *Identity) adopt(y *tensor.Tensor)   { l.x, l.out = y, y }
func (l *Identity) backwardRows(dx, dy, _ []float32) {
	copy(dx, dy)
}

func (l *Identity) Forward(x *tensor.Tensor, _ bool) *tensor.Tensor {
	in, out := l.fwd(x)
	copy(out, in)
	return l.out
}

func (l *Identity) Backward(dy *tensor.Tensor) *tensor.Tensor {
	d, dx, ok := l.bwd(dy)
	if !ok {
		return nil
	}
	copy(dx, d)
	return l.dx
}

// ReLU is max(0, x).
type ReLU struct {
	elementwise
	passThrough bool // the convolution before it already rectified x (fuseReLU)
}

func (l *ReLU) fusable() (f32.Act, bool) {
	// after a convolution that rectifies already, it passes through anyway
	return f32.ActReLU, !l.passThrough
}

func (l *ReLU) adopt(y *tensor.Tensor) { l.x, l.out = y, y }
func (l *ReLU) backwardRows(dx, dy, y []float32) {
	f32.ReLUBackward(dx, dy, y)
}

func (l *ReLU) Forward(x *tensor.Tensor, _ bool) *tensor.Tensor {
	if l.passThrough {
		// x is the convolution's own output buffer, already rectified; it is
		// not written again before the next Forward, so it can serve as ours
		l.x, l.out = x, x
		return x
	}
	in, out := l.fwd(x)
	f32.ReLU(out, in)
	return l.out
}

func (l *ReLU) Backward(dy *tensor.Tensor) *tensor.Tensor {
	if l.passThrough {
		// the convolution before it masks the gradient (maskGrad)
		return dy
	}
	d, dx, ok := l.bwd(dy)
	if !ok {
		return nil
	}
	f32.ReLUBackward(dx, d, l.out.Data)
	return l.dx
}

// LeakyReLU is x for x > 0 and Slope·x otherwise.
type LeakyReLU struct {
	elementwise
	Slope float32
}

func (l *LeakyReLU) Forward(x *tensor.Tensor, _ bool) *tensor.Tensor {
	in, out := l.fwd(x)
	for i, v := range in {
		if v > 0 {
			out[i] = v
		} else {
			out[i] = l.Slope * v
		}
	}
	return l.out
}

func (l *LeakyReLU) Backward(dy *tensor.Tensor) *tensor.Tensor {
	d, dx, ok := l.bwd(dy)
	if !ok {
		return nil
	}
	x := l.x.Data
	for i, g := range d {
		if x[i] > 0 {
			dx[i] = g
		} else {
			dx[i] = l.Slope * g
		}
	}
	return l.dx
}

// Sigmoid is 1/(1+e^-x).
type Sigmoid struct{ elementwise }

// SigmoidScalar is the numerically stable logistic function (the same bits
// as the Sigmoid layer gives; within 3 ulp of the exact value).
func SigmoidScalar(v float32) float32 { return f32.SigmoidScalar(v) }

func (l *Sigmoid) fusable() (f32.Act, bool) { return f32.ActSigmoid, true }
func (l *Sigmoid) adopt(y *tensor.Tensor)   { l.x, l.out = y, y }
func (l *Sigmoid) backwardRows(dx, dy, y []float32) {
	f32.SigmoidBackward(dx, dy, y)
}

func (l *Sigmoid) Forward(x *tensor.Tensor, _ bool) *tensor.Tensor {
	in, out := l.fwd(x)
	f32.Sigmoid(out, in)
	return l.out
}

func (l *Sigmoid) Backward(dy *tensor.Tensor) *tensor.Tensor {
	d, dx, ok := l.bwd(dy)
	if !ok {
		return nil
	}
	f32.SigmoidBackward(dx, d, l.out.Data)
	return l.dx
}

// Tanh is the hyperbolic tangent.
type Tanh struct{ elementwise }

func (l *Tanh) Forward(x *tensor.Tensor, _ bool) *tensor.Tensor {
	in, out := l.fwd(x)
	for i, v := range in {
		out[i] = float32(math.Tanh(float64(v)))
	}
	return l.out
}

func (l *Tanh) Backward(dy *tensor.Tensor) *tensor.Tensor {
	d, dx, ok := l.bwd(dy)
	if !ok {
		return nil
	}
	y := l.out.Data
	for i, g := range d {
		dx[i] = g * (1 - y[i]*y[i])
	}
	return l.dx
}

// GELU is x·Φ(x) with the exact Gaussian CDF (PyTorch's default,
// approximate='none').
type GELU struct{ elementwise }

func (l *GELU) Forward(x *tensor.Tensor, _ bool) *tensor.Tensor {
	in, out := l.fwd(x)
	for i, v := range in {
		xv := float64(v)
		out[i] = float32(0.5 * xv * (1 + math.Erf(xv/math.Sqrt2)))
	}
	return l.out
}

func (l *GELU) Backward(dy *tensor.Tensor) *tensor.Tensor {
	d, dx, ok := l.bwd(dy)
	if !ok {
		return nil
	}
	x := l.x.Data
	const invSqrt2Pi = 0.3989422804014327
	for i, g := range d {
		xv := float64(x[i])
		cdf := 0.5 * (1 + math.Erf(xv/math.Sqrt2))
		pdf := invSqrt2Pi * math.Exp(-0.5*xv*xv)
		dx[i] = g * float32(cdf+xv*pdf)
	}
	return l.dx
}

// Dropout zeroes each element with probability P during training and scales
// the survivors by 1/(1-P) (inverted dropout, as PyTorch); at inference it
// is the identity. Its masks come from its own seeded generator, so training
// is reproducible.
type Dropout struct {
	elementwise
	P    float64
	pcg  *rand.PCG
	rng  *rand.Rand
	mask []float32
}

// NewDropout returns a dropout layer with drop probability p.
func NewDropout(p float64) *Dropout { return &Dropout{P: p} }

// Init seeds the mask generator from rng.
func (l *Dropout) Init(rng *rand.Rand) {
	l.Reseed(rng.Uint64(), rng.Uint64())
}

// Reseed restarts the mask generator at (seed, stream). A trainer that
// reseeds before every step (with the step as the stream) gets the same
// masks after a resume as in an uninterrupted run. It does not allocate
// once the generator exists.
func (l *Dropout) Reseed(seed, stream uint64) {
	if l.pcg == nil {
		l.pcg = rand.NewPCG(seed, stream)
		l.rng = rand.New(l.pcg)
		return
	}
	l.pcg.Seed(seed, stream)
}

func (l *Dropout) Forward(x *tensor.Tensor, train bool) *tensor.Tensor {
	in, out := l.fwd(x)
	if !train || l.P == 0 {
		copy(out, in)
		l.mask = l.mask[:0]
		return l.out
	}
	if l.rng == nil {
		l.Reseed(1, 2)
	}
	if cap(l.mask) < len(in) {
		l.mask = make([]float32, len(in))
	}
	l.mask = l.mask[:len(in)]
	scale := float32(1 / (1 - l.P))
	for i, v := range in {
		if l.rng.Float64() < l.P {
			l.mask[i] = 0
		} else {
			l.mask[i] = scale
		}
		out[i] = v * l.mask[i]
	}
	return l.out
}

func (l *Dropout) Backward(dy *tensor.Tensor) *tensor.Tensor {
	d, dx, ok := l.bwd(dy)
	if !ok {
		return nil
	}
	if len(l.mask) == 0 {
		copy(dx, d)
		return l.dx
	}
	for i, g := range d {
		dx[i] = g * l.mask[i]
	}
	return l.dx
}
