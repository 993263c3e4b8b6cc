package probe

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/mat"

	"github.com/bottleneck-ml/bottleneck/internal/f32"
	"github.com/bottleneck-ml/bottleneck/tensor"
)

// PCA is a fitted principal component analysis: Transform centres a row
// and projects it on the k leading eigenvectors of the training
// covariance.
type PCA struct {
	Mean       []float32
	Components []float32 // k × d, row i is the i-th principal axis (unit length)
	Variance   []float64 // variance along each axis, largest first
	Total      float64   // total variance of the training data
	K, D       int
}

// FitPCA fits k principal components to the rows of x.
func FitPCA(x *tensor.Tensor, k int) (*PCA, error) {
	n, d := x.Rows(), x.Cols()
	if k < 1 || k > d {
		return nil, fmt.Errorf("probe: PCA with %d components of %d features; pass 1 to %d", k, d, d)
	}
	if n < 2 {
		return nil, fmt.Errorf("probe: PCA needs at least 2 rows, have %d", n)
	}
	mean64 := make([]float64, d)
	for i := 0; i < n; i++ {
		for j, v := range x.Data[i*d : (i+1)*d] {
			mean64[j] += float64(v)
		}
	}
	p := &PCA{Mean: make([]float32, d), K: k, D: d}
	for j := range mean64 {
		mean64[j] /= float64(n)
		p.Mean[j] = float32(mean64[j])
	}
	// Covariance = (X−μ)ᵀ(X−μ)/(n−1), accumulated in float32 blocks of
	// rows and summed in float64.
	cov := make([]float64, d*d)
	const block = 4096
	xc := make([]float32, block*d)
	part := make([]float32, d*d)
	for lo := 0; lo < n; lo += block {
		hi := min(lo+block, n)
		rows := hi - lo
		for i := 0; i < rows; i++ {
			src := x.Data[(lo+i)*d : (lo+i+1)*d]
			dst := xc[i*d : (i+1)*d]
			for j, v := range src {
				dst[j] = v - p.Mean[j]
			}
		}
		f32.Gemm(true, false, d, d, rows, 1, xc[:rows*d], d, xc[:rows*d], d, 0, part, d)
		for i, v := range part {
			cov[i] += float64(v)
		}
	}
	for i := range cov {
		cov[i] /= float64(n - 1)
	}
	for j := 0; j < d; j++ {
		p.Total += cov[j*d+j]
	}
	sym := mat.NewSymDense(d, cov)
	var eig mat.EigenSym
	if !eig.Factorize(sym, true) {
		return nil, fmt.Errorf("probe: PCA eigendecomposition did not converge")
	}
	vals := eig.Values(nil) // ascending
	var vecs mat.Dense
	eig.VectorsTo(&vecs)
	p.Components = make([]float32, k*d)
	for c := 0; c < k; c++ {
		col := d - 1 - c
		p.Variance = append(p.Variance, math.Max(vals[col], 0))
		for j := 0; j < d; j++ {
			p.Components[c*d+j] = float32(vecs.At(j, col))
		}
	}
	return p, nil
}

// Transform returns the k principal coordinates of every row of x.
func (p *PCA) Transform(x *tensor.Tensor) (*tensor.Tensor, error) {
	n, d := x.Rows(), x.Cols()
	if d != p.D {
		return nil, fmt.Errorf("probe: data has %d features, PCA was fitted on %d", d, p.D)
	}
	xc := make([]float32, n*d)
	for i := 0; i < n; i++ {
		for j, v := range x.Data[i*d : (i+1)*d] {
			xc[i*d+j] = v - p.Mean[j]
		}
	}
	out := tensor.New(n, p.K)
	f32.Gemm(false, true, n, p.K, d, 1, xc, d, p.Components, d, 0, out.Data, p.K)
	return out, nil
}

// Explained is the fraction of the training variance the k components
// keep.
func (p *PCA) Explained() float64 {
	var s float64
	for _, v := range p.Variance {
		s += v
	}
	if p.Total == 0 {
		return 0
	}
	return s / p.Total
}
