package nn

import (
	"fmt"

	"github.com/bottleneck-ml/bottleneck/internal/f32"
	"github.com/bottleneck-ml/bottleneck/internal/parallel"
)

// # The row path: convolutions whose GEMM rows are pixels
//
// A convolution's forward pass can run with the image turned so that the
// GEMM's rows are pixels and its columns channels (NHWC), instead of
// im2col's columns of pixels: float32 where that is faster (convRowsFP32),
// and every int8 convolution (PrepareInference with INT8, on f32.GemmQ8,
// the int8 product of Dense layers):
//
//   - Conv2D, im2row: the batch is turned to padded NHWC once
//     (f32.Transpose), then each output pixel's patch becomes one
//     contiguous row of C·K·K values ordered (ki, kj, c), so that a kernel
//     row's K taps are K·C consecutive floats of the image
//     (f32.GatherRows: K copies per row, no bounds to check: the padding
//     is in the image), where im2col gathers pixel by pixel. The product
//     multiplies the rows by the weights permuted to the same order (int8:
//     each row quantised with its own scale, the weights per output
//     channel), adds the bias and applies a fused ReLU; the [pixels, OutC]
//     result is transposed back to NCHW. The rows are taken in blocks of
//     convRowsBlock over the whole batch, so small images share a product
//     and large ones are split.
//   - ConvTranspose2D: each input pixel's InC channels are a row (the
//     sample transposed to NHWC); the product multiplies them by the
//     weights as [InC, (ki, kj, oc)], which gives every tap's OutC
//     contributions as consecutive floats; these are added to the output
//     pixels they land on, in NHWC (starting from the bias; f32.AddRows,
//     whole rows where col2im scatters element by element), then a fused
//     ReLU, and the sample is transposed to NCHW.
//
// The float32 weights are permuted and packed for the GEMM (f32.PackedB)
// by PrepareInference, or at every training Forward (the weights change
// between steps; 18 K floats for conv-mnist's layers). The same code
// serves both precisions; only the product differs (convRows.product).
// A float32 layer on the row path computes its gradients on it too (see
// "Backward on the row path" below), from the permutation its forward pass
// made. The results do not depend on the thread count (each output
// element is computed by one worker in a fixed order) nor on the CPU path
// (GemmQ8's assembly and Go twin give the same bits, as do the float32
// GEMM's; the rest is copies and adds that f32 does the same way in Go and
// in assembly).

// convRowsBlock is the number of rows (output pixels) of one product: a
// multiple of the kernels' 14 rows, chosen so that the float rows
// (convRowsBlock × C·K·K) stay in L2 between im2row and the product
// (BenchmarkConvInfer; for float32, 56 to 448 rows were within the noise).
var convRowsBlock = 8 * 14

// forceInt8 prepares INT8 on the int8 path even without an int8 kernel
// (then GemmQ8 runs its Go twin): tests use it to check the path's bits on
// every build.
var forceInt8 = false

// int8Kernel reports whether INT8 can run on the int8 path.
func int8Kernel() bool { return f32.HasInt8() || forceInt8 }

// convQ8Pays reports whether a convolution whose int8 product has k
// inputs and n outputs per row (Conv2D: C·K·K and OutC; ConvTranspose2D:
// InC and OutC·K·K) runs faster in int8 than in float32
// (BenchmarkConvInfer, one core, batch as in the models).
func convQ8Pays(k, n int) bool { return int8Pays(k, n) && (int8Every || n >= 16) }

// int8Every makes every Dense and convolution layer take the int8 path
// under INT8, whatever its size (benchmarks and the quality table's
// "every layer" column).
var int8Every = false

