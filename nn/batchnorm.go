package nn

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/bottleneck-ml/bottleneck/tensor"
)

// BatchNorm2D normalises each channel of an NCHW batch, as PyTorch's
// nn.BatchNorm2d(C) with its defaults (eps 1e-5, momentum 0.1, affine,
// running statistics tracked):
//
//	y = (x - mean) / √(var + Eps) · weight + bias
//
// In training, mean and var are the statistics of the batch over N, H and
// W (var biased), and the running estimates move towards them:
// running = (1-Momentum)·running + Momentum·batch, with the unbiased
// variance (·n/(n-1)) for RunningVar. In evaluation the running estimates
// are used instead.
//
// The running estimates are state, not parameters: Params does not list
// them and no optimiser touches them. Buffers returns them (PyTorch's
// state_dict names "running_mean" and "running_var"; PyTorch's
// num_batches_tracked is not kept) so that a model file can save and load
// them: their W slices are owned by the layer and may be overwritten in
// place; their G is nil.
type BatchNorm2D struct {
	C             int
	Eps, Momentum float64
	Weight, Bias  *Param // [C], init 1 and 0
	RunningMean   *Param // [C], init 0
	RunningVar    *Param // [C], init 1

	inShape      []int
	x            *tensor.Tensor
	mean, invstd []float32 // per channel, of the last Forward
	out, dx      *tensor.Tensor
	skipDX       bool
	train        bool // the mode of the last Forward
}

// NewBatchNorm2D returns a batch normalisation over c channels.
func NewBatchNorm2D(c int) *BatchNorm2D {
	l := &BatchNorm2D{
		C: c, Eps: 1e-5, Momentum: 0.1,
		Weight:      &Param{Name: "weight", Shape: []int{c}},
		Bias:        &Param{Name: "bias", Shape: []int{c}},
		RunningMean: &Param{Name: "running_mean", Shape: []int{c}, W: make([]float32, c)},
		RunningVar:  &Param{Name: "running_var", Shape: []int{c}, W: make([]float32, c)},
		mean:        make([]float32, c),
		invstd:      make([]float32, c),
	}
	for i := range l.RunningVar.W {
		l.RunningVar.W[i] = 1
	}
	return l
}

func (l *BatchNorm2D) Setup(in []int) ([]int, error) {
	if len(in) != 3 || in[0] != l.C {
		return nil, fmt.Errorf("batchnorm2d: input %v, want [%d H W]", in, l.C)
	}
	l.inShape = slices.Clone(in)
	return l.inShape, nil
}

func (l *BatchNorm2D) Params() []*Param { return []*Param{l.Weight, l.Bias} }

// Buffers returns the running mean and variance (see the type's doc).
func (l *BatchNorm2D) Buffers() []*Param { return []*Param{l.RunningMean, l.RunningVar} }

func (l *BatchNorm2D) SkipInputGrad(s bool) { l.skipDX = s }

// Init sets the affine weight to 1 and bias to 0 and resets the running
// estimates to mean 0, variance 1 (PyTorch's reset_parameters).
func (l *BatchNorm2D) Init(*rand.Rand) {
	for i := range l.C {
		l.Weight.W[i], l.Bias.W[i] = 1, 0
		l.RunningMean.W[i], l.RunningVar.W[i] = 0, 1
	}
}

// Forward: x [N, C, H, W] → y of the same shape.
func (l *BatchNorm2D) Forward(x *tensor.Tensor, train bool) *tensor.Tensor {
	checkBatch("BatchNorm2D", x, tensor.Size(l.inShape), l.inShape)
	n, hw := x.Rows(), l.inShape[1]*l.inShape[2]
	l.x, l.train = x, train
	y := buffer(&l.out, n, l.inShape)
	cnt := float64(n * hw)
	for c := range l.C {
		var mean, v float64
		if train {
			for s := 0; s < n; s++ {
				for _, xv := range x.Data[(s*l.C+c)*hw : (s*l.C+c+1)*hw] {
					mean += float64(xv)
				}
			}
			mean /= cnt
			for s := 0; s < n; s++ {
				for _, xv := range x.Data[(s*l.C+c)*hw : (s*l.C+c+1)*hw] {
					d := float64(xv) - mean
					v += d * d
				}
			}
			v /= cnt
			unbiased := v
			if cnt > 1 {
				unbiased = v * cnt / (cnt - 1)
			}
			m := float32(l.Momentum)
			l.RunningMean.W[c] = (1-m)*l.RunningMean.W[c] + m*float32(mean)
			l.RunningVar.W[c] = (1-m)*l.RunningVar.W[c] + m*float32(unbiased)
		} else {
			mean, v = float64(l.RunningMean.W[c]), float64(l.RunningVar.W[c])
		}
		l.mean[c] = float32(mean)
		l.invstd[c] = float32(1 / math.Sqrt(v+l.Eps))
		// y = x·a + b with a = invstd·weight, b = bias - mean·a.
		a := l.invstd[c] * l.Weight.W[c]
		b := l.Bias.W[c] - l.mean[c]*a
		for s := 0; s < n; s++ {
			off := (s*l.C + c) * hw
			ys := y.Data[off : off+hw]
			for i, xv := range x.Data[off : off+hw] {
				ys[i] = xv*a + b
			}
		}
	}
	return y
}

// Backward: dweight += Σ dy·x̂, dbias += Σ dy, and in training
// dx = weight·invstd·(dy - mean(dy) - x̂·mean(dy·x̂)) (the batch statistics
// depend on x); in evaluation dx = weight·invstd·dy.
func (l *BatchNorm2D) Backward(dy *tensor.Tensor) *tensor.Tensor {
	n, hw := dy.Rows(), l.inShape[1]*l.inShape[2]
	var dx *tensor.Tensor
	if !l.skipDX {
		dx = buffer(&l.dx, n, l.inShape)
	}
	cnt := float64(n * hw)
	for c := range l.C {
		mean, inv := l.mean[c], l.invstd[c]
		var sdy, sdyx float64
		for s := 0; s < n; s++ {
			off := (s*l.C + c) * hw
			xs := l.x.Data[off : off+hw]
			for i, g := range dy.Data[off : off+hw] {
				sdy += float64(g)
				sdyx += float64(g) * float64((xs[i]-mean)*inv)
			}
		}
		l.Weight.G[c] += float32(sdyx)
		l.Bias.G[c] += float32(sdy)
		if dx == nil {
			continue
		}
		k := l.Weight.W[c] * inv
		var mdy, mdyx float32
		if l.train {
			mdy, mdyx = float32(sdy/cnt), float32(sdyx/cnt)
		}
		for s := 0; s < n; s++ {
			off := (s*l.C + c) * hw
			xs, dxs := l.x.Data[off:off+hw], dx.Data[off:off+hw]
			for i, g := range dy.Data[off : off+hw] {
				dxs[i] = k * (g - mdy - (xs[i]-mean)*inv*mdyx)
			}
		}
	}
	return dx
}
