package nn

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/bottleneck-ml/bottleneck/internal/f32"
	"github.com/bottleneck-ml/bottleneck/tensor"
)

// Convolutions run on f32.Gemm through im2col: for a group of samples, the
// C·k·k input patches of every output pixel become the columns of a matrix
// col [C·k·k, group·OH·OW], and the layer is one GEMM W [O, C·k·k] × col.
// Backward recomputes col (cheaper than keeping it for the whole batch:
// srcnn's last layer would need 220 MB at batch 64) and needs two more
// GEMMs: dW += dY·colᵀ and dcol = Wᵀ·dY, which col2im scatters back to dx.
// A 1×1 convolution with stride 1 and no padding skips im2col: the input
// of each sample already is col.
//
// How many samples go into one GEMM is set by convColBudget: the largest
// group whose col fits the budget, at least one sample. Per sample (group
// 1) the GEMM writes straight into the NCHW output and reads dY in place; a
// larger group makes fewer, longer GEMMs but gathers and scatters
// [O, group·OH·OW] through a scratch matrix. BenchmarkConv, forward +
// backward (no input gradient for a model's first layer), ms per step on
// 2 cores of an AMD EPYC with the f32.Gemm of commit 9fb31b7 (AVX2/AVX-512):
//
//	layer (batch)                          per sample   col ≤ 512K   whole batch
//	conv-mnist Conv 1→32 k3 s2 (128)             2.8          1.7          1.7
//	conv-mnist Conv 32→64 k3 s2 (128)           14.3          8.9          8.5
//	conv-mnist ConvT 64→32 k3 s2 (128)          12.6          7.3          6.8
//	conv-mnist ConvT 32→1 k3 s2 (128)            2.4          1.3          1.3
//	srcnn Conv 1→64 k9 (64)                     20.0         17.2         25.9
//	srcnn Conv 64→32 k1 (64), no im2col         16.0         16.1         16.0
//	srcnn Conv 32→1 k5 (64)                     95           98          241
//
// Grouping is 1.6–1.8× faster than per sample on conv-mnist, whose
// per-sample GEMMs are tiny (49–196 columns); the whole batch is slightly
// faster still there but 1.5–2.5× slower on srcnn, whose col no longer
// fits in cache (srcnn conv3's is 3.5 MB per sample, and its GEMMs have
// one output row: it is bound by memory traffic either way). A budget of
// 512K floats (2 MB) takes the best of both: about the whole batch on
// conv-mnist, one or a few samples on srcnn.
var convColBudget = 1 << 19

// convGeom is the geometry of one 2-D convolution: an image of C channels
// H×W, a K×K kernel with stride S, padding P and dilation D, and the OH×OW
// grid of output pixels.
type convGeom struct {
	C, H, W, K, S, P, D, OH, OW int
}

func (g *convGeom) rows() int { return g.C * g.K * g.K }
func (g *convGeom) cols() int { return g.OH * g.OW }
func (g *convGeom) size() int { return g.C * g.H * g.W }

// convOut is the output length of a convolution over n pixels.
func convOut(n, k, s, p, d int) int { return (n+2*p-d*(k-1)-1)/s + 1 }

// ceilDiv is ⌈a/b⌉ for b > 0 and any a.
func ceilDiv(a, b int) int {
	if a <= 0 {
		return -(-a / b)
	}
	return (a + b - 1) / b
}

// span returns the output columns [lo, hi) whose input column
// ow·S - P + off falls inside [0, W).
func (g *convGeom) span(off int) (lo, hi int) {
	lo = min(max(ceilDiv(g.P-off, g.S), 0), g.OW)
	hi = min(max(ceilDiv(g.W+g.P-off, g.S), lo), g.OW)
	return lo, hi
}

// im2col writes the patches of one image x [C, H, W] into the columns
// [off, off+OH·OW) of col, a [C·K·K, ld] matrix: row (c·K+ki)·K+kj, column
// off + oh·OW+ow holds x[c, oh·S-P+ki·D, ow·S-P+kj·D], or 0 in the padding.
func im2col(g *convGeom, x, col []float32, ld, off int) {
	hw, np := g.H*g.W, g.cols()
	for c := 0; c < g.C; c++ {
		xc := x[c*hw : (c+1)*hw]
		for ki := 0; ki < g.K; ki++ {
			for kj := 0; kj < g.K; kj++ {
				r := (c*g.K+ki)*g.K + kj
				row := col[r*ld+off : r*ld+off+np]
				lo, hi := g.span(kj * g.D)
				for oh := 0; oh < g.OH; oh++ {
					dst := row[oh*g.OW : (oh+1)*g.OW]
					ih := oh*g.S - g.P + ki*g.D
					if ih < 0 || ih >= g.H || lo == hi {
						clear(dst)
						continue
					}
					src := xc[ih*g.W : (ih+1)*g.W]
					clear(dst[:lo])
					clear(dst[hi:])
					iw := lo*g.S - g.P + kj*g.D
					if g.S == 1 {
						copy(dst[lo:hi], src[iw:iw+hi-lo])
						continue
					}
					for ow := lo; ow < hi; ow++ {
						dst[ow] = src[iw]
						iw += g.S
					}
				}
			}
		}
	}
}

