package nn

import (
	"fmt"

	"github.com/bottleneck-ml/bottleneck/internal/f32"
	"github.com/bottleneck-ml/bottleneck/internal/parallel"
	"github.com/bottleneck-ml/bottleneck/tensor"
)

// A run of Dense layers (each maybe followed by a ReLU, Sigmoid or
// Identity, applied in its GEMM's output pass) is a stack of row-wise
// maps: row i of the output depends on row i of the input only. Forward
// then runs the whole stack in one parallel region over blocks of rows,
// each worker taking its rows through every layer with single-threaded
// GEMMs, instead of one parallel region (or none: small products stay on
// one thread) per layer. A small MLP (dense-tabular: 40 kFLOP per row, six
// products of a few microseconds) was bound by the hand-offs between
// layers; its rows now stay in one core's cache from the first layer to the
// last. Each element is computed as by the layer-by-layer pass (the same k
// blocks in the same order), so the bits do not change.
//
// The row split pays when the weights are prepared (PrepareInference:
// nothing to pack per call) or small (each worker packs the weights it
// reads: at most mlpPackMax floats in all); otherwise the layers run one
// by one, each GEMM sharing its packed weights among the workers.
const mlpPackMax = 1 << 16

// mlpOff turns the row-block pass off (tests compare the two).
var mlpOff = false

type mlpStep struct {
	d   *Dense
	act f32.Act
	a   actAdopter // the activation applied by d, or nil
}

// mlpTask is the row-block pass of one run of layers, kept on the run's
// first Dense so that running it allocates nothing.
type mlpTask struct {
	layers []Layer // the run it was built for
	steps  []mlpStep
	x      *tensor.Tensor
	n, mr  int
	train  bool
}

// mlpRun returns the length of the run of Dense layers (with their
// activations) that ls starts with, 0 unless it holds two Dense or more.
func mlpRun(ls []Layer) int {
	if mlpOff {
		return 0
	}
	i, dense := 0, 0
	for i < len(ls) {
		if _, ok := ls[i].(*Dense); !ok {
			break
		}
		dense++
		i++
		if i < len(ls) {
			if a, ok := ls[i].(actAdopter); ok {
				if _, ok := a.fusable(); ok {
					i++
				}
			}
		}
	}
	if dense < 2 {
		return 0
	}
	return i
}

// mlpWorth reports whether the run should take the row-block pass for
// input x (see mlpPackMax).
func mlpWorth(run []Layer, x *tensor.Tensor, train bool) bool {
	if parallel.Threads() < 2 || len(x.Shape) == 0 || x.Rows() < 2*f32.PanelRows() {
		return false
	}
	weights, prepared := 0, !train
	for _, l := range run {
		if d, ok := l.(*Dense); ok {
			weights += d.In * d.Out
			prepared = prepared && d.inf.ready()
		}
	}
	return prepared || weights <= mlpPackMax
}

// forwardMLP runs run (see mlpRun) on x in one parallel region over
// blocks of rows and returns the output of its last layer.
func forwardMLP(run []Layer, x *tensor.Tensor, train bool) *tensor.Tensor {
	d0 := run[0].(*Dense)
	t := d0.mlp
	if t == nil || len(t.layers) != len(run) || t.layers[len(run)-1] != run[len(run)-1] {
		t = newMLPTask(run)
		d0.mlp = t
	}
	n := x.Rows()
	in := x
	for _, s := range t.steps {
		d := s.d
		if in.Cols() != d.In {
			panic(fmt.Sprintf("nn: Dense: input %v, want %d features", in.Shape, d.In))
		}
		if train {
			d.inf.drop()
		}
		d.x = in
		y := buffer(&d.out, n, d.outShape)
		if s.a != nil {
			s.a.adopt(y)
		}
		in = y
	}
	t.x, t.n, t.train, t.mr = x, n, train, f32.PanelRows()
	panels := (n + t.mr - 1) / t.mr
	threads := parallel.Threads()
	parallel.Run(panels, (panels+threads-1)/threads, t)
	t.x = nil
	return in
}