// convRows is a convolution's weights prepared for the row path and the
// scratch of its passes.
type convRows struct {
	ok   bool // weights prepared by PrepareInference
	int8 bool // the product is int8 (q), else float32 (p)
	q    f32.QuantB
	p    f32.PackedB
	pbwd f32.PackedB  // backward: the permuted weights packed for the input gradient
	wp   []float32    // the weights permuted for the product
	off  []int32      // per pixel and segment: its offset (convRowSegs, convTRowOffsets)
	segW int          // Conv2D: the width of a segment
	gs   int          // ConvTranspose2D: samples per work item (convRowsGroup)
	xh   []float32    // Conv2D: the batch in padded NHWC
	task convRowsTask // the pass in flight
}

// convRowsPass is a convolution with a row-path forward pass.
type convRowsPass interface {
	rowsDo(t *convRowsTask, w, lo, hi int)
}

// convRowsTask is one phase of a row-path forward pass over a batch.
type convRowsTask struct {
	l     convRowsPass
	phase int
	n     int
	x, y  []float32
}

func (t *convRowsTask) Do(w, lo, hi int) { t.l.rowsDo(t, w, lo, hi) }

// runRows runs phase over [0, items) on the workers, with the scratch of
// the layer's other passes.
func (st *convState) runRows(l convRowsPass, phase, items int, n int, x, y []float32) {
	st.workers()
	st.rows.task = convRowsTask{l: l, phase: phase, n: n, x: x, y: y}
	parallel.Run(items, ceilDiv(items, len(st.work)), &st.rows.task)
	st.rows.task = convRowsTask{}
}

// product computes c = a·B + bias, then act, for the m rows of a, B being
// the prepared weights (int8 or packed float32).
func (q *convRows) product(m int, a []float32, lda int, bias []float32, act f32.Act, c []float32, ldc int) {
	if q.int8 {
		f32.GemmQ8(m, a, lda, &q.q, bias, act, c, ldc)
		return
	}
	f32.GemmPacked(false, m, a, lda, &q.p, bias, act, c, ldc)
}

// prepareInference is a convolution's PrepareInference: int8 when p is
// INT8, the CPU has the int8 kernel and the product (k inputs and n
// outputs per row) is large enough for it to pay, else float32 where the
// layer takes the row path (rowsFP32); prepare permutes the weights and
// loads them.
func (q *convRows) prepareInference(p Precision, k, n int, rowsFP32 bool, prepare func(int8 bool)) error {
	if err := checkPrecision(p); err != nil {
		return err
	}
	q.ok = false
	int8 := p == INT8 && int8Kernel() && convQ8Pays(k, n)
	if !int8 && !rowsFP32 {
		return nil
	}
	prepare(int8)
	q.ok = true
	return nil
}

// load quantises (int8) or packs wp as the product's B, op(B) k×n (wp is
// [n, k] when trans, else [k, n]).
func (q *convRows) load(int8, trans bool, k, n int, wp []float32) {
	ld := n
	if trans {
		ld = k
	}
	q.int8 = int8
	if int8 {
		q.q.Quantize(trans, k, n, wp, ld)
	} else {
		q.p.Pack(trans, k, n, wp, ld)
	}
}

// checkPrecision rejects precisions PrepareInference does not know.
func checkPrecision(p Precision) error {
	if p != FP32 && p != INT8 {
		return fmt.Errorf("precision %v is not supported", p)
	}
	return nil
}

// PrepareInference quantises the weights for int8 inference when p is
// INT8, the CPU has the int8 kernel and the layer is large enough for it
// to pay, else packs them for the float32 row path where the layer takes
// it (see the package comment on the row path); other float32 passes need
// nothing prepared. Forward with train = false then runs on them
// until the next training Forward or Backward; after writing to Weight.W
// otherwise, call it again.
func (l *Conv2D) PrepareInference(p Precision) error {
	return l.rows.prepareInference(p, l.g.rows(), l.OutC, l.rowsFP32, l.prepareRows)
}

// prepareRows permutes the weights for the row path's product and
// quantises (int8) or packs them.
func (l *Conv2D) prepareRows(int8 bool) {
	l.rows.load(int8, true, l.g.rows(), l.OutC, l.permuteRows())
	if l.rows.off == nil {
		l.rows.segW, l.rows.off = convRowSegs(&l.g)
	}
}

