// Package probe measures how useful a representation is: a linear probe
// (multinomial logistic regression fitted on training features and labels,
// scored on test features) and PCA, the linear baseline a learned code
// should beat. Compare runs both on a model's codes and on the inputs
// and reports them side by side.
//
// Features are standardised with the training mean and standard deviation
// before the fit. The regression minimises the mean cross-entropy plus
// λ/2·‖W‖² (biases not penalised) with L-BFGS (gonum/optimize), in float64
// except for the two matrix products per evaluation, which use the
// float32 GEMM kernel.
package probe

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/bottleneck-ml/bottleneck/internal/f32"
	"github.com/bottleneck-ml/bottleneck/tensor"
)

// Options configure Fit. The zero value means the defaults.
type Options struct {
	L2      float64 // λ, default 1e-4
	MaxIter int     // L-BFGS iterations, default 300
}

// Softmax is a fitted multinomial logistic regression.
type Softmax struct {
	Classes   []string  // sorted class labels
	Mean, Std []float32 // standardisation of the inputs
	W         []float32 // classes × features
	B         []float32 // classes
	Iter      int       // L-BFGS iterations run
	Loss      float64   // final training objective
}

// ErrLabels is wrapped when the labels do not fit the data.
var ErrLabels = errors.New("probe: bad labels")

// Fit fits a softmax regression of labels on the rows of x.
func Fit(x *tensor.Tensor, labels []string, opt Options) (*Softmax, error) {
	n, d := x.Rows(), x.Cols()
	if len(labels) != n {
		return nil, fmt.Errorf("%w: %d labels for %d rows", ErrLabels, len(labels), n)
	}
	if n == 0 || d == 0 {
		return nil, fmt.Errorf("probe: no data (%d rows × %d features)", n, d)
	}
	if opt.L2 <= 0 {
		opt.L2 = 1e-4
	}
	if opt.MaxIter <= 0 {
		opt.MaxIter = 300
	}
	classes := slices.Clone(labels)
	slices.Sort(classes)
	classes = slices.Compact(classes)
	if len(classes) < 2 {
		return nil, fmt.Errorf("%w: need at least two classes, have %q", ErrLabels, classes)
	}
	index := make(map[string]int, len(classes))
	for i, c := range classes {
		index[c] = i
	}
	y := make([]int, n)
	for i, l := range labels {
		y[i] = index[l]
	}
	s := &Softmax{Classes: classes}
	s.Mean, s.Std = standardisation(x)
	xs := s.standardise(x)
	k := len(classes)
	e := &objective{x: xs.Data, y: y, n: n, d: d, k: k, l2: opt.L2,
		w32: make([]float32, k*d), logits: make([]float32, n*k), dlog: make([]float32, n*k), g32: make([]float32, k*d)}
	p := make([]float64, k*d+k)
	f, iter := lbfgs(e.fn, e.grad, p, opt.MaxIter)
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil, fmt.Errorf("probe: optimisation diverged (loss %v); the features may hold NaN or Inf", f)
	}
	s.W = make([]float32, k*d)
	s.B = make([]float32, k)
	for i := range s.W {
		s.W[i] = float32(p[i])
	}
	for i := range s.B {
		s.B[i] = float32(p[k*d+i])
	}
	s.Iter = iter
	s.Loss = f
	return s, nil
}

func standardisation(x *tensor.Tensor) (mean, std []float32) {
	n, d := x.Rows(), x.Cols()
	m := make([]float64, d)
	v := make([]float64, d)
	for i := 0; i < n; i++ {
		for j, a := range x.Data[i*d : (i+1)*d] {
			m[j] += float64(a)
		}
	}
	for j := range m {
		m[j] /= float64(n)
	}
	for i := 0; i < n; i++ {
		for j, a := range x.Data[i*d : (i+1)*d] {
			t := float64(a) - m[j]
			v[j] += t * t
		}
	}
	mean, std = make([]float32, d), make([]float32, d)
	for j := range m {
		mean[j] = float32(m[j])
		sd := math.Sqrt(v[j] / float64(n))
		if sd < 1e-8 {
			sd = 1 // a constant feature stays 0 after centring
		}
		std[j] = float32(sd)
	}
	return mean, std
}

