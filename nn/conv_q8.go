package nn

import (
	"fmt"

	"github.com/bottleneck-ml/bottleneck/internal/f32"
	"github.com/bottleneck-ml/bottleneck/internal/parallel"
)

// # Int8 convolutions
//
// Under INT8 (PrepareInference), a Conv2D or ConvTranspose2D large enough
// for int8 to pay (convQ8Pays) runs its inference forward pass on
// f32.GemmQ8, the int8 product of Dense layers, with the image turned so
// that the GEMM's rows are pixels:
//
//   - Conv2D, im2row: the batch is turned to padded NHWC once
//     (f32.Transpose), then each output pixel's patch becomes one
//     contiguous row of C·K·K values ordered (ki, kj, c), so that a kernel
//     row's K taps are K·C consecutive floats of the image
//     (f32.GatherRows: K copies per row, no bounds to check: the padding
//     is in the image). GemmQ8 quantises each row with its own scale,
//     multiplies by the weights permuted to the same order and quantised
//     per output channel, adds the bias and applies a fused ReLU; the
//     [pixels, OutC] result is transposed back to NCHW. The rows are taken
//     in blocks of convQ8Rows over the whole batch, so small images share
//     a product and large ones are split.
//   - ConvTranspose2D: each input pixel's InC channels are a row (the
//     sample transposed to NHWC); GemmQ8 multiplies them by the weights as
//     [InC, (ki, kj, oc)], quantised per column, which gives every tap's
//     OutC contributions as consecutive floats; these are added to the
//     output pixels they land on, in NHWC (starting from the bias;
//     f32.AddRows), then a fused ReLU, and the sample is transposed to
//     NCHW.
//
// The results do not depend on the thread count (each output element is
// computed by one worker in a fixed order) nor on the CPU path (GemmQ8's
// assembly and Go twin give the same bits; the rest is copies and adds
// that f32 does the same way in Go and in assembly).

// convQ8Rows is the number of rows (output pixels) of one int8 product: a
// multiple of GemmQ8's 14 rows, chosen so that the float rows (convQ8Rows
// × C·K·K) stay in L2 between im2row and quantisation (BenchmarkConvInfer).
var convQ8Rows = 8 * 14

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

// convQ8 is a convolution's weights quantised for int8 inference and the
// scratch of its int8 passes.
type convQ8 struct {
	ok   bool
	q    f32.QuantB
	off  []int32      // per pixel and segment: its offset (convQ8Segs, convTQ8Offsets)
	segW int          // Conv2D: the width of a segment
	gs   int          // ConvTranspose2D: samples per work item (convQ8Group)
	xh   []float32    // Conv2D: the batch in padded NHWC
	work []convQ8Work // per worker
	task convQ8Task   // the pass in flight
}

// convQ8Work is one worker's scratch.
type convQ8Work struct{ rows, out, xh, acc []float32 }

// convQ8Pass is a convolution with an int8 forward pass.
type convQ8Pass interface {
	q8Do(t *convQ8Task, w, lo, hi int)
}

// convQ8Task is one phase of an int8 forward pass over a batch.
type convQ8Task struct {
	l     convQ8Pass
	phase int
	n     int
	x, y  []float32
}

func (t *convQ8Task) Do(w, lo, hi int) { t.l.q8Do(t, w, lo, hi) }

