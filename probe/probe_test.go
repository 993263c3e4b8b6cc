package probe

import (
	"errors"
	"math"
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/bottleneck-ml/bottleneck/tensor"
)

// blobs draws n points around k centres in d dimensions.
func blobs(rng *rand.Rand, n, k, d int, spread float64) (*tensor.Tensor, []string) {
	centres := make([]float64, k*d)
	for i := range centres {
		centres[i] = rng.NormFloat64() * 3
	}
	x := tensor.New(n, d)
	labels := make([]string, n)
	for i := 0; i < n; i++ {
		c := i % k
		labels[i] = "c" + strconv.Itoa(c)
		for j := 0; j < d; j++ {
			x.Data[i*d+j] = float32(centres[c*d+j] + spread*rng.NormFloat64())
		}
	}
	return x, labels
}

func TestObjectiveGradient(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	x, labels := blobs(rng, 40, 3, 5, 1)
	y := make([]int, 40)
	for i, l := range labels {
		y[i] = int(l[1] - '0')
	}
	e := &objective{x: x.Data, y: y, n: 40, d: 5, k: 3, l2: 0.1,
		w32: make([]float32, 15), logits: make([]float32, 120), dlog: make([]float32, 120), g32: make([]float32, 15)}
	p := make([]float64, 18)
	for i := range p {
		p[i] = rng.NormFloat64() * 0.3
	}
	g := make([]float64, 18)
	e.grad(g, p)
	for i := range p {
		const h = 1e-3
		q := append([]float64(nil), p...)
		q[i] += h
		fp := e.fn(q)
		q[i] -= 2 * h
		fm := e.fn(q)
		num := (fp - fm) / (2 * h)
		if math.Abs(num-g[i]) > 1e-3+1e-2*math.Abs(num) {
			t.Errorf("param %d: analytic %g, numeric %g", i, g[i], num)
		}
	}
}

func TestFitSeparates(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	x, labels := blobs(rng, 600, 4, 6, 0.5)
	s, err := Fit(x, labels, Options{})
	if err != nil {
		t.Fatal(err)
	}
	xt, lt := blobs(rand.New(rand.NewPCG(3, 4)), 600, 4, 6, 0.5) // same centres
	acc, err := s.Accuracy(xt, lt)
	if err != nil {
		t.Fatal(err)
	}
	if acc < 0.98 {
		t.Errorf("accuracy on separated blobs = %.3f; want ≥ 0.98", acc)
	}
	if len(s.Classes) != 4 || s.Classes[0] != "c0" {
		t.Errorf("classes = %v", s.Classes)
	}
}

// TestFitMatchesLogisticOptimum checks the binary case against the
// optimality condition: the gradient of the objective at the fit is ~0.
func TestFitConverges(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	x, labels := blobs(rng, 300, 2, 3, 3) // overlapping: a finite optimum
	s, err := Fit(x, labels, Options{L2: 1e-2})
	if err != nil {
		t.Fatal(err)
	}
	xs := s.standardise(x)
	y := make([]int, 300)
	for i, l := range labels {
		y[i] = int(l[1] - '0')
	}
	e := &objective{x: xs.Data, y: y, n: 300, d: 3, k: 2, l2: 1e-2,
		w32: make([]float32, 6), logits: make([]float32, 600), dlog: make([]float32, 600), g32: make([]float32, 6)}
	p := make([]float64, 8)
	for i, w := range s.W {
		p[i] = float64(w)
	}
	for i, b := range s.B {
		p[6+i] = float64(b)
	}
	g := make([]float64, 8)
	e.grad(g, p)
	if m := maxAbs(g); m > 1e-4 {
		t.Errorf("gradient at the fit has max |g| = %g; want ≈ 0 (%d iterations)", m, s.Iter)
	}
}

func TestFitErrors(t *testing.T) {
	x := tensor.New(4, 2)
	if _, err := Fit(x, []string{"a", "b"}, Options{}); !errors.Is(err, ErrLabels) {
		t.Errorf("Fit with 2 labels for 4 rows: %v; want ErrLabels", err)
	}
	if _, err := Fit(x, []string{"a", "a", "a", "a"}, Options{}); !errors.Is(err, ErrLabels) {
		t.Errorf("Fit with one class: %v; want ErrLabels", err)
	}
	s, err := Fit(x, []string{"a", "b", "a", "b"}, Options{MaxIter: 5})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Predict(tensor.New(2, 3)); err == nil {
		t.Error("Predict with 3 features on a 2-feature probe: no error")
	}
}

func TestPCA(t *testing.T) {
	// Points along (3,4)/5 with large variance plus small noise: the first
	// component is ±(0.6, 0.8) and keeps almost all the variance.
	rng := rand.New(rand.NewPCG(7, 8))
	n := 2000
	x := tensor.New(n, 2)
	for i := 0; i < n; i++ {
		a := rng.NormFloat64() * 5
		x.Data[2*i] = float32(1 + 0.6*a + 0.1*rng.NormFloat64())
		x.Data[2*i+1] = float32(-2 + 0.8*a + 0.1*rng.NormFloat64())
	}
	p, err := FitPCA(x, 1)
	if err != nil {
		t.Fatal(err)
	}
	c := p.Components
	if math.Abs(math.Abs(float64(c[0]))-0.6) > 0.01 || math.Abs(math.Abs(float64(c[1]))-0.8) > 0.01 {
		t.Errorf("first component = %v; want ±(0.6, 0.8)", c)
	}
	if e := p.Explained(); e < 0.99 {
		t.Errorf("explained variance = %.4f; want > 0.99", e)
	}
	z, err := p.Transform(x)
	if err != nil {
		t.Fatal(err)
	}
	var mean, v float64
	for _, a := range z.Data {
		mean += float64(a)
	}
	mean /= float64(n)
	for _, a := range z.Data {
		v += (float64(a) - mean) * (float64(a) - mean)
	}
	v /= float64(n - 1)
	if math.Abs(mean) > 1e-3 || math.Abs(v-p.Variance[0]) > 1e-2*p.Variance[0] {
		t.Errorf("projections have mean %g, variance %g; want 0 and %g", mean, v, p.Variance[0])
	}
	if _, err := FitPCA(x, 3); err == nil {
		t.Error("FitPCA with 3 components of 2 features: no error")
	}
	if _, err := p.Transform(tensor.New(1, 3)); err == nil {
		t.Error("Transform with 3 features: no error")
	}
}
