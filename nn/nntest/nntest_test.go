package nntest

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/bottleneck-ml/bottleneck/nn"
	"github.com/bottleneck-ml/bottleneck/tensor"
)

// recorder is a testing.TB that records failures instead of failing.
type recorder struct {
	testing.TB
	errs []string
}

type fatal struct{}

func (r *recorder) Helper()                   {}
func (r *recorder) Logf(string, ...any)       {}
func (r *recorder) Errorf(f string, a ...any) { r.errs = append(r.errs, fmt.Sprintf(f, a...)) }
func (r *recorder) Fatalf(f string, a ...any) {
	r.Errorf(f, a...)
	panic(fatal{})
}

func run(t *testing.T, f func(tb testing.TB)) []string {
	r := &recorder{TB: t}
	func() {
		defer func() {
			if v := recover(); v != nil {
				if _, ok := v.(fatal); !ok {
					panic(v)
				}
			}
		}()
		f(r)
	}()
	return r.errs
}

// scale is y = w·x with one parameter w and deliberately adjustable bugs.
type scale struct {
	w          *nn.Param
	x, out, dx *tensor.Tensor
	shape      []int
	gradFactor float32 // 1 is correct
	assign     bool    // overwrite the gradient instead of accumulating
}

func (s *scale) Setup(in []int) ([]int, error) { s.shape = in; return in, nil }
func (s *scale) Params() []*nn.Param {
	if s.w == nil {
		s.w = &nn.Param{Name: "w", Shape: []int{1}}
	}
	return []*nn.Param{s.w}
}
func (s *scale) Init(rng *rand.Rand) { s.w.W[0] = 1.5 }
func (s *scale) Forward(x *tensor.Tensor, _ bool) *tensor.Tensor {
	s.x = x
	s.out = tensor.New(x.Shape...)
	for i, v := range x.Data {
		s.out.Data[i] = s.w.W[0] * v
	}
	return s.out
}
func (s *scale) Backward(dy *tensor.Tensor) *tensor.Tensor {
	s.dx = tensor.New(dy.Shape...)
	var g float32
	for i, d := range dy.Data {
		s.dx.Data[i] = s.gradFactor * d * s.w.W[0]
		g += d * s.x.Data[i]
	}
	if s.assign {
		s.w.G[0] = g
	} else {
		s.w.G[0] += g
	}
	return s.dx
}

func TestCheckLayerCatchesBugs(t *testing.T) {
	if errs := run(t, func(tb testing.TB) { CheckLayer(tb, &scale{gradFactor: 1}, []int{3}, 2) }); len(errs) != 0 {
		t.Errorf("correct layer: %v", errs)
	}
	errs := run(t, func(tb testing.TB) { CheckLayer(tb, &scale{gradFactor: 1.05}, []int{3}, 2) })
	if len(errs) != 1 || !strings.Contains(errs[0], "input gradient") {
		t.Errorf("dx 5%% off: errors %q; want one about the input gradient", errs)
	}
	errs = run(t, func(tb testing.TB) { CheckLayer(tb, &scale{gradFactor: 1, assign: true}, []int{3}, 2) })
	if len(errs) != 1 || !strings.Contains(errs[0], "accumulate") {
		t.Errorf("assigning layer: errors %q; want one about accumulating", errs)
	}
}

func TestCheckLossCatchesBugs(t *testing.T) {
	p := tensor.From([]float32{0.3, -1, 2}, 1, 3)
	q := tensor.From([]float32{0, 0, 0}, 1, 3)
	if errs := run(t, func(tb testing.TB) { CheckLoss(tb, nn.MSE{}, p, q) }); len(errs) != 0 {
		t.Errorf("MSE: %v", errs)
	}
	if errs := run(t, func(tb testing.TB) { CheckLoss(tb, halfMSE{}, p, q) }); len(errs) != 1 {
		t.Errorf("MSE with half its gradient: errors %q; want one", errs)
	}
}

type halfMSE struct{ nn.MSE }

func (h halfMSE) Backward(d, p, t *tensor.Tensor) {
	h.MSE.Backward(d, p, t)
	for i := range d.Data {
		d.Data[i] /= 2
	}
}

func TestMaxDiff(t *testing.T) {
	nan := float32(math.NaN())
	tests := []struct {
		got, want []float32
		diff      float64
		at        int
	}{
		{nil, nil, 0, -1},
		{[]float32{1, 2}, []float32{1, 2}, 0, 0},
		{[]float32{1, 2}, []float32{1, 2.2}, 0.2 / 2.2, 1},
		{[]float32{1e-5}, []float32{2e-5}, 1e-2, 0}, // floor 1e-3
		{[]float32{nan}, []float32{nan}, 0, 0},
		{[]float32{1, nan}, []float32{1, 2}, math.Inf(1), 1},
	}
	for _, tt := range tests {
		d, at := MaxDiff(tt.got, tt.want, 1e-3)
		if math.Abs(d-tt.diff) > 1e-6 || at != tt.at {
			t.Errorf("MaxDiff(%v, %v) = %g at %d; want %g at %d", tt.got, tt.want, d, at, tt.diff, tt.at)
		}
	}
}

func TestFixtureRoundTrip(t *testing.T) {
	f := &Fixture{
		Meta:    map[string]any{"seed": 1.0},
		Names:   []string{"a", "b.c"},
		Tensors: map[string][]float32{"a": {1, 2, 3, 4, 5, 6}, "b.c": {-0.5}},
		Shapes:  map[string][]int{"a": {2, 3}, "b.c": {}},
	}
	var buf bytes.Buffer
	if err := f.Encode(&buf); err != nil {
		t.Fatal(err)
	}
	g, err := ParseFixture(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(g.Names, f.Names) || !slices.Equal(g.Get(t, "a"), f.Tensors["a"]) ||
		!slices.Equal(g.Shape("a"), []int{2, 3}) || g.Scalar(t, "b.c") != -0.5 || g.Meta["seed"] != 1.0 {
		t.Errorf("round trip: %+v; want %+v", g, f)
	}
	b := buf.Bytes()
	for _, bad := range [][]byte{
		nil, b[:3], append([]byte("XXXX"), b[4:]...), b[:len(b)-1], append(slices.Clone(b), 0),
	} {
		if _, err := ParseFixture(bad); err == nil {
			t.Errorf("ParseFixture(%d corrupt bytes): no error", len(bad))
		}
	}
}