// permuteRows sets and returns rows.wp [o, (t, c)] = W[o, c, t].
func (l *Conv2D) permuteRows() []float32 {
	wp := scratch(&l.rows.wp, len(l.Weight.W))
	tapsLast(wp, l.Weight.W, l.OutC, l.InC, l.K*l.K)
	return wp
}

// tapsLast sets dst [a, (t, b)] to w [a, b, t] (t < kk): a kernel's taps
// of every channel pair, turned so that each tap's b channels are
// consecutive, as the row path's products take them.
func tapsLast(dst, w []float32, a, b, kk int) {
	for i := 0; i < a; i++ {
		for j := 0; j < b; j++ {
			for t := 0; t < kk; t++ {
				dst[(i*kk+t)*b+j] = w[(i*b+j)*kk+t]
			}
		}
	}
}

// addTapsBack adds acc [a, (t, b)] to g [a, b, t]: the adjoint of
// tapsLast, for the weight gradient.
func addTapsBack(g, acc []float32, a, b, kk int) {
	for i := 0; i < a; i++ {
		for j := 0; j < b; j++ {
			dst := g[(i*b+j)*kk : (i*b+j+1)*kk]
			for t := range dst {
				dst[t] += acc[(i*kk+t)*b+j]
			}
		}
	}
}

// gatherBlock sets dst to the rows [r0, r0+m) of a batch's im2row
// matrix: rows of np pixels per sample, the samples ps floats apart in
// src, pixel p's row being its segs segments of w floats at off[p·segs:]
// in its sample (f32.GatherRows, a sample's run of pixels at a time).
func gatherBlock(dst, src []float32, ps, np, r0, m int, off []int32, segs, w int) {
	for i := r0; i < r0+m; {
		s, p := i/np, i%np
		k := min(np-p, r0+m-i)
		f32.GatherRows(dst[(i-r0)*segs*w:], src[s*ps:(s+1)*ps], off[p*segs:(p+k)*segs], w)
		i += k
	}
}

// addBlock is gatherBlock's adjoint: it adds the rows [r0, r0+m) of src
// to the segments of dst they stand for (f32.AddRows, in row order).
func addBlock(dst []float32, ps, np, r0, m int, off []int32, segs, w int, src []float32) {
	for i := r0; i < r0+m; {
		s, p := i/np, i%np
		k := min(np-p, r0+m-i)
		f32.AddRows(dst[s*ps:(s+1)*ps], off[p*segs:(p+k)*segs], src[(i-r0)*segs*w:], w)
		i += k
	}
}

// The row-path Conv2D reads its patches from the batch in padded NHWC: each
// sample [H+2P, W+2P, C] with zero borders (written once: the passes write
// only the interior), so that every patch is whole, and with dilation 1 a
// kernel row's K taps are K·C consecutive floats: im2row is one
// f32.GatherRows of K (dilation 1) or K·K rows per output pixel, with the
// offsets of convRowSegs.

// padDims returns the padded image's height and width.
func (g *convGeom) padDims() (hp, wp int) { return g.H + 2*g.P, g.W + 2*g.P }

// convRowSegs returns the segments of each output pixel's im2row row in the
// padded NHWC image of g (c channels): their width (K·C for dilation 1,
// else C), and per output pixel and segment the offset.
func convRowSegs(g *convGeom) (w int, off []int32) {
	_, wp := g.padDims()
	c, k := g.C, g.K
	segs, w := k*k, c
	if g.D == 1 {
		segs, w = k, k*c
	}
	off = make([]int32, g.cols()*segs)
	for p := range g.cols() {
		oh, ow := p/g.OW, p%g.OW
		for i := range segs {
			ki, kj := i, 0
			if g.D != 1 {
				ki, kj = i/k, i%k
			}
			off[p*segs+i] = int32(((oh*g.S+ki*g.D)*wp + ow*g.S + kj*g.D) * c)
		}
	}
	return w, off
}

// convRowsBandPixels is about how many pixels of an image the padding pass
// turns to NHWC per work item.
const convRowsBandPixels = 256