// col2im is the adjoint of im2col: it adds every element of the columns
// [off, off+OH·OW) of col [C·K·K, ld] to the pixel of x [C, H, W] it came
// from (padding is dropped).
func col2im(g *convGeom, col []float32, ld, off int, x []float32) {
	hw, np := g.H*g.W, g.cols()
	for c := 0; c < g.C; c++ {
		xc := x[c*hw : (c+1)*hw]
		for ki := 0; ki < g.K; ki++ {
			for kj := 0; kj < g.K; kj++ {
				r := (c*g.K+ki)*g.K + kj
				row := col[r*ld+off : r*ld+off+np]
				lo, hi := g.span(kj * g.D)
				if lo == hi {
					continue
				}
				for oh := 0; oh < g.OH; oh++ {
					ih := oh*g.S - g.P + ki*g.D
					if ih < 0 || ih >= g.H {
						continue
					}
					src := row[oh*g.OW+lo : oh*g.OW+hi]
					dst := xc[ih*g.W : (ih+1)*g.W]
					iw := lo*g.S - g.P + kj*g.D
					if g.S == 1 {
						dst = dst[iw : iw+len(src)]
						for i, v := range src {
							dst[i] += v
						}
						continue
					}
					for _, v := range src {
						dst[iw] += v
						iw += g.S
					}
				}
			}
		}
	}
}

// gather copies rows of gs consecutive samples, each [rows, np] in src,
// into dst [rows, gs·np], sample s in columns [s·np, (s+1)·np).
func gather(dst, src []float32, rows, np, gs int) {
	ld := gs * np
	for s := 0; s < gs; s++ {
		xs := src[s*rows*np:]
		for r := 0; r < rows; r++ {
			copy(dst[r*ld+s*np:r*ld+(s+1)*np], xs[r*np:(r+1)*np])
		}
	}
}

// scatter is the inverse of gather: dst[s] [rows, np] = src[:, s·np:(s+1)·np].
func scatter(dst, src []float32, rows, np, gs int) {
	ld := gs * np
	for s := 0; s < gs; s++ {
		ys := dst[s*rows*np:]
		for r := 0; r < rows; r++ {
			copy(ys[r*np:(r+1)*np], src[r*ld+s*np:r*ld+(s+1)*np])
		}
	}
}

// fillBias sets each of the len(b) rows of y [len(b), np] to its bias.
func fillBias(y, b []float32, np int) {
	for o, v := range b {
		row := y[o*np : (o+1)*np]
		for i := range row {
			row[i] = v
		}
	}
}

// addBiasGrad adds to db[o] the sum of dy[s, o, :] over the n samples of
// dy [n, len(db), np], accumulated in float64.
func addBiasGrad(db, dy []float32, n, np int) {
	ch := len(db)
	for o := range db {
		var sum float64
		for s := 0; s < n; s++ {
			for _, v := range dy[(s*ch+o)*np : (s*ch+o+1)*np] {
				sum += float64(v)
			}
		}
		db[o] += float32(sum)
	}
}

// scratch returns *buf resized to n, allocating only when it is too small.
func scratch(buf *[]float32, n int) []float32 {
	if cap(*buf) < n {
		*buf = make([]float32, n)
	}
	*buf = (*buf)[:n]
	return *buf
}

// convGroup is the number of samples per GEMM for a batch of n whose col
// has rows·np elements per sample.
func convGroup(n, rows, np int) int {
	return min(n, max(1, convColBudget/max(1, rows*np)))
}

// Conv2D is a 2-D convolution over NCHW batches with weight
// [OutC, InC, K, K] and bias [OutC], the layout of PyTorch's nn.Conv2d.
type Conv2D struct {
	InC, OutC, K, Stride, Pad, Dilation int
	Weight                              *Param // [OutC, InC, K, K]
	Bias                                *Param // [OutC]

	g                 convGeom
	pointwise         bool // 1×1, stride 1, no padding: no im2col
	inShape, outShape []int
	skipDX            bool
	x                 *tensor.Tensor
	out, dx           *tensor.Tensor
	col, tmp          []float32
}

