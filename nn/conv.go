package nn

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/bottleneck-ml/bottleneck/internal/f32"
	"github.com/bottleneck-ml/bottleneck/internal/parallel"
	"github.com/bottleneck-ml/bottleneck/tensor"
)

// Convolutions run on f32.Gemm. A batch is cut into groups of consecutive
// samples, and the groups are shared out among the parallel workers; each
// worker has its own scratch, and the GEMMs it calls run on that worker
// alone (a parallel.Run inside another runs serially). One parallel region
// per layer pass, with the data movement (im2col, col2im, gathers) on all
// cores, is what makes small layers fast: conv-mnist's GEMMs are a few
// microseconds each, and a parallel region per GEMM cost more than the
// GEMM. The weight and bias gradients of each group go to a partial buffer
// of their own, summed in group order after the region, so results are
// bit-identical for any thread count (the grouping depends only on the
// batch and the layer).
//
// Each convolution uses one of four algorithms, chosen at Setup: the row
// path (conv_rows.go: the image in NHWC, the GEMM's rows pixels; a Conv2D
// with ≥ 16 channels in and out, a ConvTranspose2D on small images, see
// convRowsFP32), or one of these three:
//
//   - im2col: the C·k·k input patches of every output pixel become the
//     columns of a matrix col [C·k·k, OH·OW], and the layer is one GEMM
//     W [O, C·k·k] × col. Backward recomputes col (cheaper than keeping it:
//     srcnn's col would be 220 MB at batch 64) and needs two more GEMMs:
//     dW += dY·colᵀ and dcol = Wᵀ·dY, which col2im scatters back to dx.
//     When OH·OW is small (conv-mnist: 49 and 196) the samples of a group
//     share one GEMM over [C·k·k, group·OH·OW], bounded by convColBudget,
//     with dY gathered and Y scattered through a scratch matrix, and im2col
//     and col2im go through a table of input pixel indices (convIndex,
//     20% faster on conv-mnist's 32→64 and 64→32 layers than row
//     segments of 7; the table's gathers and scatter-adds are AVX-512
//     ones, f32.Gather and f32.ScatterAdd, which took conv-mnist inference
//     from 16.4 to 13.6–14.1 CPU-ms per batch of 128, and copying each row
//     through stride phases in Go instead was slower than the table);
//     otherwise (srcnn: 1089) each sample has its own GEMMs, reading dY
//     and writing Y in place.
//   - pointwise (1×1, stride 1, no padding): the same without im2col: the
//     input of each sample already is col.
//   - taps (stride 1, no dilation, fewer output than input channels: srcnn's
//     32→1 k5): im2col would make a [C·k·k, HW] matrix for a GEMM with O
//     rows, all memory traffic (3.5 MB per srcnn sample for 1.7 MFLOP).
//     Instead T = Wt [O·k·k, C] × x [C, HW] computes every kernel tap of
//     every input pixel, and each output pixel sums its k·k taps from T
//     (tapSum). Backward takes im2col of dY instead, which has O·k·k rows:
//     dx = Wf [C, O·k·k] × im2col(dY) and dW from x × im2col(dY)ᵀ, with Wt
//     and Wf the weights permuted (and flipped for dx). The FLOPs are the
//     same as im2col's; the matrices are C/O times smaller.
//
// The im2col algorithm of Conv2D appends a row of ones to col and the bias
// as a last column to W: the forward GEMM then adds the bias and writes Y
// without reading it, and the weight-gradient GEMM gives the bias gradient
// as its last row or column. ConvTranspose2D is the adjoint of a Conv2D and
// uses the row path or im2col.
//
// dW = dY·colᵀ has both operands with pixels contiguous, so one of them is
// packed by the GEMM with a transpose; the layers compute dW or dWᵀ,
// whichever dwTransposed picks: the operand whose rows fill the kernel's
// panels (a multiple of 16), else the one with fewer rows.
//
// convColBudget bounds the col of a batched group: the largest group whose
// col fits the budget, at least one sample, and at most n/convGroups
// samples. BenchmarkConv, forward + backward (no input gradient for a
// model's first layer), CPU ms per step (cpu-ms/op: the machine was shared,
// load 15–25 on 2 CPUs, and wall times moved 2–5× between runs), 2 threads,
// AMD EPYC, AVX-512 GEMM, range of 2–4 runs. Before: one GEMM after
// another, each its own parallel region, im2col and col2im on one core,
// every layer im2col; after: this file.
//
//	layer (batch)                          before      after
//	conv-mnist Conv 1→32 k3 s2 (128)       3.6–4.0     1.2–1.4
//	conv-mnist Conv 32→64 k3 s2 (128)      11.0        7.9–8.4
//	conv-mnist ConvT 64→32 k3 s2 (128)     9.8         6.3–7.2
//	conv-mnist ConvT 32→1 k3 s2 (128)      3.8–4.0     1.5–1.7
//	srcnn Conv 1→64 k9 (64)                36–37.5     12.5–12.7
//	srcnn Conv 64→32 k1 (64), pointwise    22.7–23.4   10.0–10.6
//	srcnn Conv 32→1 k5 (64), taps          118–122     5.8–6.4
//
// (srcnn conv2's gain is partly the f32 packing work done meanwhile.) The
// budget hardly matters any more: on conv-mnist, 64K to 1M floats and the
// whole batch are within the noise (±10%), one sample per GEMM is 15–30%
// slower.
var convColBudget = 1 << 19

// convGroups is the least number of groups a batch is cut into (when it
// has that many samples), so that the workers get near-equal shares; a
// multiple of 2 and 4 threads.
const convGroups = 8