// forwardRows is the row-path forward pass: the batch to padded NHWC (phase 0,
// items of a band of rows of a sample), then blocks of convRowsBlock im2row
// rows (phase 1).
func (l *Conv2D) forwardRows(n int, x, y []float32) {
	g := &l.g
	hp, wp := g.padDims()
	l.rows.xh = scratch(&l.rows.xh, n*hp*wp*g.C)
	bh := ceilDiv(convRowsBandPixels, g.W)
	l.runRows(l, 0, n*ceilDiv(g.H, bh), n, x, y)
	l.runRows(l, 1, ceilDiv(n*g.cols(), convRowsBlock), n, x, y)
}

func (l *Conv2D) rowsDo(t *convRowsTask, w, lo, hi int) {
	g := &l.g
	wk := &l.work[w]
	c, hw, in := g.C, g.H*g.W, g.size()
	hp, wp := g.padDims()
	ps := hp * wp * c // a padded sample
	if t.phase == 0 {
		bh := ceilDiv(convRowsBandPixels, g.W)
		nb := ceilDiv(g.H, bh)
		for item := lo; item < hi; item++ {
			s, b := item/nb, item%nb
			h0, h1 := b*bh, min((b+1)*bh, g.H)
			toNHWC(l.rows.xh[s*ps+h0*wp*c:(s+1)*ps], t.x[s*in+h0*g.W:], hw, c, h1-h0, g.W, g.P, scratch(&wk.xp, (h1-h0)*g.W*c))
		}
		return
	}
	r, o, np := g.rows(), l.OutC, g.cols()
	act := f32.ActNone
	if l.relu {
		act = f32.ActReLU
	}
	sw := l.rows.segW
	segs := r / sw
	total := t.n * np
	for b := lo; b < hi; b++ {
		r0, r1 := b*convRowsBlock, min((b+1)*convRowsBlock, total)
		m := r1 - r0
		var a []float32
		if l.K == 1 && g.S == 1 && g.P == 0 {
			a = l.rows.xh[r0*c : r1*c] // pointwise: the NHWC pixels are the rows
		} else {
			a = scratch(&wk.col, m*r)
			gatherBlock(a, l.rows.xh, ps, np, r0, m, l.rows.off, segs, sw)
		}
		out := scratch(&wk.tmp, m*o)
		l.rows.product(m, a, r, l.Bias.W, act, out, o)
		// Back to NCHW, one sample's run of pixels at a time.
		for i := r0; i < r1; {
			s, p := i/np, i%np
			k := min(np-p, r1-i)
			f32.Transpose(t.y[s*o*np+p:], np, out[(i-r0)*o:], o, k, o)
			i += k
		}
	}
}

// convTRowOffsets returns, for each input pixel p of a transposed
// convolution (g its adjoint, whose input is the layer's output) and each
// tap t = ki·K+kj, where that tap lands in the NHWC output of c channels,
// (oh·W+ow)·c, or -1 where it falls in the padding: the taps' sum is then
// f32.AddRows of these.
func convTRowOffsets(g *convGeom, c int) []int32 {
	kk := g.K * g.K
	off := make([]int32, g.cols()*kk)
	for p := range g.cols() {
		oh, ow := p/g.OW, p%g.OW
		for ki := 0; ki < g.K; ki++ {
			for kj := 0; kj < g.K; kj++ {
				ih, iw := oh*g.S-g.P+ki*g.D, ow*g.S-g.P+kj*g.D
				v := int32(-1)
				if ih >= 0 && ih < g.H && iw >= 0 && iw < g.W {
					v = int32((ih*g.W + iw) * c)
				}
				off[p*kk+ki*g.K+kj] = v
			}
		}
	}
	return off
}

// PrepareInference quantises the weights for int8 inference when p is
// INT8, the CPU has the int8 kernel and the layer is large enough for it
// to pay, else packs them for the float32 row path where the layer takes
// it (see Conv2D.PrepareInference).
func (l *ConvTranspose2D) PrepareInference(p Precision) error {
	return l.rows.prepareInference(p, l.InC, l.g.rows(), l.rowsFP32, l.prepareRows)
}