// NewConv2D returns a convolution from inC to outC channels with a k×k
// kernel.
func NewConv2D(inC, outC, k, stride, pad, dilation int) *Conv2D {
	return &Conv2D{
		InC: inC, OutC: outC, K: k, Stride: stride, Pad: pad, Dilation: dilation,
		Weight: &Param{Name: "weight", Shape: []int{outC, inC, k, k}},
		Bias:   &Param{Name: "bias", Shape: []int{outC}},
	}
}

func checkConvArgs(name string, inC, outC, k, stride, pad, dilation int) error {
	if inC < 1 || outC < 1 || k < 1 || stride < 1 || pad < 0 || dilation < 1 {
		return fmt.Errorf("%s: channels %d→%d, kernel %d, stride %d, dilation %d must be ≥ 1 and padding %d ≥ 0",
			name, inC, outC, k, stride, dilation, pad)
	}
	return nil
}

func (l *Conv2D) Setup(in []int) ([]int, error) {
	if err := checkConvArgs("conv2d", l.InC, l.OutC, l.K, l.Stride, l.Pad, l.Dilation); err != nil {
		return nil, err
	}
	if len(in) != 3 || in[0] != l.InC {
		return nil, fmt.Errorf("conv2d: input %v, want [%d H W]", in, l.InC)
	}
	oh := convOut(in[1], l.K, l.Stride, l.Pad, l.Dilation)
	ow := convOut(in[2], l.K, l.Stride, l.Pad, l.Dilation)
	if oh < 1 || ow < 1 {
		return nil, fmt.Errorf("conv2d: input %v is smaller than the dilated kernel %d (padding %d)",
			in, l.Dilation*(l.K-1)+1, l.Pad)
	}
	l.g = convGeom{C: l.InC, H: in[1], W: in[2], K: l.K, S: l.Stride, P: l.Pad, D: l.Dilation, OH: oh, OW: ow}
	l.pointwise = l.K == 1 && l.Stride == 1 && l.Pad == 0
	l.inShape = slices.Clone(in)
	l.outShape = []int{l.OutC, oh, ow}
	return l.outShape, nil
}

func (l *Conv2D) Params() []*Param     { return []*Param{l.Weight, l.Bias} }
func (l *Conv2D) SkipInputGrad(s bool) { l.skipDX = s }

// Init is PyTorch's nn.Conv2d default: kaiming_uniform(a=√5), which is
// U(±1/√fan_in) with fan_in = InC·K·K, and the same bound for the bias.
func (l *Conv2D) Init(rng *rand.Rand) {
	bound := 1 / math.Sqrt(float64(l.InC*l.K*l.K))
	uniform(rng, l.Weight.W, bound)
	uniform(rng, l.Bias.W, bound)
}

func checkBatch(name string, x *tensor.Tensor, per int, shape []int) {
	if len(x.Shape) == 0 || x.Cols() != per {
		panic(fmt.Sprintf("nn: %s: input %v, want [N %v]", name, x.Shape, shape))
	}
}

// Forward: x [N, InC, H, W] → y [N, OutC, OH, OW].
func (l *Conv2D) Forward(x *tensor.Tensor, _ bool) *tensor.Tensor {
	g := &l.g
	checkBatch("Conv2D", x, g.size(), l.inShape)
	n := x.Rows()
	l.x = x
	y := buffer(&l.out, n, l.outShape)
	o, r, np, in := l.OutC, g.rows(), g.cols(), g.size()
	w, b := l.Weight.W, l.Bias.W
	if l.pointwise {
		for s := 0; s < n; s++ {
			ys := y.Data[s*o*np : (s+1)*o*np]
			fillBias(ys, b, np)
			f32.Gemm(false, false, o, np, r, 1, w, r, x.Data[s*in:(s+1)*in], np, 1, ys, np)
		}
		return y
	}
	gs := convGroup(n, r, np)
	col := scratch(&l.col, r*gs*np)
	for s0 := 0; s0 < n; s0 += gs {
		k := min(gs, n-s0)
		ld := k * np
		for s := 0; s < k; s++ {
			im2col(g, x.Data[(s0+s)*in:(s0+s+1)*in], col, ld, s*np)
		}
		ys := y.Data[s0*o*np : (s0+k)*o*np]
		if k == 1 {
			fillBias(ys, b, np)
			f32.Gemm(false, false, o, np, r, 1, w, r, col, np, 1, ys, np)
			continue
		}
		tmp := scratch(&l.tmp, o*ld)
		fillBias(tmp, b, ld)
		f32.Gemm(false, false, o, ld, r, 1, w, r, col, ld, 1, tmp, ld)
		scatter(ys, tmp, o, np, k)
	}
	return y
}