func newMLPTask(run []Layer) *mlpTask {
	return &mlpTask{layers: run, steps: mlpSteps(run)}
}

// mlpSteps pairs each Dense of run with the activation it applies.
func mlpSteps(run []Layer) []mlpStep {
	var steps []mlpStep
	for i := 0; i < len(run); i++ {
		s := mlpStep{d: run[i].(*Dense)}
		if i+1 < len(run) {
			if a, ok := run[i+1].(actAdopter); ok {
				s.act, _ = a.fusable()
				s.a = a
				i++
			}
		}
		steps = append(steps, s)
	}
	return steps
}

// Do takes the rows of the row panels [lo, hi) through every layer.
func (t *mlpTask) Do(_, lo, hi int) {
	r0, r1 := lo*t.mr, min(hi*t.mr, t.n)
	in := t.x.Data
	for _, s := range t.steps {
		d := s.d
		y := d.out.Data
		d.rows(r1-r0, in[r0*d.In:r1*d.In], s.act, y[r0*d.Out:r1*d.Out], t.train)
		in = y
	}
}

// rows computes y [m, Out] = act(x [m, In]·Wᵀ + b) on the calling
// goroutine's share (a GEMM inside a parallel region runs on its worker).
func (d *Dense) rows(m int, x []float32, act f32.Act, y []float32, train bool) {
	if !train && d.inf.ready() {
		d.inf.gemm(m, x, d.In, d.Bias.W, act, y, d.Out)
		return
	}
	f32.GemmBiasAct(false, true, m, d.Out, d.In, 1, x, d.In, d.Weight.W, d.In, d.Bias.W, act, y, d.Out)
}

// The backward pass of a run splits the batch by the blocks Gemm cuts a
// sum over the batch into (f32.KBlocks: 256 rows at most): each worker
// takes its blocks of rows from the last layer to the first — activation
// gradient, input gradient dx = dy·W (row-wise, so the same bits), and the
// block's share of dW = dyᵀ·x into a buffer of its own. After the region
// the shares are added to the weight gradients in block order, which is
// how Gemm itself adds its k blocks, and the bias gradients are summed over
// all rows in row order as ColSum does: the gradients have the bits of the
// layer-by-layer pass, whatever the number of threads. The products of a
// small MLP are too small for Gemm to split one by one (dense-tabular: one
// core did all of its backward pass but three products); split by rows,
// both cores run every layer.

// mlpBackMax caps the weight-gradient shares (blocks × weights, floats):
// beyond it the layer-by-layer GEMMs split well by themselves.
const mlpBackMax = 1 << 20

// mlpBackSplits reports whether a batch of n rows can be split for the
// backward pass at all: two threads or more, two k blocks or more.
func mlpBackSplits(n int) bool {
	blocks, _ := f32.KBlocks(n)
	return parallel.Threads() >= 2 && blocks >= 2
}

// mlpBackWorth reports whether the run's backward pass should take the
// row-block pass for a batch of n rows that mlpBackSplits.
func mlpBackWorth(run []Layer, n int) bool {
	blocks, _ := f32.KBlocks(n)
	weights := 0
	for _, l := range run {
		if d, ok := l.(*Dense); ok {
			weights += d.In * d.Out
		}
	}
	return weights <= mlpPackMax && blocks*weights <= mlpBackMax
}

// mlpBackTask is the row-block backward pass of a run, kept on the run's
// first Dense beside the forward one (apart from it: Backward finds runs
// over the whole net, ForwardLayers over the range it is given, and an
// encoder's forward run may stop at the code where the backward one goes
// on).
type mlpBackTask struct {
	layers []Layer
	steps  []mlpStep
	dw     [][]float32 // per step: blocks × Out × In weight-gradient shares
	dy     *tensor.Tensor
	grads  [][]float32 // per step: the gradient entering its Dense, all rows
	step   int         // rows per block
	n      int
}

