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
// The backward passes are im2col's (conv.go): they need only x and the
// output. The results do not depend on the thread count (each output
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
	wp   []float32      // the weights permuted for the product
	off  []int32        // per pixel and segment: its offset (convRowSegs, convTRowOffsets)
	segW int            // Conv2D: the width of a segment
	gs   int            // ConvTranspose2D: samples per work item (convRowsGroup)
	xh   []float32      // Conv2D: the batch in padded NHWC
	work []convRowsWork // per worker
	task convRowsTask   // the pass in flight
}

// convRowsWork is one worker's scratch.
type convRowsWork struct{ rows, out, xh, acc []float32 }

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

// run runs phase over [0, items) on the workers.
func (q *convRows) run(l convRowsPass, phase, items int, n int, x, y []float32) {
	for len(q.work) < parallel.Threads() {
		q.work = append(q.work, convRowsWork{})
	}
	q.task = convRowsTask{l: l, phase: phase, n: n, x: x, y: y}
	parallel.Run(items, ceilDiv(items, len(q.work)), &q.task)
	q.task = convRowsTask{}
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
	if err := checkPrecision(p); err != nil {
		return err
	}
	l.rows.ok = false
	g := &l.g
	r, o := g.rows(), l.OutC
	int8 := p == INT8 && int8Kernel() && convQ8Pays(r, o)
	if !int8 && !l.rowsFP32 {
		return nil
	}
	l.prepareRows(int8)
	l.rows.ok = true
	return nil
}

// prepareRows permutes the weights for the row path's product and
// quantises (int8) or packs them.
func (l *Conv2D) prepareRows(int8 bool) {
	g := &l.g
	r, o, c, kk := g.rows(), l.OutC, l.InC, l.K*l.K
	// wp [o, (t, c)] = W[o, c, t].
	wp := scratch(&l.rows.wp, o*r)
	w := l.Weight.W
	for oc := 0; oc < o; oc++ {
		for ci := 0; ci < c; ci++ {
			for t := 0; t < kk; t++ {
				wp[oc*r+t*c+ci] = w[(oc*c+ci)*kk+t]
			}
		}
	}
	l.rows.int8 = int8
	if int8 {
		l.rows.q.Quantize(true, r, o, wp, r)
	} else {
		l.rows.p.Pack(true, r, o, wp, r)
	}
	if l.rows.off == nil {
		l.rows.segW, l.rows.off = convRowSegs(g)
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
	l.rows.run(l, 0, n*ceilDiv(g.H, bh), n, x, y)
	l.rows.run(l, 1, ceilDiv(n*g.cols(), convRowsBlock), n, x, y)
}

func (l *Conv2D) rowsDo(t *convRowsTask, w, lo, hi int) {
	g := &l.g
	wk := &l.rows.work[w]
	c, hw, in := g.C, g.H*g.W, g.size()
	hp, wp := g.padDims()
	ps := hp * wp * c // a padded sample
	if t.phase == 0 {
		bh := ceilDiv(convRowsBandPixels, g.W)
		nb := ceilDiv(g.H, bh)
		for item := lo; item < hi; item++ {
			s, b := item/nb, item%nb
			h0, h1 := b*bh, min((b+1)*bh, g.H)
			src := t.x[s*in+h0*g.W:]
			xs := l.rows.xh[s*ps : (s+1)*ps]
			if g.P == 0 {
				f32.Transpose(xs[h0*g.W*c:], c, src, hw, c, (h1-h0)*g.W)
				continue
			}
			tmp := scratch(&wk.xh, (h1-h0)*g.W*c)
			f32.Transpose(tmp, c, src, hw, c, (h1-h0)*g.W)
			for ih := h0; ih < h1; ih++ {
				copy(xs[((ih+g.P)*wp+g.P)*c:((ih+g.P)*wp+g.P+g.W)*c], tmp[(ih-h0)*g.W*c:])
			}
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
			a = scratch(&wk.rows, m*r)
			for i := r0; i < r1; {
				s, p := i/np, i%np
				k := min(np-p, r1-i)
				f32.GatherRows(a[(i-r0)*r:], l.rows.xh[s*ps:(s+1)*ps], l.rows.off[p*segs:(p+k)*segs], sw)
				i += k
			}
		}
		out := scratch(&wk.out, m*o)
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
	if err := checkPrecision(p); err != nil {
		return err
	}
	l.rows.ok = false
	ci, o, kk := l.InC, l.OutC, l.K*l.K
	int8 := p == INT8 && int8Kernel() && convQ8Pays(ci, o*kk)
	if !int8 && !l.rowsFP32 {
		return nil
	}
	l.prepareRows(int8)
	l.rows.ok = true
	return nil
}

// prepareRows permutes the weights for the row path's product and
// quantises (int8) or packs them.
func (l *ConvTranspose2D) prepareRows(int8 bool) {
	ci, o, kk := l.InC, l.OutC, l.K*l.K
	// wp [ci, (t, o)] = W[ci, o, t].
	n := kk * o
	wp := scratch(&l.rows.wp, ci*n)
	w := l.Weight.W
	for c := 0; c < ci; c++ {
		for oc := 0; oc < o; oc++ {
			for t := 0; t < kk; t++ {
				wp[c*n+t*o+oc] = w[(c*o+oc)*kk+t]
			}
		}
	}
	l.rows.int8 = int8
	if int8 {
		l.rows.q.Quantize(false, ci, n, wp, n)
	} else {
		l.rows.p.Pack(false, ci, n, wp, n)
	}
	if l.rows.off == nil {
		l.rows.off = convTRowOffsets(&l.g, o)
	}
}

// forwardRows is the row-path forward pass, a group of samples per item (see
// convRowsGroup).
func (l *ConvTranspose2D) forwardRows(n int, x, y []float32) {
	l.rows.gs = convRowsGroup(n, l.g.cols())
	l.rows.run(l, 0, ceilDiv(n, l.rows.gs), n, x, y)
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
	wk := &l.rows.work[w]
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
		acc := scratch(&wk.acc, (s1-s0)*ohw*o)
		copy(acc, l.Bias.W)
		for i := o; i < len(acc); i *= 2 {
			copy(acc[i:], acc[:i])
		}
		for r0 := 0; r0 < rows; r0 += convRowsBlock {
			m := min(convRowsBlock, rows-r0)
			col := scratch(&wk.out, m*nc)
			l.rows.product(m, xh[r0*ci:], ci, nil, f32.ActNone, col, nc)
			for r := r0; r < r0+m; {
				s, p := r/np, r%np
				k := min(np-p, r0+m-r)
				f32.AddRows(acc[s*ohw*o:(s+1)*ohw*o], l.rows.off[p*kk:(p+k)*kk], col[(r-r0)*nc:], o)
				r += k
			}
		}
		if l.relu {
			f32.ReLU(acc, acc)
		}
		for s := s0; s < s1; s++ {
			f32.Transpose(t.y[s*o*ohw:], ohw, acc[(s-s0)*ohw*o:], o, ohw, o)
		}
	}
}
