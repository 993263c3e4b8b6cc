package latent

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestTSNESeparatesClusters embeds three Gaussian clusters of 10-D points
// and checks that nearly every point's nearest neighbour on the map is
// from its own cluster.
func TestTSNESeparatesClusters(t *testing.T) {
	const n, d, per = 150, 10, 50
	rng := rand.New(rand.NewPCG(1, 2))
	x := make([]float32, n*d)
	for i := range n {
		c := i / per
		for k := range d {
			centre := 0.0
			if k == c {
				centre = 6
			}
			x[i*d+k] = float32(centre + rng.NormFloat64())
		}
	}
	y, err := TSNE(x, n, d, TSNEOptions{Perplexity: 20, Iterations: 400, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	same := 0
	for i := range n {
		best, bj := math.Inf(1), -1
		for j := range n {
			if j == i {
				continue
			}
			a, b := y[2*i]-y[2*j], y[2*i+1]-y[2*j+1]
			if dd := a*a + b*b; dd < best {
				best, bj = dd, j
			}
		}
		if bj/per == i/per {
			same++
		}
	}
	if same < n*97/100 {
		t.Errorf("%d of %d points have a map neighbour from their own cluster; want ≥ 97%%", same, n)
	}
	for _, v := range y {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			t.Fatal("map has a non-finite coordinate")
		}
	}
}

// TestAffinitiesPerplexity checks the bandwidth search: every conditional
// distribution has the requested perplexity, and P is symmetric and sums
// to 1.
func TestAffinitiesPerplexity(t *testing.T) {
	const n, d = 60, 5
	rng := rand.New(rand.NewPCG(4, 5))
	x := make([]float32, n*d)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	p := affinities(x, n, d, 10)
	var sum float64
	for i := range n {
		for j := range n {
			sum += p[i*n+j]
			if math.Abs(p[i*n+j]-p[j*n+i]) > 1e-15 {
				t.Fatalf("P not symmetric at %d,%d", i, j)
			}
		}
	}
	if math.Abs(sum-1) > 1e-6 {
		t.Errorf("Σ P = %v, want 1", sum)
	}
	// Each conditional row has perplexity e^H = 10.
	rows := make([]float64, n*n)
	conditionals(x, n, d, 10, rows, 0, 3)
	for i := range 3 {
		pp := rows[i*n : (i+1)*n]
		var h float64
		for _, v := range pp {
			if v > 0 {
				h -= v * math.Log(v)
			}
		}
		if got := math.Exp(h); math.Abs(got-10) > 0.01 {
			t.Errorf("row %d: perplexity %.4f, want 10", i, got)
		}
	}
	if _, err := TSNE(x, 3, d*20, TSNEOptions{}); err == nil {
		t.Error("TSNE of 3 points: no error")
	}
}

// TestTSNEGradient checks gradient against central differences of
// C = Σ pij log(pij/qij) (exaggeration 1).
func TestTSNEGradient(t *testing.T) {
	const n, d = 12, 3
	rng := rand.New(rand.NewPCG(6, 7))
	x := make([]float32, n*d)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	p := affinities(x, n, d, 3)
	y := make([]float64, 2*n)
	for i := range y {
		y[i] = rng.NormFloat64()
	}
	cost := func() float64 {
		var z float64
		k := make([]float64, n*n)
		for i := range n {
			for j := range n {
				if i != j {
					a, b := y[2*i]-y[2*j], y[2*i+1]-y[2*j+1]
					k[i*n+j] = 1 / (1 + a*a + b*b)
					z += k[i*n+j]
				}
			}
		}
		var c float64
		for i := range n {
			for j := range n {
				if i != j {
					c += p[i*n+j] * math.Log(p[i*n+j]/(k[i*n+j]/z))
				}
			}
		}
		return c
	}
	grad := make([]float64, 2*n)
	gradient(p, y, n, 1, make([]float64, n*n), grad)
	for i := range y {
		orig := y[i]
		y[i] = orig + 1e-6
		hi := cost()
		y[i] = orig - 1e-6
		lo := cost()
		y[i] = orig
		num := (hi - lo) / 2e-6
		if math.Abs(num-grad[i]) > 1e-6+1e-4*math.Abs(num) {
			t.Errorf("∂C/∂y[%d] = %v, finite differences %v", i, grad[i], num)
		}
	}
}