// backwardMLP runs run (see mlpRun) backwards from dy, the gradient of its
// last layer's output, and returns dL/dx of its first (nil when that layer
// skips it).
func backwardMLP(run []Layer, dy *tensor.Tensor) *tensor.Tensor {
	d0 := run[0].(*Dense)
	t := d0.mlpBack
	if t == nil || len(t.layers) != len(run) || t.layers[len(run)-1] != run[len(run)-1] {
		t = &mlpBackTask{layers: run, steps: mlpSteps(run)}
		t.dw = make([][]float32, len(t.steps))
		t.grads = make([][]float32, len(t.steps))
		d0.mlpBack = t
	}
	n := dy.Rows()
	blocks, step := f32.KBlocks(n)
	var dx *tensor.Tensor
	for i, s := range t.steps {
		d := s.d
		d.inf.drop()
		if s.a != nil {
			t.grads[i] = s.a.dxBuffer(n).Data
		} else if i == len(t.steps)-1 {
			t.grads[i] = dy.Data
		}
		if need := blocks * d.Out * d.In; cap(t.dw[i]) < need {
			t.dw[i] = make([]float32, need)
		} else {
			t.dw[i] = t.dw[i][:need]
		}
		if i > 0 || !d.skipDX {
			dx = buffer(&d.dx, n, d.inShape)
		}
		if i > 0 && t.steps[i-1].a == nil {
			t.grads[i-1] = dx.Data // the next step down reads it as is
		}
	}
	if t.steps[0].d.skipDX {
		dx = nil
	} else {
		dx = t.steps[0].d.dx
	}
	t.dy, t.n, t.step = dy, n, step
	parallel.Run(blocks, 1, t)
	t.dy = nil
	for i, s := range t.steps {
		d, size := s.d, s.d.Out*s.d.In
		for b := range blocks {
			f32.Axpy(1, t.dw[i][b*size:(b+1)*size], d.Weight.G)
		}
		f32.ColSum(d.Bias.G, t.grads[i], n)
	}
	return dx
}

// Do runs the blocks of rows [lo, hi) through every layer backwards.
func (t *mlpBackTask) Do(_, lo, hi int) {
	for b := lo; b < hi; b++ {
		r0, r1 := b*t.step, min((b+1)*t.step, t.n)
		m := r1 - r0
		g := t.dy.Data
		for i := len(t.steps) - 1; i >= 0; i-- {
			s := t.steps[i]
			d := s.d
			if s.a != nil {
				out := t.grads[i]
				y := s.a.output().Data
				s.a.backwardRows(out[r0*d.Out:r1*d.Out], g[r0*d.Out:r1*d.Out], y[r0*d.Out:r1*d.Out])
				g = out
			}
			dw := t.dw[i][b*d.Out*d.In : (b+1)*d.Out*d.In]
			f32.Gemm(true, false, d.Out, d.In, m, 1, g[r0*d.Out:], d.Out, d.x.Data[r0*d.In:], d.In, 0, dw, d.In)
			if i == 0 && d.skipDX {
				break
			}
			dx := d.dx.Data
			f32.Gemm(false, false, m, d.In, d.Out, 1, g[r0*d.Out:], d.Out, d.Weight.W, d.In, 0, dx[r0*d.In:r1*d.In], d.In)
			g = dx
		}
	}
}

// mlpRunEnding returns the first layer of the run (see mlpRun) whose last
// layer is ls[i], or -1: runs are found from the first layer on, as
// ForwardLayers finds them.
func mlpRunEnding(ls []Layer, i int) int {
	for j := 0; j <= i; {
		n := mlpRun(ls[j:])
		if n == 0 {
			j++
			continue
		}
		if j+n-1 == i {
			return j
		}
		j += n
	}
	return -1
}
