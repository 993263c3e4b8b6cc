package nn

import (
	"fmt"
	"math/rand/v2"
	"slices"

	"github.com/bottleneck-ml/bottleneck/tensor"
)

// Upsample modes accepted by NewUpsample.
const (
	UpsampleNearest  = "nearest"
	UpsampleBilinear = "bilinear"
)

// Upsample scales the height and width of each channel by an integer
// factor, as PyTorch's nn.Upsample(scale_factor=Scale, mode=Mode):
// "nearest" repeats pixels, "bilinear" interpolates with
// align_corners=False (PyTorch's default).
type Upsample struct {
	Scale int
	Mode  string

	c, h, w           int
	inShape, outShape []int
	// bilinear: per output row and column, the two source indices and the
	// weight of the second.
	r0, r1, c0, c1 []int
	rl, cl         []float32
	out, dx        *tensor.Tensor
	skipDX         bool
}

// NewUpsample returns an upsampling layer; mode is "nearest" or "bilinear".
func NewUpsample(scale int, mode string) *Upsample { return &Upsample{Scale: scale, Mode: mode} }

func (l *Upsample) Setup(in []int) ([]int, error) {
	if l.Mode != UpsampleNearest && l.Mode != UpsampleBilinear {
		return nil, fmt.Errorf("upsample: unknown mode %q (want %q or %q)", l.Mode, UpsampleNearest, UpsampleBilinear)
	}
	if l.Scale < 1 {
		return nil, fmt.Errorf("upsample: scale %d must be ≥ 1", l.Scale)
	}
	if len(in) != 3 {
		return nil, fmt.Errorf("upsample: input %v, want [C H W]", in)
	}
	l.c, l.h, l.w = in[0], in[1], in[2]
	l.inShape = slices.Clone(in)
	l.outShape = []int{l.c, l.h * l.Scale, l.w * l.Scale}
	if l.Mode == UpsampleBilinear {
		l.r0, l.r1, l.rl = linearTaps(l.h, l.Scale)
		l.c0, l.c1, l.cl = linearTaps(l.w, l.Scale)
	}
	return l.outShape, nil
}

// linearTaps returns, for each of the n·scale outputs, PyTorch's source
// indices i0, i1 and weight λ of i1 (align_corners=False): the source
// coordinate is max(0, (o+0.5)/scale - 0.5) computed in float32 as PyTorch
// does, i0 its floor and i1 = min(i0+1, n-1).
func linearTaps(n, scale int) (i0, i1 []int, lambda []float32) {
	m := n * scale
	i0, i1, lambda = make([]int, m), make([]int, m), make([]float32, m)
	inv := 1 / float32(scale)
	for o := range m {
		src := max(float32(inv*(float32(o)+0.5))-0.5, 0)
		a := int(src)
		i0[o], i1[o] = a, min(a+1, n-1)
		lambda[o] = src - float32(a)
	}
	return i0, i1, lambda
}

func (l *Upsample) Params() []*Param     { return nil }
func (l *Upsample) Init(*rand.Rand)      {}
func (l *Upsample) SkipInputGrad(s bool) { l.skipDX = s }

// Forward: x [N, C, H, W] → y [N, C, H·Scale, W·Scale].
func (l *Upsample) Forward(x *tensor.Tensor, _ bool) *tensor.Tensor {
	checkBatch("Upsample", x, l.c*l.h*l.w, l.inShape)
	n := x.Rows()
	y := buffer(&l.out, n, l.outShape)
	s, hw := l.Scale, l.h*l.w
	oh, ow := l.h*s, l.w*s
	for pl := 0; pl < n*l.c; pl++ {
		xs, ys := x.Data[pl*hw:(pl+1)*hw], y.Data[pl*oh*ow:(pl+1)*oh*ow]
		for i := 0; i < oh; i++ {
			dst := ys[i*ow : (i+1)*ow]
			if l.Mode == UpsampleNearest {
				src := xs[i/s*l.w : (i/s+1)*l.w]
				for j := range dst {
					dst[j] = src[j/s]
				}
				continue
			}
			a, b := xs[l.r0[i]*l.w:(l.r0[i]+1)*l.w], xs[l.r1[i]*l.w:(l.r1[i]+1)*l.w]
			hl := l.rl[i]
			h0 := 1 - hl
			for j := range dst {
				c0, c1, wl := l.c0[j], l.c1[j], l.cl[j]
				w0 := 1 - wl
				dst[j] = h0*(w0*a[c0]+wl*a[c1]) + hl*(w0*b[c0]+wl*b[c1])
			}
		}
	}
	return y
}

// Backward adds each dy to the pixels it was interpolated from, with the
// same weights.
func (l *Upsample) Backward(dy *tensor.Tensor) *tensor.Tensor {
	if l.skipDX {
		return nil
	}
	n := dy.Rows()
	dx := buffer(&l.dx, n, l.inShape)
	clear(dx.Data)
	s, hw := l.Scale, l.h*l.w
	oh, ow := l.h*s, l.w*s
	for pl := 0; pl < n*l.c; pl++ {
		dxs, dys := dx.Data[pl*hw:(pl+1)*hw], dy.Data[pl*oh*ow:(pl+1)*oh*ow]
		for i := 0; i < oh; i++ {
			src := dys[i*ow : (i+1)*ow]
			if l.Mode == UpsampleNearest {
				dst := dxs[i/s*l.w : (i/s+1)*l.w]
				for j, v := range src {
					dst[j/s] += v
				}
				continue
			}
			a, b := dxs[l.r0[i]*l.w:(l.r0[i]+1)*l.w], dxs[l.r1[i]*l.w:(l.r1[i]+1)*l.w]
			hl := l.rl[i]
			h0 := 1 - hl
			for j, v := range src {
				c0, c1, wl := l.c0[j], l.c1[j], l.cl[j]
				w0 := 1 - wl
				a[c0] += h0 * w0 * v
				a[c1] += h0 * wl * v
				b[c0] += hl * w0 * v
				b[c1] += hl * wl * v
			}
		}
	}
	return dx
}