// Backward: dW += dY·colᵀ, db += Σ dY, dx = col2im(Wᵀ·dY).
func (l *Conv2D) Backward(dy *tensor.Tensor) *tensor.Tensor {
	g := &l.g
	n := dy.Rows()
	o, r, np, in := l.OutC, g.rows(), g.cols(), g.size()
	w, gw := l.Weight.W, l.Weight.G
	addBiasGrad(l.Bias.G, dy.Data, n, np)
	var dx *tensor.Tensor
	if !l.skipDX {
		dx = buffer(&l.dx, n, l.inShape)
	}
	x := l.x.Data
	if l.pointwise {
		for s := 0; s < n; s++ {
			dys := dy.Data[s*o*np : (s+1)*o*np]
			f32.Gemm(false, true, o, r, np, 1, dys, np, x[s*in:(s+1)*in], np, 1, gw, r)
			if dx != nil {
				f32.Gemm(true, false, r, np, o, 1, w, r, dys, np, 0, dx.Data[s*in:(s+1)*in], np)
			}
		}
		return dx
	}
	gs := convGroup(n, r, np)
	col := scratch(&l.col, r*gs*np)
	for s0 := 0; s0 < n; s0 += gs {
		k := min(gs, n-s0)
		ld := k * np
		for s := 0; s < k; s++ {
			im2col(g, x[(s0+s)*in:(s0+s+1)*in], col, ld, s*np)
		}
		dyg := dy.Data[s0*o*np : (s0+k)*o*np]
		if k > 1 {
			tmp := scratch(&l.tmp, o*ld)
			gather(tmp, dyg, o, np, k)
			dyg = tmp
		}
		f32.Gemm(false, true, o, r, ld, 1, dyg, ld, col, ld, 1, gw, r)
		if dx == nil {
			continue
		}
		// col is spent: reuse it for dcol.
		f32.Gemm(true, false, r, ld, o, 1, w, r, dyg, ld, 0, col, ld)
		for s := 0; s < k; s++ {
			dxs := dx.Data[(s0+s)*in : (s0+s+1)*in]
			clear(dxs)
			col2im(g, col, ld, s*np, dxs)
		}
	}
	return dx
}

// ConvTranspose2D is the transposed convolution of PyTorch's
// nn.ConvTranspose2d (no groups, no dilation): weight [InC, OutC, K, K],
// bias [OutC], output size (H-1)·Stride - 2·Pad + K + OutPad. It is the
// adjoint of the Conv2D from OutC to InC channels with the same kernel,
// stride and padding: Forward is a GEMM then col2im, Backward im2col then
// GEMMs.
type ConvTranspose2D struct {
	InC, OutC, K, Stride, Pad, OutPad int
	Weight                            *Param // [InC, OutC, K, K]
	Bias                              *Param // [OutC]

	g                 convGeom // the adjoint convolution: image = output
	inShape, outShape []int
	skipDX            bool
	x                 *tensor.Tensor
	out, dx           *tensor.Tensor
	col, tmp          []float32
}

// NewConvTranspose2D returns a transposed convolution from inC to outC
// channels with a k×k kernel.
func NewConvTranspose2D(inC, outC, k, stride, pad, outPad int) *ConvTranspose2D {
	return &ConvTranspose2D{
		InC: inC, OutC: outC, K: k, Stride: stride, Pad: pad, OutPad: outPad,
		Weight: &Param{Name: "weight", Shape: []int{inC, outC, k, k}},
		Bias:   &Param{Name: "bias", Shape: []int{outC}},
	}
}

