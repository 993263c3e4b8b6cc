package latent

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/bottleneck-ml/bottleneck/internal/parallel"
)

// TSNEOptions tune TSNE; zero fields take the defaults of van der Maaten
// and Hinton (2008) and of their reference implementation.
type TSNEOptions struct {
	Perplexity float64 // effective number of neighbours (default 30)
	Iterations int     // gradient steps (default 1000)
	Seed       uint64  // initial layout
}

// MaxTSNEPoints bounds TSNE's input: the exact method keeps n² affinities.
const MaxTSNEPoints = 5000

// TSNE embeds the n rows of x (n × d, row-major) in 2-D with exact t-SNE
// (van der Maaten & Hinton 2008): Gaussian affinities in the input whose
// bandwidths give each point the requested perplexity, Student-t
// affinities in the map, and gradient descent on their KL divergence with
// early exaggeration (12 for the first 250 steps), momentum 0.5 then 0.8,
// and per-coordinate gains. It returns n × 2 coordinates. The cost is
// O(n²) per step, so n is capped at MaxTSNEPoints; draw a sample first.
//
// Written here rather than imported: no maintained Go module does it, and
// the exact method is short enough to check against its definition.
func TSNE(x []float32, n, d int, o TSNEOptions) ([]float64, error) {
	if n < 4 || len(x) != n*d || d < 1 {
		return nil, fmt.Errorf("latent: t-SNE needs at least 4 rows of equal length, have %d rows of %d values", n, d)
	}
	if n > MaxTSNEPoints {
		return nil, fmt.Errorf("latent: exact t-SNE takes at most %d points, have %d; draw a sample", MaxTSNEPoints, n)
	}
	if o.Perplexity == 0 {
		o.Perplexity = 30
	}
	if o.Iterations == 0 {
		o.Iterations = 1000
	}
	if o.Perplexity < 1 || float64(n-1) < 3*o.Perplexity {
		o.Perplexity = math.Max(1, float64(n-1)/3)
	}
	p := affinities(x, n, d, o.Perplexity)
	rng := rand.New(rand.NewPCG(o.Seed, 0x74736e65))
	y := make([]float64, 2*n)
	for i := range y {
		y[i] = 1e-4 * rng.NormFloat64()
	}
	grad := make([]float64, 2*n)
	vel := make([]float64, 2*n)
	gains := make([]float64, 2*n)
	for i := range gains {
		gains[i] = 1
	}
	q := make([]float64, n*n) // Student-t kernel 1/(1+|yi−yj|²)
	const lr = 200.0
	for it := 0; it < o.Iterations; it++ {
		exag, mom := 1.0, 0.8
		if it < 250 {
			exag, mom = 12, 0.5
		}
		gradient(p, y, n, exag, q, grad)
		for i, g := range grad {
			if (g > 0) != (vel[i] > 0) {
				gains[i] += 0.2
			} else {
				gains[i] = math.Max(gains[i]*0.8, 0.01)
			}
			vel[i] = mom*vel[i] - lr*gains[i]*g
			y[i] += vel[i]
		}
		var m0, m1 float64 // keep the map centred
		for i := range n {
			m0 += y[2*i]
			m1 += y[2*i+1]
		}
		m0, m1 = m0/float64(n), m1/float64(n)
		for i := range n {
			y[2*i] -= m0
			y[2*i+1] -= m1
		}
	}
	return y, nil
}

// gradient writes into grad the gradient of KL(exag·P ‖ Q) with respect
// to the map y (van der Maaten & Hinton 2008, eq. 5):
//
//	∂C/∂yi = 4 Σj (exag·pij − qij) (1 + ‖yi − yj‖²)⁻¹ (yi − yj)
//
// using q (n × n) as scratch for the Student-t kernel.
func gradient(p, y []float64, n int, exag float64, q, grad []float64) {
	parallel.For(n, 16, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			yi0, yi1 := y[2*i], y[2*i+1]
			row := q[i*n : (i+1)*n]
			for j := range n {
				a, b := yi0-y[2*j], yi1-y[2*j+1]
				row[j] = 1 / (1 + a*a + b*b)
			}
			row[i] = 0
		}
	})
	var z float64
	for _, v := range q {
		z += v
	}
	parallel.For(n, 16, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			yi0, yi1 := y[2*i], y[2*i+1]
			var g0, g1 float64
			prow, qrow := p[i*n:(i+1)*n], q[i*n:(i+1)*n]
			for j := range n {
				k := qrow[j]
				m := (exag*prow[j] - k/z) * k
				g0 += m * (yi0 - y[2*j])
				g1 += m * (yi1 - y[2*j+1])
			}
			grad[2*i], grad[2*i+1] = 4*g0, 4*g1
		}
	})
}

// affinities returns the symmetric joint probabilities pij = (pj|i +
// pi|j) / 2n of the rows of x.
func affinities(x []float32, n, d int, perp float64) []float64 {
	p := make([]float64, n*n)
	parallel.For(n, 8, func(lo, hi int) { conditionals(x, n, d, perp, p, lo, hi) })
	for i := range n {
		for j := i + 1; j < n; j++ {
			v := math.Max((p[i*n+j]+p[j*n+i])/(2*float64(n)), 1e-12)
			p[i*n+j], p[j*n+i] = v, v
		}
		p[i*n+i] = 0
	}
	return p
}

// conditionals writes rows lo..hi-1 of pj|i ∝ exp(−βi‖xi − xj‖²) into p,
// each βi found by bisection so that the row's perplexity e^H is perp.
func conditionals(x []float32, n, d int, perp float64, p []float64, lo, hi int) {
	target := math.Log(perp)
	dist := make([]float64, n)
	for i := lo; i < hi; i++ {
		xi := x[i*d : (i+1)*d]
		minD := math.Inf(1)
		for j := range n {
			var s float64
			for k, v := range x[j*d : (j+1)*d] {
				t := float64(xi[k]) - float64(v)
				s += t * t
			}
			dist[j] = s
			if j != i {
				minD = math.Min(minD, s)
			}
		}
		dist[i] = math.Inf(1)
		row := p[i*n : (i+1)*n]
		beta, bLo, bHi := 1.0, 0.0, math.Inf(1)
		for range 100 {
			// entropy of the row, distances shifted by their minimum for stability
			var sum, sumDP float64
			for j, v := range dist {
				e := math.Exp(-beta * (v - minD))
				row[j] = e
				sum += e
				if j != i {
					sumDP += (v - minD) * e
				}
			}
			h := math.Log(sum) + beta*sumDP/sum
			for j := range row {
				row[j] /= sum
			}
			if math.Abs(h-target) < 1e-5 {
				break
			}
			if h > target { // too flat: narrow the Gaussian
				bLo = beta
				if math.IsInf(bHi, 1) {
					beta *= 2
				} else {
					beta = (beta + bHi) / 2
				}
			} else {
				bHi = beta
				beta = (beta + bLo) / 2
			}
		}
	}
}