// prepareRows permutes the weights for the row path's product and
// quantises (int8) or packs them.
func (l *ConvTranspose2D) prepareRows(int8 bool) {
	l.rows.load(int8, false, l.InC, l.g.rows(), l.permuteRows())
	if l.rows.off == nil {
		l.rows.off = convTRowOffsets(&l.g, l.OutC)
	}
}

// permuteRows sets and returns rows.wp [ci, (t, o)] = W[ci, o, t].
func (l *ConvTranspose2D) permuteRows() []float32 {
	wp := scratch(&l.rows.wp, len(l.Weight.W))
	tapsLast(wp, l.Weight.W, l.InC, l.OutC, l.K*l.K)
	return wp
}

// forwardRows is the row-path forward pass, a group of samples per item (see
// convRowsGroup).
func (l *ConvTranspose2D) forwardRows(n int, x, y []float32) {
	l.rows.gs = convRowsGroup(n, l.g.cols())
	l.runRows(l, 0, ceilDiv(n, l.rows.gs), n, x, y)
}

// convRowsGroup is the number of samples (of np pixels, n in the batch)
// whose rows go through the products of one ConvTranspose2D work
// item: up to 4·convRowsBlock rows, so that small images do not each end on
// a partial panel, and at least 4 items per thread. The grouping does not
// change the result.
func convRowsGroup(n, np int) int {
	return max(1, min(4*convRowsBlock/np, ceilDiv(n, 4*parallel.Threads())))
}

func (l *ConvTranspose2D) rowsDo(t *convRowsTask, w, lo, hi int) {
	g := &l.g
	wk := &l.work[w]
	ci, o, k, np, ohw := l.InC, l.OutC, l.K, g.cols(), g.H*g.W
	kk := k * k
	nc := kk * o
	gs := l.rows.gs
	for grp := lo; grp < hi; grp++ {
		s0, s1 := grp*gs, min((grp+1)*gs, t.n)
		rows := (s1 - s0) * np
		xh := scratch(&wk.xh, rows*ci)
		for s := s0; s < s1; s++ {
			f32.Transpose(xh[(s-s0)*np*ci:], ci, t.x[s*ci*np:], np, ci, np)
		}
		// acc [samples, H·W, o] starts as the bias of every pixel.
		acc := scratch(&wk.yh, (s1-s0)*ohw*o)
		copy(acc, l.Bias.W)
		for i := o; i < len(acc); i *= 2 {
			copy(acc[i:], acc[:i])
		}
		for r0 := 0; r0 < rows; r0 += convRowsBlock {
			m := min(convRowsBlock, rows-r0)
			col := scratch(&wk.col, m*nc)
			l.rows.product(m, xh[r0*ci:], ci, nil, f32.ActNone, col, nc)
			addBlock(acc, ohw*o, np, r0, m, l.rows.off, kk, o, col)
		}
		if l.relu {
			f32.ReLU(acc, acc)
		}
		for s := s0; s < s1; s++ {
			f32.Transpose(t.y[s*o*ohw:], ohw, acc[(s-s0)*ohw*o:], o, ohw, o)
		}
	}
}

// # Backward on the row path
//
// A layer whose float32 forward pass takes the row path computes its
// gradients on it too, group by group of samples as im2col's backward
// (convTask, partial gradients summed in group order), in blocks of
// convRowsBwdBlock rows:
//
//   - Conv2D: with A the im2row rows of x (as the forward pass gathers
//     them) and dY turned to rows [pixels, O], dWp += dYᵀ·A and
//     dA = dY·Wp, whose rows f32.AddRows adds back to the patches they
//     came from in a padded NHWC dx (the adjoint of GatherRows), cropped
//     and turned to NCHW at the end.
//   - ConvTranspose2D: with X the rows of x (NHWC) and dT the taps of dY
//     that each input pixel's contributions landed on (f32.GatherRows with
//     the forward pass's offsets, zeros in the padding: the adjoint of its
//     AddRows), dWp += Xᵀ·dT and dX = dT·Wpᵀ.
//
// Both are sums over the same products as im2col's backward, in another
// order; like it, their bits do not depend on the thread count.