// convRowsFP32 lets float32 passes, forward and backward, take the row
// path (conv_rows.go) where it is faster than im2col and col2im: a Conv2D on the
// im2col algorithm and a ConvTranspose2D on images under convBatchCols
// pixels, each with at least 16 input and output channels.
// BenchmarkConvInfer, 2 threads, ms per batch, rows against cols:
// conv-mnist conv2 1.7–2.2 against 2.3–3.3, convT1 1.6–2.1 against 2.4–3.9,
// the shipped denoisers' and upscalers' 64→64 k3 on a 128×128 tile
// 6.8–7.6 against 15.4–16.9. Pointwise (srcnn conv2 4.0–4.7 against
// 3.1–5.0) and 4 input channels (0.84–1.03 against 0.77–0.91) are not faster;
// a ConvTranspose2D's row path gives each worker whole samples, so a
// large image would run on one core. Forward and backward (BenchmarkConv):
// conv2 5.6–6.1 against 6.6–7.8, convT1 4.9–6.1 against 6.7–7.9, the
// 64→64 on 16 patches of 48×48 42–56 against 70.
var convRowsFP32 = true

// convRowsEvery makes every convolution set up afterwards take the row
// path in float32 (tests: the path on every geometry).
var convRowsEvery = false

// convBatchCols is the number of output pixels from which a sample gets
// GEMMs of its own rather than sharing a batched one.
var convBatchCols = 256

// convPlan cuts a batch of n into ng groups of gs samples (the last may be
// shorter). batched: the samples of a group share one GEMM.
type convPlan struct {
	n, gs, ng int
	batched   bool
}

// planConv plans a batch of n whose samples have np output pixels and a
// col of perSample elements.
func planConv(n, np, perSample int) convPlan {
	p := convPlan{n: n, batched: np < convBatchCols}
	if n <= 0 {
		p.gs = 1 // an empty batch: no groups
		return p
	}
	gs := n
	if p.batched {
		gs = min(n, max(1, convColBudget/max(1, perSample)))
	}
	ng := ceilDiv(n, gs)
	ng = min(n, ceilDiv(ng, convGroups)*convGroups)
	p.gs = ceilDiv(n, ng)
	p.ng = ceilDiv(n, p.gs)
	return p
}

// span returns the samples [s0, s1) of group grp.
func (p *convPlan) span(grp int) (s0, s1 int) {
	s0 = grp * p.gs
	return s0, min(s0+p.gs, p.n)
}

// dwTransposed chooses the orientation of a weight-gradient product whose
// two pixel-contiguous operands have a and b rows: true transposes the
// a-row operand (the product is [b, a]), false the b-row one. The
// transposed operand is the GEMM's B: its full panels (a multiple of 16
// rows) are packed by the 16×16 register transpose and fill the kernel's
// 32 columns, a narrower one is copied element by element into zero-padded
// panels. So a multiple of 16 is transposed when only one is (conv-mnist's
// first and last layers, 32 against 10 and 9 rows; srcnn's last, 32
// against 25); otherwise the operand with fewer rows, which packs less.
// Before, the fewer rows always: BenchmarkConv forward + backward, CPU ms
// at 2 threads, conv-mnist conv1 3.3–3.7 → 2.1–2.4, srcnn conv3 13.5–15.4
// → 11.9–12.9; a training step at 1 thread (medians of 5 alternating runs)
// conv-mnist 39.1 → 35.7 ms, srcnn 67.1 → 56.4.
func dwTransposed(a, b int) bool {
	if (a%16 == 0) != (b%16 == 0) {
		return a%16 == 0
	}
	return a < b
}

// convWork is one worker's scratch, shared by a layer's passes: col (a
// block of im2col or im2row rows), tmp (a product's output), xp (a padded
// image, or a band of one), and on the row path xh and yh, a group's input
// and output side in NHWC.
type convWork struct{ col, tmp, xp, xh, yh []float32 }

// convState is what Conv2D and ConvTranspose2D share: per-worker scratch and
// per-group partial gradients.
type convState struct {
	work     []convWork
	part     []float32   // ng × partLen: weight gradient (maybe transposed), then bias
	ones     []float32   // one per output pixel, for biasSum
	idx      []f32.Index // convIndex of the layer's geometry
	task     convTask    // the pass in flight, kept here so running it allocates nothing
	dyMasked []float32   // the gradient masked by a fused ReLU (maskGrad)
	rows     convRows    // the row path (conv_rows.go)
}

// groupConv is a convolution whose passes run group by group.
type groupConv interface {
	forwardGroup(t *convTask, w, grp int)
	backwardGroup(t *convTask, w, grp int)
}

// convTask is one pass of a Conv2D or ConvTranspose2D over a batch.
type convTask struct {
	l            groupConv
	p            convPlan
	backward     bool
	x, y, dy, dx []float32
	// With a fused ReLU, backward reads dy from dyIn masked by the
	// layer's rectified output y, group by group (see maskGrad).
	dyIn []float32
}

func (t *convTask) Do(w, lo, hi int) {
	for grp := lo; grp < hi; grp++ {
		if t.backward {
			if t.dyIn != nil {
				s0, s1 := t.p.span(grp)
				per := len(t.dyIn) / t.p.n
				f32.ReLUBackward(t.dy[s0*per:s1*per], t.dyIn[s0*per:s1*per], t.y[s0*per:s1*per])
			}
			t.l.backwardGroup(t, w, grp)
		} else {
			t.l.forwardGroup(t, w, grp)
		}
	}
}

