package nn

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/bottleneck-ml/bottleneck/tensor"
)

// pool2D is the geometry and buffers MaxPool2D and AvgPool2D share.
type pool2D struct {
	K, Stride, Pad int

	g                 convGeom
	inShape, outShape []int
	out, dx           *tensor.Tensor
	skipDX            bool
}

func (p *pool2D) setup(name string, in []int) ([]int, error) {
	if p.Stride == 0 {
		p.Stride = p.K
	}
	if p.K < 1 || p.Stride < 1 || p.Pad < 0 || p.Pad > p.K/2 {
		return nil, fmt.Errorf("%s: kernel %d and stride %d must be ≥ 1, padding %d in [0, kernel/2]", name, p.K, p.Stride, p.Pad)
	}
	if len(in) != 3 {
		return nil, fmt.Errorf("%s: input %v, want [C H W]", name, in)
	}
	oh, ow := convOut(in[1], p.K, p.Stride, p.Pad, 1), convOut(in[2], p.K, p.Stride, p.Pad, 1)
	if oh < 1 || ow < 1 {
		return nil, fmt.Errorf("%s: input %v is smaller than the kernel %d", name, in, p.K)
	}
	p.g = convGeom{C: in[0], H: in[1], W: in[2], K: p.K, S: p.Stride, P: p.Pad, D: 1, OH: oh, OW: ow}
	p.inShape = slices.Clone(in)
	p.outShape = []int{in[0], oh, ow}
	return p.outShape, nil
}

func (p *pool2D) Params() []*Param     { return nil }
func (p *pool2D) Init(*rand.Rand)      {}
func (p *pool2D) SkipInputGrad(s bool) { p.skipDX = s }

// window returns the input rows [h0, h1) and columns [w0, w1) under output
// pixel (oh, ow), clipped to the image.
func (p *pool2D) window(oh, ow int) (h0, h1, w0, w1 int) {
	g := &p.g
	h0, w0 = oh*g.S-g.P, ow*g.S-g.P
	h1, w1 = min(h0+g.K, g.H), min(w0+g.K, g.W)
	return max(h0, 0), h1, max(w0, 0), w1
}

// MaxPool2D takes the maximum of each K×K window (PyTorch's nn.MaxPool2d
// with dilation 1 and floor rounding; padding counts as -∞). On ties the
// first maximum in row-major order gets the gradient, as in PyTorch.
type MaxPool2D struct {
	pool2D
	arg []int32 // per output: the index of its maximum in the input plane
}

// NewMaxPool2D returns a max pooling layer; stride 0 means stride k
// (PyTorch's default).
func NewMaxPool2D(k, stride, pad int) *MaxPool2D {
	return &MaxPool2D{pool2D: pool2D{K: k, Stride: stride, Pad: pad}}
}

func (l *MaxPool2D) Setup(in []int) ([]int, error) { return l.setup("maxpool2d", in) }

// Forward: x [N, C, H, W] → y [N, C, OH, OW].
func (l *MaxPool2D) Forward(x *tensor.Tensor, _ bool) *tensor.Tensor {
	g := &l.g
	checkBatch("MaxPool2D", x, g.size(), l.inShape)
	n := x.Rows()
	y := buffer(&l.out, n, l.outShape)
	hw, np := g.H*g.W, g.cols()
	if cap(l.arg) < len(y.Data) {
		l.arg = make([]int32, len(y.Data))
	}
	l.arg = l.arg[:len(y.Data)]
	for pl := 0; pl < n*g.C; pl++ {
		xs := x.Data[pl*hw : (pl+1)*hw]
		ys, as := y.Data[pl*np:(pl+1)*np], l.arg[pl*np:(pl+1)*np]
		for oh := 0; oh < g.OH; oh++ {
			for ow := 0; ow < g.OW; ow++ {
				h0, h1, w0, w1 := l.window(oh, ow)
				best, at := float32(math.Inf(-1)), h0*g.W+w0
				for ih := h0; ih < h1; ih++ {
					for iw := w0; iw < w1; iw++ {
						if v := xs[ih*g.W+iw]; v > best || v != v {
							best, at = v, ih*g.W+iw
							if v != v {
								ih = h1
								break
							}
						}
					}
				}
				ys[oh*g.OW+ow], as[oh*g.OW+ow] = best, int32(at)
			}
		}
	}
	return y
}

// Backward routes each dy to the maximum of its window.
func (l *MaxPool2D) Backward(dy *tensor.Tensor) *tensor.Tensor {
	if l.skipDX {
		return nil
	}
	g := &l.g
	n := dy.Rows()
	dx := buffer(&l.dx, n, l.inShape)
	clear(dx.Data)
	hw, np := g.H*g.W, g.cols()
	for pl := 0; pl < n*g.C; pl++ {
		dxs := dx.Data[pl*hw : (pl+1)*hw]
		for i, a := range l.arg[pl*np : (pl+1)*np] {
			dxs[a] += dy.Data[pl*np+i]
		}
	}
	return dx
}

// AvgPool2D averages each K×K window, padding included in the count
// (PyTorch's nn.AvgPool2d defaults: count_include_pad=True, floor rounding).
type AvgPool2D struct{ pool2D }

// NewAvgPool2D returns an average pooling layer; stride 0 means stride k
// (PyTorch's default).
func NewAvgPool2D(k, stride, pad int) *AvgPool2D {
	return &AvgPool2D{pool2D{K: k, Stride: stride, Pad: pad}}
}

func (l *AvgPool2D) Setup(in []int) ([]int, error) { return l.setup("avgpool2d", in) }

// Forward: x [N, C, H, W] → y [N, C, OH, OW].
func (l *AvgPool2D) Forward(x *tensor.Tensor, _ bool) *tensor.Tensor {
	g := &l.g
	checkBatch("AvgPool2D", x, g.size(), l.inShape)
	n := x.Rows()
	y := buffer(&l.out, n, l.outShape)
	hw, np := g.H*g.W, g.cols()
	div := float32(g.K * g.K)
	for pl := 0; pl < n*g.C; pl++ {
		xs, ys := x.Data[pl*hw:(pl+1)*hw], y.Data[pl*np:(pl+1)*np]
		for oh := 0; oh < g.OH; oh++ {
			for ow := 0; ow < g.OW; ow++ {
				h0, h1, w0, w1 := l.window(oh, ow)
				var s float32
				for ih := h0; ih < h1; ih++ {
					for _, v := range xs[ih*g.W+w0 : ih*g.W+w1] {
						s += v
					}
				}
				ys[oh*g.OW+ow] = s / div
			}
		}
	}
	return y
}

// Backward spreads each dy evenly over its window.
func (l *AvgPool2D) Backward(dy *tensor.Tensor) *tensor.Tensor {
	if l.skipDX {
		return nil
	}
	g := &l.g
	n := dy.Rows()
	dx := buffer(&l.dx, n, l.inShape)
	clear(dx.Data)
	hw, np := g.H*g.W, g.cols()
	div := float32(g.K * g.K)
	for pl := 0; pl < n*g.C; pl++ {
		dxs, dys := dx.Data[pl*hw:(pl+1)*hw], dy.Data[pl*np:(pl+1)*np]
		for oh := 0; oh < g.OH; oh++ {
			for ow := 0; ow < g.OW; ow++ {
				h0, h1, w0, w1 := l.window(oh, ow)
				v := dys[oh*g.OW+ow] / div
				for ih := h0; ih < h1; ih++ {
					row := dxs[ih*g.W+w0 : ih*g.W+w1]
					for i := range row {
						row[i] += v
					}
				}
			}
		}
	}
	return dx
}