// convRowsBwdBlock is the number of rows of one backward block.
var convRowsBwdBlock = 4 * convRowsBlock

// toNHWC writes h rows of an image x [c, ·] (w pixels a row, its channel
// planes lds floats apart) to dst as [h, w, c] inside a frame of p pixels
// of padding (dst [h+2p, w+2p, c] for a whole image; the frame is not
// written): the row path's input, a sample or a band of rows at a time.
func toNHWC(dst, x []float32, lds, c, h, w, p int, tmp []float32) {
	if p == 0 {
		f32.Transpose(dst, c, x, lds, c, h*w)
		return
	}
	f32.Transpose(tmp, c, x, lds, c, h*w)
	wp := w + 2*p
	for ih := 0; ih < h; ih++ {
		copy(dst[((ih+p)*wp+p)*c:((ih+p)*wp+p+w)*c], tmp[ih*w*c:(ih+1)*w*c])
	}
}

// fromNHWC is the adjoint of toNHWC's layout: it writes the interior of
// src [h+2p, w+2p, c] to dst [c, h·w], through tmp (c·h·(w+2p)): the
// rows with their padding are transposed at once (whole 16×16 blocks; row
// by row, a 14-pixel row would be all edge) and then cropped.
func fromNHWC(dst, src []float32, c, h, w, p int, tmp []float32) {
	if p == 0 {
		f32.Transpose(dst, h*w, src, c, h*w, c)
		return
	}
	wp := w + 2*p
	f32.Transpose(tmp, h*wp, src[p*wp*c:], c, h*wp, c)
	for ch := 0; ch < c; ch++ {
		for ih := 0; ih < h; ih++ {
			copy(dst[(ch*h+ih)*w:(ch*h+ih+1)*w], tmp[(ch*h+ih)*wp+p:])
		}
	}
}

// backwardRows sets up a Backward on the row path: the input gradient's
// weights, dA = dY·Wp, packed from rows.wp, which the forward pass before
// it permuted (the weights of that pass; the offsets are its too).
func (l *Conv2D) backwardRows() {
	if !l.skipDX {
		l.rows.pbwd.Pack(false, l.OutC, l.g.rows(), l.rows.wp, l.g.rows())
	}
}

// backwardRowsGroup is group grp's share of a row-path Backward; its
// partial weight gradient is dWp [o, (t, c)].
func (l *Conv2D) backwardRowsGroup(t *convTask, wk *convWork, grp int) {
	g := &l.g
	s0, s1 := t.p.span(grp)
	c, o, r, np, in := g.C, l.OutC, g.rows(), g.cols(), g.size()
	hp, wpad := g.padDims()
	ps := hp * wpad * c
	pw, pb := l.partial(grp, r*o, o)
	biasSum(pb, t.dy, s0, s1, np, l.ones)
	gs := s1 - s0
	// The group's x in padded NHWC: the frame stays zero, as only the
	// interior is ever written to this scratch.
	xh := scratch(&wk.xh, gs*ps)
	dyr := scratch(&wk.yh, gs*np*o)
	for s := s0; s < s1; s++ {
		toNHWC(xh[(s-s0)*ps:], t.x[s*in:], g.H*g.W, c, g.H, g.W, g.P, scratch(&wk.xp, g.H*g.W*c))
		f32.Transpose(dyr[(s-s0)*np*o:], o, t.dy[s*o*np:], np, o, np)
	}
	var dxh []float32
	if t.dx != nil {
		dxh = scratch(&wk.tmp, gs*ps)
		clear(dxh)
	}
	sw := l.rows.segW
	segs := r / sw
	total := gs * np
	for r0 := 0; r0 < total; r0 += convRowsBwdBlock {
		m := min(convRowsBwdBlock, total-r0)
		a := scratch(&wk.col, m*r)
		gatherBlock(a, xh, ps, np, r0, m, l.rows.off, segs, sw)
		f32.Gemm(true, false, o, r, m, 1, dyr[r0*o:], o, a, r, float32(min(1, r0)), pw, r)
		if dxh == nil {
			continue
		}
		// a is spent: dA goes there.
		f32.GemmPacked(false, m, dyr[r0*o:], o, &l.rows.pbwd, nil, f32.ActNone, a, r)
		addBlock(dxh, ps, np, r0, m, l.rows.off, segs, sw, a)
	}
	for s := s0; s < s1 && dxh != nil; s++ {
		fromNHWC(t.dx[s*in:(s+1)*in], dxh[(s-s0)*ps:], c, g.H, g.W, g.P, scratch(&wk.xp, g.H*wpad*c))
	}
}