// run runs phase over [0, items) on the workers.
func (q *convQ8) run(l convQ8Pass, phase, items int, n int, x, y []float32) {
	for len(q.work) < parallel.Threads() {
		q.work = append(q.work, convQ8Work{})
	}
	q.task = convQ8Task{l: l, phase: phase, n: n, x: x, y: y}
	parallel.Run(items, ceilDiv(items, len(q.work)), &q.task)
	q.task = convQ8Task{}
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
// to pay (see the package comment on int8 convolutions); the float32 pass
// needs nothing prepared. Forward with train = false then runs in int8
// until the next training Forward or Backward; after writing to Weight.W
// otherwise, call it again.
func (l *Conv2D) PrepareInference(p Precision) error {
	if err := checkPrecision(p); err != nil {
		return err
	}
	l.q8.ok = false
	g := &l.g
	r, o, c, kk := g.rows(), l.OutC, l.InC, l.K*l.K
	if p != INT8 || !int8Kernel() || !convQ8Pays(r, o) {
		return nil
	}
	// wp [o, (t, c)] = W[o, c, t].
	wp := make([]float32, o*r)
	w := l.Weight.W
	for oc := 0; oc < o; oc++ {
		for ci := 0; ci < c; ci++ {
			for t := 0; t < kk; t++ {
				wp[oc*r+t*c+ci] = w[(oc*c+ci)*kk+t]
			}
		}
	}
	l.q8.q.Quantize(true, r, o, wp, r)
	l.q8.segW, l.q8.off = convQ8Segs(g)
	l.q8.ok = true
	return nil
}

// The int8 Conv2D reads its patches from the batch in padded NHWC: each
// sample [H+2P, W+2P, C] with zero borders (written once: the passes write
// only the interior), so that every patch is whole, and with dilation 1 a
// kernel row's K taps are K·C consecutive floats: im2row is one
// f32.GatherRows of K (dilation 1) or K·K rows per output pixel, with the
// offsets of convQ8Segs.

// padDims returns the padded image's height and width.
func (g *convGeom) padDims() (hp, wp int) { return g.H + 2*g.P, g.W + 2*g.P }

// convQ8Segs returns the segments of each output pixel's im2row row in the
// padded NHWC image of g (c channels): their width (K·C for dilation 1,
// else C), and per output pixel and segment the offset.
func convQ8Segs(g *convGeom) (w int, off []int32) {
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

// convQ8BandPixels is about how many pixels of an image the padding pass
// turns to NHWC per work item.
const convQ8BandPixels = 256

// forwardQ8 is the int8 forward pass: the batch to padded NHWC (phase 0,
// items of a band of rows of a sample), then blocks of convQ8Rows im2row
// rows (phase 1).
func (l *Conv2D) forwardQ8(n int, x, y []float32) {
	g := &l.g
	hp, wp := g.padDims()
	l.q8.xh = scratch(&l.q8.xh, n*hp*wp*g.C)
	bh := ceilDiv(convQ8BandPixels, g.W)
	l.q8.run(l, 0, n*ceilDiv(g.H, bh), n, x, y)
	l.q8.run(l, 1, ceilDiv(n*g.cols(), convQ8Rows), n, x, y)
}

func (l *Conv2D) q8Do(t *convQ8Task, w, lo, hi int) {
	g := &l.g
	wk := &l.q8.work[w]
	c, hw, in := g.C, g.H*g.W, g.size()
	hp, wp := g.padDims()
	ps := hp * wp * c // a padded sample
	if t.phase == 0 {
		bh := ceilDiv(convQ8BandPixels, g.W)
		nb := ceilDiv(g.H, bh)
		for item := lo; item < hi; item++ {
			s, b := item/nb, item%nb
			h0, h1 := b*bh, min((b+1)*bh, g.H)
			src := t.x[s*in+h0*g.W:]
			xs := l.q8.xh[s*ps : (s+1)*ps]
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
	sw := l.q8.segW
	segs := r / sw
	total := t.n * np
	for b := lo; b < hi; b++ {
		r0, r1 := b*convQ8Rows, min((b+1)*convQ8Rows, total)
		m := r1 - r0
		var a []float32
		if l.K == 1 && g.S == 1 && g.P == 0 {
			a = l.q8.xh[r0*c : r1*c] // pointwise: the NHWC pixels are the rows
		} else {
			a = scratch(&wk.rows, m*r)
			for i := r0; i < r1; {
				s, p := i/np, i%np
				k := min(np-p, r1-i)
				f32.GatherRows(a[(i-r0)*r:], l.q8.xh[s*ps:(s+1)*ps], l.q8.off[p*segs:(p+k)*segs], sw)
				i += k
			}
		}
		out := scratch(&wk.out, m*o)
		f32.GemmQ8(m, a, r, &l.q8.q, l.Bias.W, act, out, o)
		// Back to NCHW, one sample's run of pixels at a time.
		for i := r0; i < r1; {
			s, p := i/np, i%np
			k := min(np-p, r1-i)
			f32.Transpose(t.y[s*o*np+p:], np, out[(i-r0)*o:], o, k, o)
			i += k
		}
	}
}

// convTQ8Offsets returns, for each input pixel p of a transposed
// convolution (g its adjoint, whose input is the layer's output) and each
// tap t = ki·K+kj, where that tap lands in the NHWC output of c channels,
// (oh·W+ow)·c, or -1 where it falls in the padding: the taps' sum is then
// f32.AddRows of these.
func convTQ8Offsets(g *convGeom, c int) []int32 {
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
// to pay (see Conv2D.PrepareInference).
func (l *ConvTranspose2D) PrepareInference(p Precision) error {
	if err := checkPrecision(p); err != nil {
		return err
	}
	l.q8.ok = false
	ci, o, kk := l.InC, l.OutC, l.K*l.K
	if p != INT8 || !int8Kernel() || !convQ8Pays(ci, o*kk) {
		return nil
	}
	// wp [ci, (t, o)] = W[ci, o, t].
	n := kk * o
	wp := make([]float32, ci*n)
	w := l.Weight.W
	for c := 0; c < ci; c++ {
		for oc := 0; oc < o; oc++ {
			for t := 0; t < kk; t++ {
				wp[c*n+t*o+oc] = w[(c*o+oc)*kk+t]
			}
		}
	}
	l.q8.q.Quantize(false, ci, n, wp, n)
	l.q8.off = convTQ8Offsets(&l.g, o)
	l.q8.ok = true
	return nil
}

// forwardQ8 is the int8 forward pass, a group of samples per item (see
// convQ8Group).
func (l *ConvTranspose2D) forwardQ8(n int, x, y []float32) {
	l.q8.gs = convQ8Group(n, l.g.cols())
	l.q8.run(l, 0, ceilDiv(n, l.q8.gs), n, x, y)
}

// convQ8Group is the number of samples (of np pixels, n in the batch)
// whose rows go through the int8 products of one ConvTranspose2D work
// item: up to 4·convQ8Rows rows, so that small images do not each end on
// a partial panel, and at least 4 items per thread. The grouping does not
// change the result.
func convQ8Group(n, np int) int {
	return max(1, min(4*convQ8Rows/np, ceilDiv(n, 4*parallel.Threads())))
}

func (l *ConvTranspose2D) q8Do(t *convQ8Task, w, lo, hi int) {
	g := &l.g
	wk := &l.q8.work[w]
	ci, o, k, np, ohw := l.InC, l.OutC, l.K, g.cols(), g.H*g.W
	kk := k * k
	nc := kk * o
	gs := l.q8.gs
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
		for r0 := 0; r0 < rows; r0 += convQ8Rows {
			m := min(convQ8Rows, rows-r0)
			col := scratch(&wk.out, m*nc)
			f32.GemmQ8(m, xh[r0*ci:], ci, &l.q8.q, nil, f32.ActNone, col, nc)
			for r := r0; r < r0+m; {
				s, p := r/np, r%np
				k := min(np-p, r0+m-r)
				f32.AddRows(acc[s*ohw*o:(s+1)*ohw*o], l.q8.off[p*kk:(p+k)*kk], col[(r-r0)*nc:], o)
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
