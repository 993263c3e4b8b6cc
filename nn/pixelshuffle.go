package nn

import (
	"fmt"
	"math/rand/v2"

	"github.com/bottleneck-ml/bottleneck/tensor"
)

// PixelShuffle rearranges [C·r², H, W] into [C, H·r, W·r] as PyTorch's
// nn.PixelShuffle(r) (Shi et al. 2016, ESPCN); Unshuffle does the inverse
// (nn.PixelUnshuffle), trading resolution for channels so a network can
// work at a quarter of the pixels and four times the width.
type PixelShuffle struct {
	R       int
	Inverse bool // pixel unshuffle

	c, h, w           int // input
	inShape, outShape []int
	out, dx           *tensor.Tensor
	skipDX            bool
}

// NewPixelShuffle returns nn.PixelShuffle(r).
func NewPixelShuffle(r int) *PixelShuffle { return &PixelShuffle{R: r} }

// NewPixelUnshuffle returns nn.PixelUnshuffle(r).
func NewPixelUnshuffle(r int) *PixelShuffle { return &PixelShuffle{R: r, Inverse: true} }

func (l *PixelShuffle) name() string {
	if l.Inverse {
		return "pixelunshuffle"
	}
	return "pixelshuffle"
}

func (l *PixelShuffle) Setup(in []int) ([]int, error) {
	if l.R < 1 {
		return nil, fmt.Errorf("%s: factor %d must be ≥ 1", l.name(), l.R)
	}
	if len(in) != 3 {
		return nil, fmt.Errorf("%s: input %v, want [C H W]", l.name(), in)
	}
	l.c, l.h, l.w = in[0], in[1], in[2]
	r := l.R
	l.inShape = []int{l.c, l.h, l.w}
	if l.Inverse {
		if l.h%r != 0 || l.w%r != 0 {
			return nil, fmt.Errorf("%s: input %d×%d is not a multiple of %d", l.name(), l.h, l.w, r)
		}
		l.outShape = []int{l.c * r * r, l.h / r, l.w / r}
	} else {
		if l.c%(r*r) != 0 {
			return nil, fmt.Errorf("%s: %d channels are not a multiple of %d", l.name(), l.c, r*r)
		}
		l.outShape = []int{l.c / (r * r), l.h * r, l.w * r}
	}
	return l.outShape, nil
}

func (l *PixelShuffle) Params() []*Param     { return nil }
func (l *PixelShuffle) Init(*rand.Rand)      {}
func (l *PixelShuffle) SkipInputGrad(s bool) { l.skipDX = s }

// permute copies between the shuffled layout [C, H·r, W·r] (big) and the
// channel layout [C·r², H, W] (small): toBig selects the direction.
func permute(small, big []float32, c, h, w, r int, toBig bool) {
	bw := w * r
	for ch := range c {
		for i := range r {
			for j := range r {
				sp := small[((ch*r+i)*r+j)*h*w:]
				bp := big[ch*h*r*bw:]
				for y := range h {
					srow := sp[y*w : (y+1)*w]
					brow := bp[(y*r+i)*bw:]
					if toBig {
						for x, v := range srow {
							brow[x*r+j] = v
						}
					} else {
						for x := range srow {
							srow[x] = brow[x*r+j]
						}
					}
				}
			}
		}
	}
}

// geometry returns the per-sample small-side channels and size.
func (l *PixelShuffle) geometry() (c, h, w int) {
	if l.Inverse {
		return l.c, l.h / l.R, l.w / l.R
	}
	return l.outShape[0], l.h, l.w
}

// Forward: x [N, C·r², H, W] → [N, C, H·r, W·r] (unshuffle: the inverse).
func (l *PixelShuffle) Forward(x *tensor.Tensor, _ bool) *tensor.Tensor {
	per := tensor.Size(l.inShape)
	checkBatch(l.name(), x, per, l.inShape)
	n := x.Rows()
	y := buffer(&l.out, n, l.outShape)
	c, h, w := l.geometry()
	for s := range n {
		xs, ys := x.Data[s*per:(s+1)*per], y.Data[s*per:(s+1)*per]
		if l.Inverse {
			permute(ys, xs, c, h, w, l.R, false)
		} else {
			permute(xs, ys, c, h, w, l.R, true)
		}
	}
	return y
}

// Backward applies the inverse permutation to dy.
func (l *PixelShuffle) Backward(dy *tensor.Tensor) *tensor.Tensor {
	if l.skipDX {
		return nil
	}
	per := tensor.Size(l.inShape)
	n := dy.Rows()
	dx := buffer(&l.dx, n, l.inShape)
	c, h, w := l.geometry()
	for s := range n {
		ds, dxs := dy.Data[s*per:(s+1)*per], dx.Data[s*per:(s+1)*per]
		if l.Inverse {
			permute(ds, dxs, c, h, w, l.R, true)
		} else {
			permute(dxs, ds, c, h, w, l.R, false)
		}
	}
	return dx
}