func (l *ConvTranspose2D) Setup(in []int) ([]int, error) {
	if err := checkConvArgs("convtranspose2d", l.InC, l.OutC, l.K, l.Stride, l.Pad, 1); err != nil {
		return nil, err
	}
	if l.OutPad < 0 || l.OutPad >= l.Stride {
		return nil, fmt.Errorf("convtranspose2d: output padding %d must be in [0, stride %d)", l.OutPad, l.Stride)
	}
	if len(in) != 3 || in[0] != l.InC {
		return nil, fmt.Errorf("convtranspose2d: input %v, want [%d H W]", in, l.InC)
	}
	oh := (in[1]-1)*l.Stride - 2*l.Pad + l.K + l.OutPad
	ow := (in[2]-1)*l.Stride - 2*l.Pad + l.K + l.OutPad
	if oh < 1 || ow < 1 {
		return nil, fmt.Errorf("convtranspose2d: input %v gives an empty output %d×%d (padding %d too large)", in, oh, ow, l.Pad)
	}
	l.g = convGeom{C: l.OutC, H: oh, W: ow, K: l.K, S: l.Stride, P: l.Pad, D: 1, OH: in[1], OW: in[2]}
	l.inShape = slices.Clone(in)
	l.outShape = []int{l.OutC, oh, ow}
	return l.outShape, nil
}

func (l *ConvTranspose2D) Params() []*Param     { return []*Param{l.Weight, l.Bias} }
func (l *ConvTranspose2D) SkipInputGrad(s bool) { l.skipDX = s }

// Init is PyTorch's nn.ConvTranspose2d default: kaiming_uniform(a=√5) with
// fan_in computed from weight dimension 1, so U(±1/√(OutC·K·K)), and the
// same bound for the bias.
func (l *ConvTranspose2D) Init(rng *rand.Rand) {
	bound := 1 / math.Sqrt(float64(l.OutC*l.K*l.K))
	uniform(rng, l.Weight.W, bound)
	uniform(rng, l.Bias.W, bound)
}

// Forward: x [N, InC, H, W] → y [N, OutC, OH, OW]: col = Wᵀ·x, y = b + col2im(col).
func (l *ConvTranspose2D) Forward(x *tensor.Tensor, _ bool) *tensor.Tensor {
	g := &l.g
	ci, r, np, out := l.InC, g.rows(), g.cols(), g.size()
	checkBatch("ConvTranspose2D", x, ci*np, l.inShape)
	n := x.Rows()
	l.x = x
	y := buffer(&l.out, n, l.outShape)
	w := l.Weight.W
	gs := convGroup(n, r, np)
	col := scratch(&l.col, r*gs*np)
	for s0 := 0; s0 < n; s0 += gs {
		k := min(gs, n-s0)
		ld := k * np
		xg := x.Data[s0*ci*np : (s0+k)*ci*np]
		if k > 1 {
			tmp := scratch(&l.tmp, ci*ld)
			gather(tmp, xg, ci, np, k)
			xg = tmp
		}
		f32.Gemm(true, false, r, ld, ci, 1, w, r, xg, ld, 0, col, ld)
		for s := 0; s < k; s++ {
			ys := y.Data[(s0+s)*out : (s0+s+1)*out]
			fillBias(ys, l.Bias.W, g.H*g.W)
			col2im(g, col, ld, s*np, ys)
		}
	}
	return y
}

// Backward: dcol = im2col(dY), dW += x·dcolᵀ, db += Σ dY, dx = W·dcol.
func (l *ConvTranspose2D) Backward(dy *tensor.Tensor) *tensor.Tensor {
	g := &l.g
	n := dy.Rows()
	ci, r, np, out := l.InC, g.rows(), g.cols(), g.size()
	w, gw := l.Weight.W, l.Weight.G
	addBiasGrad(l.Bias.G, dy.Data, n, g.H*g.W)
	var dx *tensor.Tensor
	if !l.skipDX {
		dx = buffer(&l.dx, n, l.inShape)
	}
	x := l.x.Data
	gs := convGroup(n, r, np)
	col := scratch(&l.col, r*gs*np)
	for s0 := 0; s0 < n; s0 += gs {
		k := min(gs, n-s0)
		ld := k * np
		for s := 0; s < k; s++ {
			im2col(g, dy.Data[(s0+s)*out:(s0+s+1)*out], col, ld, s*np)
		}
		xg := x[s0*ci*np : (s0+k)*ci*np]
		var tmp []float32
		if k > 1 {
			tmp = scratch(&l.tmp, ci*ld)
			gather(tmp, xg, ci, np, k)
			xg = tmp
		}
		f32.Gemm(false, true, ci, r, ld, 1, xg, ld, col, ld, 1, gw, r)
		if dx == nil {
			continue
		}
		dxg := dx.Data[s0*ci*np : (s0+k)*ci*np]
		if k == 1 {
			f32.Gemm(false, false, ci, ld, r, 1, w, r, col, ld, 0, dxg, ld)
			continue
		}
		f32.Gemm(false, false, ci, ld, r, 1, w, r, col, ld, 0, tmp, ld)
		scatter(dxg, tmp, ci, np, k)
	}
	return dx
}