func (s *Softmax) standardise(x *tensor.Tensor) *tensor.Tensor {
	n, d := x.Rows(), x.Cols()
	out := tensor.New(n, d)
	for i := 0; i < n; i++ {
		row := x.Data[i*d : (i+1)*d]
		o := out.Data[i*d : (i+1)*d]
		for j, a := range row {
			o[j] = (a - s.Mean[j]) / s.Std[j]
		}
	}
	return out
}

// Predict returns the most likely class of every row of x.
func (s *Softmax) Predict(x *tensor.Tensor) ([]string, error) {
	n, d := x.Rows(), x.Cols()
	if d != len(s.Mean) {
		return nil, fmt.Errorf("probe: data has %d features, the probe was fitted on %d", d, len(s.Mean))
	}
	k := len(s.Classes)
	xs := s.standardise(x)
	logits := make([]float32, n*k)
	for i := 0; i < n; i++ {
		copy(logits[i*k:(i+1)*k], s.B)
	}
	f32.Gemm(false, true, n, k, d, 1, xs.Data, d, s.W, d, 1, logits, k)
	out := make([]string, n)
	for i := range out {
		row := logits[i*k : (i+1)*k]
		best := 0
		for c, v := range row {
			if v > row[best] {
				best = c
			}
		}
		out[i] = s.Classes[best]
	}
	return out, nil
}

// Accuracy is the fraction of rows of x whose predicted class equals its
// label.
func (s *Softmax) Accuracy(x *tensor.Tensor, labels []string) (float64, error) {
	if len(labels) != x.Rows() {
		return 0, fmt.Errorf("%w: %d labels for %d rows", ErrLabels, len(labels), x.Rows())
	}
	pred, err := s.Predict(x)
	if err != nil {
		return 0, err
	}
	right := 0
	for i, p := range pred {
		if p == labels[i] {
			right++
		}
	}
	return float64(right) / float64(max(1, len(labels))), nil
}

// objective is the regularised mean cross-entropy over parameters
// [W (k×d) row-major, b (k)].
type objective struct {
	x            []float32
	y            []int
	n, d, k      int
	l2           float64
	w32          []float32
	logits, dlog []float32
	g32          []float32
	lastX        []float64
	lastF        float64
}

// eval computes the loss and leaves dL/dlogits in dlog.
func (e *objective) eval(p []float64) float64 {
	if e.lastX != nil && slices.Equal(p, e.lastX) {
		return e.lastF
	}
	n, d, k := e.n, e.d, e.k
	for i := range e.w32 {
		e.w32[i] = float32(p[i])
	}
	b := p[k*d:]
	for i := 0; i < n; i++ {
		for c := 0; c < k; c++ {
			e.logits[i*k+c] = float32(b[c])
		}
	}
	f32.Gemm(false, true, n, k, d, 1, e.x, d, e.w32, d, 1, e.logits, k)
	var loss float64
	inv := 1 / float64(n)
	for i := 0; i < n; i++ {
		row := e.logits[i*k : (i+1)*k]
		mx := float64(row[0])
		for _, v := range row {
			mx = max(mx, float64(v))
		}
		var s float64
		for _, v := range row {
			s += math.Exp(float64(v) - mx)
		}
		lse := mx + math.Log(s)
		loss += lse - float64(row[e.y[i]])
		for c, v := range row {
			g := math.Exp(float64(v) - lse)
			if c == e.y[i] {
				g--
			}
			e.dlog[i*k+c] = float32(g * inv)
		}
	}
	loss *= inv
	var reg float64
	for _, w := range p[:k*d] {
		reg += w * w
	}
	loss += 0.5 * e.l2 * reg
	e.lastX = append(e.lastX[:0], p...)
	e.lastF = loss
	return loss
}

func (e *objective) fn(p []float64) float64 { return e.eval(p) }

func (e *objective) grad(g, p []float64) {
	e.eval(p)
	n, d, k := e.n, e.d, e.k
	f32.Gemm(true, false, k, d, n, 1, e.dlog, k, e.x, d, 0, e.g32, d)
	for i := 0; i < k*d; i++ {
		g[i] = float64(e.g32[i]) + e.l2*p[i]
	}
	for c := 0; c < k; c++ {
		var s float64
		for i := 0; i < n; i++ {
			s += float64(e.dlog[i*k+c])
		}
		g[k*d+c] = s
	}
}