// run runs t over its groups on the workers.
func (st *convState) run(t convTask) {
	if t.p.ng == 0 {
		return
	}
	st.workers()
	st.task = t
	parallel.Run(t.p.ng, ceilDiv(t.p.ng, len(st.work)), &st.task)
	st.task = convTask{}
}

// workers makes sure there is scratch for every worker of a parallel.Run;
// callers pass a grain that keeps the chunks within len(st.work), should
// the thread count change meanwhile.
func (st *convState) workers() {
	for len(st.work) < parallel.Threads() {
		st.work = append(st.work, convWork{})
	}
}

// partial returns group grp's partial gradients: weights (nw) and bias.
func (st *convState) partial(grp, nw, nb int) (pw, pb []float32) {
	p := st.part[grp*(nw+nb) : (grp+1)*(nw+nb)]
	return p[:nw], p[nw:]
}

// reduce sums the partial gradients of ng groups, in group order, into the
// first group's, and adds the bias part to db.
func (st *convState) reduce(ng, nw int, db []float32) []float32 {
	nb := len(db)
	stride := nw + nb
	acc := st.part[:stride]
	for grp := 1; grp < ng; grp++ {
		p := st.part[grp*stride : (grp+1)*stride]
		for i, v := range p {
			acc[i] += v
		}
	}
	for o, v := range acc[nw:] {
		db[o] += v
	}
	return acc[:nw]
}

// addTransposed adds aᵀ to b, with a [rows, cols] and b [cols, rows].
func addTransposed(b, a []float32, rows, cols int) {
	for i := 0; i < rows; i++ {
		for j, v := range a[i*cols : (i+1)*cols] {
			b[j*rows+i] += v
		}
	}
}

// biasSum sets pb[o] to the sum of dy[s, o, :] over the samples [s0, s1) of
// dy [n, len(pb), np]: each row is summed by f32.Dot with ones (len np,
// all 1: vectorised, where a float64 loop is one dependent add per
// element), the rows in float64.
func biasSum(pb, dy []float32, s0, s1, np int, ones []float32) {
	ch := len(pb)
	for o := range pb {
		var sum float64
		for s := s0; s < s1; s++ {
			sum += float64(f32.Dot(dy[(s*ch+o)*np:(s*ch+o+1)*np], ones))
		}
		pb[o] = float32(sum)
	}
}

// makeOnes returns n ones.
func makeOnes(n int) []float32 {
	ones := make([]float32, n)
	for i := range ones {
		ones[i] = 1
	}
	return ones
}

