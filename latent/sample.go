package latent

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/bottleneck-ml/bottleneck/ae"
	"github.com/bottleneck-ml/bottleneck/tensor"
)

// Gaussian is a diagonal Gaussian over codes.
type Gaussian struct {
	Mean, Std []float64
}

// FitGaussian fits the per-unit mean and standard deviation of codes
// [N, K].
func FitGaussian(codes *tensor.Tensor) Gaussian {
	n, d := codes.Rows(), codes.Cols()
	g := Gaussian{Mean: make([]float64, d), Std: make([]float64, d)}
	for i := range n {
		for j, v := range codes.Data[i*d : (i+1)*d] {
			g.Mean[j] += float64(v)
		}
	}
	for j := range g.Mean {
		g.Mean[j] /= float64(max(n, 1))
	}
	for i := range n {
		for j, v := range codes.Data[i*d : (i+1)*d] {
			t := float64(v) - g.Mean[j]
			g.Std[j] += t * t
		}
	}
	for j := range g.Std {
		g.Std[j] = math.Sqrt(g.Std[j] / float64(max(n, 1)))
	}
	return g
}

// Sample draws n codes [n, K].
func (g Gaussian) Sample(n int, rng *rand.Rand) *tensor.Tensor {
	k := len(g.Mean)
	z := tensor.New(n, k)
	for i := range n {
		for j := range k {
			z.Data[i*k+j] = float32(g.Mean[j] + g.Std[j]*rng.NormFloat64())
		}
	}
	return z
}

// Generate draws n new samples from m: a VAE samples its prior N(0, I); a
// plain autoencoder has none, so codes are drawn from a Gaussian fitted to
// the codes of data (required then). It returns the samples [n, ...output]
// and a phrase saying where the codes came from.
func Generate(m *ae.Model, n int, rng *rand.Rand, data *tensor.Tensor) (*tensor.Tensor, string, error) {
	if m.CodeSize() == 0 {
		return nil, "", fmt.Errorf("latent: this fully convolutional model has no code of fixed size to sample")
	}
	if m.IsVAE() {
		s, err := m.Sample(n, rng)
		return s, "the prior N(0, I)", err
	}
	if data == nil || data.Rows() == 0 {
		return nil, "", fmt.Errorf("latent: the model is not a VAE and has no prior to sample: pass data, and codes are drawn from a Gaussian fitted to its codes")
	}
	codes, err := Codes(m, data)
	if err != nil {
		return nil, "", err
	}
	z := FitGaussian(codes).Sample(n, rng)
	out, err := ae.Batched(m.Decode, z, 256)
	return out, fmt.Sprintf("a Gaussian fitted to the codes of %d samples", data.Rows()), err
}

// Interpolate encodes a and b (one sample each, the model's input) and
// decodes steps codes on the way between them: along the great circle
// (Slerp) for spherical, else the straight line. It returns [steps,
// ...output].
func Interpolate(m *ae.Model, a, b []float32, steps int, spherical bool) (*tensor.Tensor, error) {
	if m.CodeSize() == 0 {
		return nil, fmt.Errorf("latent: this fully convolutional model has no code of fixed size to interpolate")
	}
	in := m.Config.Input
	d := tensor.Size(in)
	if len(a) != d || len(b) != d {
		return nil, fmt.Errorf("latent: the ends have %d and %d values, the model takes %d", len(a), len(b), d)
	}
	ends := tensor.New(append([]int{2}, in...)...)
	copy(ends.Data[:d], a)
	copy(ends.Data[d:], b)
	z, err := m.Encode(nil, ends)
	if err != nil {
		return nil, err
	}
	k := len(z.Data) / 2
	za, zb := z.Data[:k], z.Data[k:]
	path := Lerp(za, zb, steps)
	if spherical {
		path = Slerp(za, zb, steps)
	}
	zs := tensor.New(steps, k)
	for i, p := range path {
		copy(zs.Data[i*k:(i+1)*k], p)
	}
	return ae.Batched(m.Decode, zs, 256)
}