// addRowsGrad adds the reduced row-path weight gradient acc = dWp [o, (t, c)]
// to Weight.G [o, c, t].
func (l *Conv2D) addRowsGrad(acc []float32) {
	addTapsBack(l.Weight.G, acc, l.OutC, l.InC, l.K*l.K)
}

// backwardRows sets up a Backward on the row path: the input gradient's
// weights, dX = dT·Wpᵀ, packed from the forward pass's rows.wp (see
// Conv2D.backwardRows).
func (l *ConvTranspose2D) backwardRows() {
	if !l.skipDX {
		n := l.g.rows()
		l.rows.pbwd.Pack(true, n, l.InC, l.rows.wp, n)
	}
}

// backwardRowsGroup is group grp's share of a row-path Backward; its
// partial weight gradient is dWp [ci, (t, o)].
func (l *ConvTranspose2D) backwardRowsGroup(t *convTask, wk *convWork, grp int) {
	g := &l.g
	s0, s1 := t.p.span(grp)
	ci, o, kk, np, ohw := l.InC, l.OutC, l.K*l.K, g.cols(), g.H*g.W
	nc := kk * o
	pw, pb := l.partial(grp, ci*nc, o)
	biasSum(pb, t.dy, s0, s1, ohw, l.ones)
	gs := s1 - s0
	xr := scratch(&wk.xh, gs*np*ci)
	dyh := scratch(&wk.yh, gs*ohw*o)
	for s := s0; s < s1; s++ {
		f32.Transpose(xr[(s-s0)*np*ci:], ci, t.x[s*ci*np:], np, ci, np)
		f32.Transpose(dyh[(s-s0)*ohw*o:], o, t.dy[s*o*ohw:], ohw, o, ohw)
	}
	var dxr []float32
	if t.dx != nil {
		dxr = scratch(&wk.tmp, gs*np*ci)
	}
	total := gs * np
	for r0 := 0; r0 < total; r0 += convRowsBwdBlock {
		m := min(convRowsBwdBlock, total-r0)
		dt := scratch(&wk.col, m*nc)
		gatherBlock(dt, dyh, ohw*o, np, r0, m, l.rows.off, kk, o)
		f32.Gemm(true, false, ci, nc, m, 1, xr[r0*ci:], ci, dt, nc, float32(min(1, r0)), pw, nc)
		if dxr != nil {
			f32.GemmPacked(false, m, dt, nc, &l.rows.pbwd, nil, f32.ActNone, dxr[r0*ci:], ci)
		}
	}
	for s := s0; s < s1 && dxr != nil; s++ {
		f32.Transpose(t.dx[s*ci*np:], np, dxr[(s-s0)*np*ci:], ci, np, ci)
	}
}

// addRowsGrad adds the reduced row-path weight gradient acc = dWp [ci, (t, o)]
// to Weight.G [ci, o, t].
func (l *ConvTranspose2D) addRowsGrad(acc []float32) {
	addTapsBack(l.Weight.G, acc, l.InC, l.OutC, l.K*l.K)
}