// tapSum is the second half of a taps forward: y [O, OH, OW] = b + the sum,
// for each output pixel, of its k·k kernel taps in t [O·k·k, H·W], tap
// (o, ki, kj) of input pixel (ih, iw) contributing to output pixel
// (ih+P-ki, iw+P-kj). Stride 1, dilation 1.
func tapSum(g *convGeom, t, y, b []float32) {
	hw, np := g.H*g.W, g.cols()
	fillBias(y, b, np)
	for o := range b {
		yo := y[o*np : (o+1)*np]
		for ki := 0; ki < g.K; ki++ {
			for kj := 0; kj < g.K; kj++ {
				r := (o*g.K+ki)*g.K + kj
				trow := t[r*hw : (r+1)*hw]
				lo, hi := g.span(kj)
				if lo == hi {
					continue
				}
				for oh := 0; oh < g.OH; oh++ {
					ih := oh - g.P + ki
					if ih < 0 || ih >= g.H {
						continue
					}
					iw := ih*g.W + lo - g.P + kj
					// dst += src, vectorised: Axpy with α = 1 adds
					// exactly (x·1 is x), the bits of the plain loop,
					// which Go leaves scalar (a third of srcnn conv3).
					f32.Axpy(1, trow[iw:iw+hi-lo], yo[oh*g.OW+lo:oh*g.OW+hi])
				}
			}
		}
	}
}

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
	C, H, W, K, S, P, D, OH, OW := g.C, g.H, g.W, g.K, g.S, g.P, g.D, g.OH, g.OW
	hw, np := H*W, OH*OW
	for c := 0; c < C; c++ {
		xc := x[c*hw : (c+1)*hw]
		for ki := 0; ki < K; ki++ {
			for kj := 0; kj < K; kj++ {
				r := (c*K+ki)*K + kj
				row := col[r*ld+off : r*ld+off+np]
				lo, hi := g.span(kj * D)
				iw0 := lo*S - P + kj*D
				for oh := 0; oh < OH; oh++ {
					dst := row[oh*OW : (oh+1)*OW]
					ih := oh*S - P + ki*D
					if ih < 0 || ih >= H || lo == hi {
						for i := range dst {
							dst[i] = 0
						}
						continue
					}
					for i := 0; i < lo; i++ {
						dst[i] = 0
					}
					for i := hi; i < len(dst); i++ {
						dst[i] = 0
					}
					src := xc[ih*W+iw0:]
					d := dst[lo:hi]
					switch {
					case S == 1 && len(d) >= 16:
						copy(d, src)
					case S == 1:
						src = src[:len(d)]
						for i := range d {
							d[i] = src[i]
						}
					default:
						src = src[:(len(d)-1)*S+1]
						for i := range d {
							d[i] = src[i*S]
						}
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
	C, H, W, K, S, P, D, OH, OW := g.C, g.H, g.W, g.K, g.S, g.P, g.D, g.OH, g.OW
	hw, np := H*W, OH*OW
	for c := 0; c < C; c++ {
		xc := x[c*hw : (c+1)*hw]
		for ki := 0; ki < K; ki++ {
			for kj := 0; kj < K; kj++ {
				r := (c*K+ki)*K + kj
				row := col[r*ld+off : r*ld+off+np]
				lo, hi := g.span(kj * D)
				if lo == hi {
					continue
				}
				iw0 := lo*S - P + kj*D
				for oh := 0; oh < OH; oh++ {
					ih := oh*S - P + ki*D
					if ih < 0 || ih >= H {
						continue
					}
					src := row[oh*OW+lo : oh*OW+hi]
					dst := xc[ih*W+iw0:]
					if S == 1 {
						dst = dst[:len(src)]
						for i, v := range src {
							dst[i] += v
						}
						continue
					}
					dst = dst[:(len(src)-1)*S+1]
					for i, v := range src {
						dst[i*S] += v
					}
				}
			}
		}
	}
}

// convIndex returns, for each kernel tap t = ki·K+kj, the table of the
// input pixel ih·W+iw that im2col reads for row (c, t) at each output
// pixel p, or one of the 16 slots after the image, H·W + p%16, where that
// falls in the padding (distinct within every block of 16 of a row, as
// f32.ScatterAdd needs). It is nil when the output has convBatchCols pixels
// or more (only batched groups use it).
func convIndex(g *convGeom) []f32.Index {
	kk, np, hw := g.K*g.K, g.cols(), g.H*g.W
	if np >= convBatchCols {
		return nil
	}
	idx := make([]f32.Index, kk)
	for ki := 0; ki < g.K; ki++ {
		for kj := 0; kj < g.K; kj++ {
			row := make([]int32, np)
			for oh := 0; oh < g.OH; oh++ {
				for ow := 0; ow < g.OW; ow++ {
					p := oh*g.OW + ow
					ih, iw := oh*g.S-g.P+ki*g.D, ow*g.S-g.P+kj*g.D
					v := hw + p%16
					if ih >= 0 && ih < g.H && iw >= 0 && iw < g.W {
						v = ih*g.W + iw
					}
					row[p] = int32(v)
				}
			}
			idx[ki*g.K+kj] = *f32.NewIndex(row)
		}
	}
	return idx
}

// convPadSlots is the room after an image in the scratch of im2colIdx and
// col2imIdx (H·W + convPadSlots floats): the padding slots of convIndex.
const convPadSlots = 16

// im2colIdx is im2col through the index tables of convIndex: each channel
// is copied to xp [H·W+16] with zeros after it, and every row of col is a
// gather from xp (f32.Gather: AVX-512 gathers). On small images
// (conv-mnist: 7×7 outputs, stride 2) it has none of im2col's
// per-row-segment work.
func im2colIdx(g *convGeom, idx []f32.Index, x, col []float32, ld, off int, xp []float32) {
	hw, np, kk := g.H*g.W, g.cols(), g.K*g.K
	xp = xp[:hw+convPadSlots]
	clear(xp[hw:])
	for c := 0; c < g.C; c++ {
		copy(xp[:hw], x[c*hw:(c+1)*hw])
		for t := 0; t < kk; t++ {
			r := c*kk + t
			f32.Gather(col[r*ld+off:r*ld+off+np], xp, &idx[t])
		}
	}
}

// col2imIdx is col2im through the index tables of convIndex, accumulating
// each channel in xp [H·W+16] (f32.ScatterAdd, in tap order: the bits of
// the sequential loop; the slots after the image take the padding).
func col2imIdx(g *convGeom, idx []f32.Index, col []float32, ld, off int, x, xp []float32) {
	hw, np, kk := g.H*g.W, g.cols(), g.K*g.K
	xp = xp[:hw+convPadSlots]
	for c := 0; c < g.C; c++ {
		clear(xp)
		for t := 0; t < kk; t++ {
			r := c*kk + t
			f32.ScatterAdd(xp, col[r*ld+off:r*ld+off+np], &idx[t])
		}
		// dst += xp, vectorised (alpha 1: x·1 is exact, so the bits of +)
		f32.Axpy(1, xp[:hw], x[c*hw:(c+1)*hw])
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
		if len(row) == 0 {
			continue
		}
		// Doubling copies: memmove is vectorised, a store loop is not.
		row[0] = v
		for i := 1; i < len(row); i *= 2 {
			copy(row[i:], row[:i])
		}
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

// Conv2D algorithms (see the package comment above convColBudget).
const (
	convIm2col = iota
	convPointwise
	convTaps
)

// convTapsOff disables the taps algorithm (tests compare it with im2col).
var convTapsOff = false

// Conv2D is a 2-D convolution over NCHW batches with weight
// [OutC, InC, K, K] and bias [OutC], the layout of PyTorch's nn.Conv2d.
type Conv2D struct {
	InC, OutC, K, Stride, Pad, Dilation int
	Weight                              *Param // [OutC, InC, K, K]
	Bias                                *Param // [OutC]

	g                 convGeom
	dg                convGeom // taps: the im2col of dY
	algo              int
	dwT               bool // the partial weight gradient is dWᵀ [C·k·k, O] (taps: [O·k·k, C])
	inShape, outShape []int
	skipDX            bool
	relu              bool // fused: rectify each group's output while it is in cache (see fuseReLU)
	x                 *tensor.Tensor
	out, dx           *tensor.Tensor
	wt                []float32 // taps: permuted weights
	rowsFP32          bool      // float32 passes take the row path (conv_rows.go)
	convState
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
	switch {
	case l.K == 1 && l.Stride == 1 && l.Pad == 0:
		l.algo = convPointwise
	case !convTapsOff && l.K > 1 && l.Stride == 1 && l.Dilation == 1 && l.Pad < l.K && l.OutC < l.InC:
		l.algo = convTaps
		l.dg = convGeom{C: l.OutC, H: oh, W: ow, K: l.K, S: 1, P: l.K - 1 - l.Pad, D: 1, OH: in[1], OW: in[2]}
	default:
		l.algo = convIm2col
	}
	if l.algo == convTaps {
		l.dwT = dwTransposed(l.InC, l.OutC*l.K*l.K)
	} else {
		l.dwT = dwTransposed(l.OutC, l.g.rows()+1)
	}
	l.ones = makeOnes(oh * ow)
	l.idx = convIndex(&l.g)
	l.rows.off = nil
	l.rowsFP32 = convRowsFP32 && (convRowsEvery || l.algo == convIm2col && l.InC >= 16 && l.OutC >= 16)
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

// plan returns the grouping of a batch of n.
func (l *Conv2D) plan(n int) convPlan {
	g := &l.g
	if l.algo == convTaps {
		return planConv(n, convBatchCols, 0)
	}
	return planConv(n, g.cols(), g.rows()*g.cols())
}

// Forward: x [N, InC, H, W] → y [N, OutC, OH, OW].
func (l *Conv2D) Forward(x *tensor.Tensor, train bool) *tensor.Tensor {
	g := &l.g
	checkBatch("Conv2D", x, g.size(), l.inShape)
	n := x.Rows()
	l.x = x
	y := buffer(&l.out, n, l.outShape)
	if train {
		l.rows.ok = false
	}
	if !l.rows.ok && l.rowsFP32 {
		l.prepareRows(false)
	}
	if l.rows.ok || l.rowsFP32 {
		l.forwardRows(n, x.Data, y.Data)
		return y
	}
	if l.algo == convTaps {
		// wt [(o, ki, kj), c] = W[o, c, ki, kj].
		tapsLast(scratch(&l.wt, len(l.Weight.W)), l.Weight.W, l.OutC, l.InC, l.K*l.K)
	}
	if l.algo == convIm2col {
		// wb [o, r+1] = [W | b].
		r := g.rows()
		wb := scratch(&l.wt, l.OutC*(r+1))
		for oc := 0; oc < l.OutC; oc++ {
			copy(wb[oc*(r+1):oc*(r+1)+r], l.Weight.W[oc*r:(oc+1)*r])
			wb[oc*(r+1)+r] = l.Bias.W[oc]
		}
	}
	l.run(convTask{l: l, p: l.plan(n), x: x.Data, y: y.Data})
	return y
}

func (l *Conv2D) forwardGroup(t *convTask, w, grp int) {
	g := &l.g
	s0, s1 := t.p.span(grp)
	wk := &l.work[w]
	o, r, np, in, hw := l.OutC, g.rows(), g.cols(), g.size(), g.H*g.W
	wts, b := l.Weight.W, l.Bias.W
	switch {
	case l.algo == convTaps:
		rt := o * l.K * l.K
		tt := scratch(&wk.col, rt*hw)
		for s := s0; s < s1; s++ {
			f32.Gemm(false, false, rt, hw, g.C, 1, l.wt, g.C, t.x[s*in:(s+1)*in], hw, 0, tt, hw)
			tapSum(g, tt, t.y[s*o*np:(s+1)*o*np], b)
		}
	case l.algo == convIm2col:
		// col has a row of ones, and wb the bias as its last column: the
		// GEMM adds the bias and writes Y without reading it.
		k := s1 - s0
		ld := np
		if t.p.batched {
			ld = k * np
		}
		col := scratch(&wk.col, (r+1)*ld)
		fillOnes(col[r*ld : (r+1)*ld])
		for s := s0; s < s1; s++ {
			if !t.p.batched {
				im2col(g, t.x[s*in:(s+1)*in], col, np, 0)
				f32.Gemm(false, false, o, np, r+1, 1, l.wt, r+1, col, np, 0, t.y[s*o*np:(s+1)*o*np], np)
				continue
			}
			im2colIdx(g, l.idx, t.x[s*in:(s+1)*in], col, ld, (s-s0)*np, scratch(&wk.xp, g.H*g.W+convPadSlots))
		}
		if t.p.batched {
			tmp := scratch(&wk.tmp, o*ld)
			f32.Gemm(false, false, o, ld, r+1, 1, l.wt, r+1, col, ld, 0, tmp, ld)
			scatter(t.y[s0*o*np:s1*o*np], tmp, o, np, k)
		}
	case !t.p.batched:
		for s := s0; s < s1; s++ {
			ys := t.y[s*o*np : (s+1)*o*np]
			fillBias(ys, b, np)
			f32.Gemm(false, false, o, np, r, 1, wts, r, t.x[s*in:(s+1)*in], np, 1, ys, np)
		}
	default:
		k := s1 - s0
		ld := k * np
		col := scratch(&wk.col, r*ld)
		gather(col, t.x[s0*in:s1*in], r, np, k)
		tmp := scratch(&wk.tmp, o*ld)
		fillBias(tmp, b, ld)
		f32.Gemm(false, false, o, ld, r, 1, wts, r, col, ld, 1, tmp, ld)
		scatter(t.y[s0*o*np:s1*o*np], tmp, o, np, k)
	}
	if l.relu {
		ys := t.y[s0*o*np : s1*o*np]
		f32.ReLU(ys, ys)
	}
}

// emptyDX is a convolution's Backward of an empty batch: no gradient to
// add, and an empty input gradient in dx (nil when the layer skips it).
func emptyDX(skip bool, dx **tensor.Tensor, shape []int) *tensor.Tensor {
	if skip {
		return nil
	}
	return buffer(dx, 0, shape)
}

// fillOnes sets x to ones.
func fillOnes(x []float32) {
	if len(x) == 0 {
		return
	}
	x[0] = 1
	for i := 1; i < len(x); i *= 2 {
		copy(x[i:], x[:i])
	}
}

// Backward: dW += dY·colᵀ, db += Σ dY, dx = col2im(Wᵀ·dY).
func (l *Conv2D) Backward(dy *tensor.Tensor) *tensor.Tensor {
	l.rows.ok = false
	g := &l.g
	n := dy.Rows()
	if n == 0 {
		return emptyDX(l.skipDX, &l.dx, l.inShape)
	}
	o, c, kk := l.OutC, l.InC, l.K*l.K
	var dx *tensor.Tensor
	t := convTask{l: l, p: l.plan(n), backward: true, x: l.x.Data, dy: dy.Data}
	l.maskGrad(&t, l.relu, dy, l.out)
	if !l.skipDX {
		dx = buffer(&l.dx, n, l.inShape)
		t.dx = dx.Data
	}
	nw := o * c * kk
	scratch(&l.part, t.p.ng*(nw+o))
	if l.rowsFP32 {
		l.backwardRows()
		l.run(t)
		l.addRowsGrad(l.reduce(t.p.ng, nw, l.Bias.G))
		return dx
	}
	if l.algo == convTaps && dx != nil {
		// wt [c, (o, ki', kj')] = W[o, c, K-1-ki', K-1-kj'].
		wt := scratch(&l.wt, nw)
		w := l.Weight.W
		for oc := 0; oc < o; oc++ {
			for ci := 0; ci < c; ci++ {
				for tp := 0; tp < kk; tp++ {
					wt[ci*o*kk+oc*kk+tp] = w[(oc*c+ci)*kk+kk-1-tp]
				}
			}
		}
	}
	l.run(t)
	gw, gb := l.Weight.G, l.Bias.G
	if l.algo == convIm2col {
		// The bias gradient is the ones row's: acc is [r+1, o] (dwT) or [o, r+1].
		r := g.rows()
		acc := l.reduce(t.p.ng, o*(r+1), nil)
		for oc := 0; oc < o; oc++ {
			dst := gw[oc*r : (oc+1)*r]
			if l.dwT {
				for i := range dst {
					dst[i] += acc[i*o+oc]
				}
				gb[oc] += acc[r*o+oc]
				continue
			}
			for i, v := range acc[oc*(r+1) : oc*(r+1)+r] {
				dst[i] += v
			}
			gb[oc] += acc[oc*(r+1)+r]
		}
		return dx
	}
	acc := l.reduce(t.p.ng, nw, gb)
	switch {
	case l.algo == convTaps:
		// acc is G [c, (o, ki', kj')] or its transpose; dW[o, c, t] = G[c, (o, kk-1-t)].
		for oc := 0; oc < o; oc++ {
			for ci := 0; ci < c; ci++ {
				dst := gw[(oc*c+ci)*kk : (oc*c+ci+1)*kk]
				for tp := range dst {
					j := oc*kk + kk - 1 - tp
					if l.dwT {
						dst[tp] += acc[j*c+ci]
					} else {
						dst[tp] += acc[ci*o*kk+j]
					}
				}
			}
		}
	case l.dwT:
		addTransposed(gw, acc, g.rows(), o)
	default:
		for i, v := range acc {
			gw[i] += v
		}
	}
	return dx
}

func (l *Conv2D) backwardGroup(t *convTask, w, grp int) {
	g := &l.g
	s0, s1 := t.p.span(grp)
	wk := &l.work[w]
	o, r, np, in, hw := l.OutC, g.rows(), g.cols(), g.size(), g.H*g.W
	wts := l.Weight.W
	if l.rowsFP32 {
		l.backwardRowsGroup(t, wk, grp)
		return
	}
	if l.algo == convIm2col {
		l.backwardIm2col(t, wk, grp)
		return
	}
	pw, pb := l.partial(grp, o*r, o)
	biasSum(pb, t.dy, s0, s1, np, l.ones)
	switch {
	case l.algo == convTaps:
		rt := o * l.K * l.K
		dcol := scratch(&wk.col, rt*hw)
		for s := s0; s < s1; s++ {
			im2col(&l.dg, t.dy[s*o*np:(s+1)*o*np], dcol, hw, 0)
			xs := t.x[s*in : (s+1)*in]
			beta := float32(min(1, s-s0))
			if l.dwT {
				f32.Gemm(false, true, rt, g.C, hw, 1, dcol, hw, xs, hw, beta, pw, g.C)
			} else {
				f32.Gemm(false, true, g.C, rt, hw, 1, xs, hw, dcol, hw, beta, pw, rt)
			}
			if t.dx != nil {
				f32.Gemm(false, false, g.C, hw, rt, 1, l.wt, rt, dcol, hw, 0, t.dx[s*in:(s+1)*in], hw)
			}
		}
	case !t.p.batched:
		for s := s0; s < s1; s++ {
			col := t.x[s*in : (s+1)*in]
			dys := t.dy[s*o*np : (s+1)*o*np]
			beta := float32(min(1, s-s0))
			if l.dwT {
				f32.Gemm(false, true, r, o, np, 1, col, np, dys, np, beta, pw, o)
			} else {
				f32.Gemm(false, true, o, r, np, 1, dys, np, col, np, beta, pw, r)
			}
			if t.dx == nil {
				continue
			}
			f32.Gemm(true, false, r, np, o, 1, wts, r, dys, np, 0, t.dx[s*in:(s+1)*in], np)
		}
	default:
		k := s1 - s0
		ld := k * np
		col := scratch(&wk.col, r*ld)
		gather(col, t.x[s0*in:s1*in], r, np, k)
		dyg := scratch(&wk.tmp, o*ld)
		gather(dyg, t.dy[s0*o*np:s1*o*np], o, np, k)
		if l.dwT {
			f32.Gemm(false, true, r, o, ld, 1, col, ld, dyg, ld, 0, pw, o)
		} else {
			f32.Gemm(false, true, o, r, ld, 1, dyg, ld, col, ld, 0, pw, r)
		}
		if t.dx == nil {
			return
		}
		// col is spent: reuse it for dx.
		f32.Gemm(true, false, r, ld, o, 1, wts, r, dyg, ld, 0, col, ld)
		scatter(t.dx[s0*in:s1*in], col, r, np, k)
	}
}

// backwardIm2col is backwardGroup for the im2col algorithm. col has a row
// of ones, so the weight gradient GEMM gives the bias gradient as its last
// row (dWᵀ) or column.
func (l *Conv2D) backwardIm2col(t *convTask, wk *convWork, grp int) {
	g := &l.g
	s0, s1 := t.p.span(grp)
	o, r, np, in := l.OutC, g.rows(), g.cols(), g.size()
	r1 := r + 1
	pw := l.part[grp*o*r1 : (grp+1)*o*r1]
	wts := l.Weight.W
	k := s1 - s0
	ld := np
	if t.p.batched {
		ld = k * np
	}
	col := scratch(&wk.col, r1*ld)
	fillOnes(col[r*ld : r1*ld]) // dcol below overwrites rows < r only
	dwGemm := func(dyg []float32, ld int, beta float32) {
		if l.dwT {
			f32.Gemm(false, true, r1, o, ld, 1, col, ld, dyg, ld, beta, pw, o)
		} else {
			f32.Gemm(false, true, o, r1, ld, 1, dyg, ld, col, ld, beta, pw, r1)
		}
	}
	if !t.p.batched {
		for s := s0; s < s1; s++ {
			im2col(g, t.x[s*in:(s+1)*in], col, np, 0)
			dys := t.dy[s*o*np : (s+1)*o*np]
			dwGemm(dys, np, float32(min(1, s-s0)))
			if t.dx == nil {
				continue
			}
			dxs := t.dx[s*in : (s+1)*in]
			f32.Gemm(true, false, r, np, o, 1, wts, r, dys, np, 0, col, np)
			clear(dxs)
			col2im(g, col, np, 0, dxs)
		}
		return
	}
	xp := scratch(&wk.xp, g.H*g.W+convPadSlots)
	for s := s0; s < s1; s++ {
		im2colIdx(g, l.idx, t.x[s*in:(s+1)*in], col, ld, (s-s0)*np, xp)
	}
	dyg := scratch(&wk.tmp, o*ld)
	gather(dyg, t.dy[s0*o*np:s1*o*np], o, np, k)
	dwGemm(dyg, ld, 0)
	if t.dx == nil {
		return
	}
	// col is spent: reuse it for dcol.
	f32.Gemm(true, false, r, ld, o, 1, wts, r, dyg, ld, 0, col, ld)
	for s := 0; s < k; s++ {
		dxs := t.dx[(s0+s)*in : (s0+s+1)*in]
		clear(dxs)
		col2imIdx(g, l.idx, col, ld, s*np, dxs, xp)
	}
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
	dwT               bool     // the partial weight gradient is dWᵀ [OutC·K·K, InC]
	inShape, outShape []int
	skipDX            bool
	relu              bool // fused: rectify each group's output (see fuseReLU)
	rowsFP32          bool // float32 passes take the row path (conv_rows.go)
	x                 *tensor.Tensor
	out, dx           *tensor.Tensor
	convState
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
	l.dwT = dwTransposed(l.InC, l.g.rows())
	l.ones = makeOnes(oh * ow)
	l.idx = convIndex(&l.g)
	l.rows.off = nil
	l.rowsFP32 = convRowsFP32 && (convRowsEvery || in[1]*in[2] < convBatchCols && l.InC >= 16 && l.OutC >= 16)
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
func (l *ConvTranspose2D) Forward(x *tensor.Tensor, train bool) *tensor.Tensor {
	g := &l.g
	checkBatch("ConvTranspose2D", x, l.InC*g.cols(), l.inShape)
	n := x.Rows()
	l.x = x
	y := buffer(&l.out, n, l.outShape)
	if train {
		l.rows.ok = false
	}
	if !l.rows.ok && l.rowsFP32 {
		l.prepareRows(false)
	}
	if l.rows.ok || l.rowsFP32 {
		l.forwardRows(n, x.Data, y.Data)
		return y
	}
	l.run(convTask{l: l, p: planConv(n, g.cols(), g.rows()*g.cols()), x: x.Data, y: y.Data})
	return y
}

func (l *ConvTranspose2D) forwardGroup(t *convTask, w, grp int) {
	g := &l.g
	s0, s1 := t.p.span(grp)
	wk := &l.work[w]
	ci, r, np, out := l.InC, g.rows(), g.cols(), g.size()
	wts, b := l.Weight.W, l.Bias.W
	k := s1 - s0
	ld := np
	xg := t.x[s0*ci*np : s1*ci*np]
	if t.p.batched {
		ld = k * np
		if k > 1 {
			tmp := scratch(&wk.tmp, ci*ld)
			gather(tmp, xg, ci, np, k)
			xg = tmp
		}
	}
	col := scratch(&wk.col, r*ld)
	for s := s0; s < s1; s++ {
		off := (s - s0) * np
		if !t.p.batched {
			off = 0
			f32.Gemm(true, false, r, np, ci, 1, wts, r, t.x[s*ci*np:(s+1)*ci*np], np, 0, col, np)
		} else if s == s0 {
			f32.Gemm(true, false, r, ld, ci, 1, wts, r, xg, ld, 0, col, ld)
		}
		ys := t.y[s*out : (s+1)*out]
		fillBias(ys, b, g.H*g.W)
		if t.p.batched {
			col2imIdx(g, l.idx, col, ld, off, ys, scratch(&wk.xp, g.H*g.W+convPadSlots))
		} else {
			col2im(g, col, ld, off, ys)
		}
		if l.relu {
			f32.ReLU(ys, ys)
		}
	}
}

// Backward: dcol = im2col(dY), dW += x·dcolᵀ, db += Σ dY, dx = W·dcol.
func (l *ConvTranspose2D) Backward(dy *tensor.Tensor) *tensor.Tensor {
	l.rows.ok = false
	g := &l.g
	n := dy.Rows()
	if n == 0 {
		return emptyDX(l.skipDX, &l.dx, l.inShape)
	}
	var dx *tensor.Tensor
	t := convTask{l: l, p: planConv(n, g.cols(), g.rows()*g.cols()), backward: true, x: l.x.Data, dy: dy.Data}
	l.maskGrad(&t, l.relu, dy, l.out)
	if !l.skipDX {
		dx = buffer(&l.dx, n, l.inShape)
		t.dx = dx.Data
	}
	nw := l.InC * g.rows()
	scratch(&l.part, t.p.ng*(nw+l.OutC))
	if l.rowsFP32 {
		l.backwardRows()
		l.run(t)
		l.addRowsGrad(l.reduce(t.p.ng, nw, l.Bias.G))
		return dx
	}
	l.run(t)
	acc := l.reduce(t.p.ng, nw, l.Bias.G)
	if l.dwT {
		addTransposed(l.Weight.G, acc, g.rows(), l.InC)
	} else {
		for i, v := range acc {
			l.Weight.G[i] += v
		}
	}
	return dx
}

func (l *ConvTranspose2D) backwardGroup(t *convTask, w, grp int) {
	g := &l.g
	s0, s1 := t.p.span(grp)
	wk := &l.work[w]
	if l.rowsFP32 {
		l.backwardRowsGroup(t, wk, grp)
		return
	}
	ci, r, np, out := l.InC, g.rows(), g.cols(), g.size()
	pw, pb := l.partial(grp, ci*r, l.OutC)
	biasSum(pb, t.dy, s0, s1, g.H*g.W, l.ones)
	wts := l.Weight.W
	if !t.p.batched {
		col := scratch(&wk.col, r*np)
		for s := s0; s < s1; s++ {
			im2col(g, t.dy[s*out:(s+1)*out], col, np, 0)
			xs := t.x[s*ci*np : (s+1)*ci*np]
			beta := float32(min(1, s-s0))
			if l.dwT {
				f32.Gemm(false, true, r, ci, np, 1, col, np, xs, np, beta, pw, ci)
			} else {
				f32.Gemm(false, true, ci, r, np, 1, xs, np, col, np, beta, pw, r)
			}
			if t.dx != nil {
				f32.Gemm(false, false, ci, np, r, 1, wts, r, col, np, 0, t.dx[s*ci*np:(s+1)*ci*np], np)
			}
		}
		return
	}
	k := s1 - s0
	ld := k * np
	col := scratch(&wk.col, r*ld)
	xp := scratch(&wk.xp, g.H*g.W+convPadSlots)
	for s := s0; s < s1; s++ {
		im2colIdx(g, l.idx, t.dy[s*out:(s+1)*out], col, ld, (s-s0)*np, xp)
	}
	xg := scratch(&wk.tmp, ci*ld)
	gather(xg, t.x[s0*ci*np:s1*ci*np], ci, np, k)
	if l.dwT {
		f32.Gemm(false, true, r, ci, ld, 1, col, ld, xg, ld, 0, pw, ci)
	} else {
		f32.Gemm(false, true, ci, r, ld, 1, xg, ld, col, ld, 0, pw, r)
	}
	if t.dx == nil {
		return
	}
	// xg is spent: reuse it for W·dcol.
	f32.Gemm(false, false, ci, ld, r, 1, wts, r, col, ld, 0, xg, ld)
	scatter(t.dx[s0*ci*np:s1*ci*np], xg, ci, np, k)
}

// maskGrad sets t up to mask dy by the layer's rectified output, group by
// group inside the parallel region, when the layer applies the ReLU after
// it (fuseReLU): a group's masked gradient is then read by its GEMMs while
// it is in cache, instead of the ReLU layer's pass over the whole batch
// (srcnn: 27 MB written and read back a step).
func (st *convState) maskGrad(t *convTask, relu bool, dy, y *tensor.Tensor) {
	if !relu {
		return
	}
	t.dyIn, t.y = dy.Data, y.Data
	t.dy = scratch(&st.dyMasked, len(dy.Data))
}

// fuseReLU lets a convolution apply the ReLU that follows it in a net to
// each group of samples right after computing it, while the group's output
// is still in cache, and makes the ReLU layer pass that output through
// instead of reading and writing the whole activation again (14 % of srcnn
// inference went to the separate pass). Backward likewise: the ReLU passes
// the gradient through and the convolution masks it by its output, the
// rectified convolution output, one group at a time (maskGrad).
func fuseReLU(layers []Layer) {
	for i := 0; i+1 < len(layers); i++ {
		r, ok := layers[i+1].(*ReLU)
		if !ok {
			continue
		}
		switch c := layers[i].(type) {
		case *Conv2D:
			c.relu, r.passThrough = true, true
		case *ConvTranspose2D:
			c.relu, r.passThrough = true, true
		}
	}
}
