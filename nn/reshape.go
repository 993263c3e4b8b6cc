package nn

import (
	"fmt"
	"math/rand/v2"
	"slices"

	"github.com/bottleneck-ml/bottleneck/tensor"
)

// Reshape gives each sample a new shape with the same number of elements,
// such as PyTorch's nn.Unflatten. It copies nothing: Forward returns a view
// of its input and Backward a view of dy, through tensor headers the layer
// keeps, so a step allocates nothing. The views share memory with the
// neighbouring layers' buffers, which never write to their input or dy.
type Reshape struct {
	Shape []int // per sample; one entry may be -1 (inferred)

	inShape, outShape []int
	out, dx           tensor.Tensor
	skipDX            bool
}

// NewReshape returns a layer that reshapes each sample to shape.
func NewReshape(shape ...int) *Reshape { return &Reshape{Shape: slices.Clone(shape)} }

// NewFlatten returns a layer that flattens each sample to one dimension, in
// (C, H, W) order as PyTorch's nn.Flatten.
func NewFlatten() *Reshape { return NewReshape(-1) }

func (l *Reshape) Setup(in []int) ([]int, error) {
	size := tensor.Size(in)
	out := slices.Clone(l.Shape)
	infer, known := -1, 1
	for i, d := range out {
		switch {
		case d == -1 && infer < 0:
			infer = i
		case d < 1:
			return nil, fmt.Errorf("reshape: shape %v: dimensions must be ≥ 1, with at most one -1", l.Shape)
		default:
			known *= d
		}
	}
	if infer >= 0 && size%known == 0 && size >= known {
		out[infer] = size / known
	}
	if slices.Contains(out, -1) || tensor.Size(out) != size {
		return nil, fmt.Errorf("reshape: input %v has %d elements, shape %v cannot hold them", in, size, l.Shape)
	}
	l.inShape, l.outShape = slices.Clone(in), out
	l.out.Shape = make([]int, len(out)+1)
	l.dx.Shape = make([]int, len(in)+1)
	return l.outShape, nil
}

func (l *Reshape) Params() []*Param     { return nil }
func (l *Reshape) Init(*rand.Rand)      {}
func (l *Reshape) SkipInputGrad(s bool) { l.skipDX = s }

// view points header h at data with rows × shape.
func view(h *tensor.Tensor, data []float32, rows int, shape []int) *tensor.Tensor {
	h.Shape[0] = rows
	copy(h.Shape[1:], shape)
	h.Data = data
	return h
}

// Forward returns x viewed as [N, Shape...].
func (l *Reshape) Forward(x *tensor.Tensor, _ bool) *tensor.Tensor {
	checkBatch("Reshape", x, tensor.Size(l.inShape), l.inShape)
	return view(&l.out, x.Data, x.Rows(), l.outShape)
}

// Backward returns dy viewed as the input shape.
func (l *Reshape) Backward(dy *tensor.Tensor) *tensor.Tensor {
	if l.skipDX {
		return nil
	}
	return view(&l.dx, dy.Data, dy.Rows(), l.inShape)
}
