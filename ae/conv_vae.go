package ae

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/bottleneck-ml/bottleneck/nn"
	"github.com/bottleneck-ml/bottleneck/tensor"
)

// A convolutional VAE is a ConvModel with Variational set: the encoder's
// last layer gives 2×code features, [μ, log σ²] of q(z|x); the nn.Reparam
// layer between encoder and decoder samples z = μ + σ·ε in training (μ at
// inference, so Apply reconstructs from the mean) and carries the KL term;
// the decoder ends in a sigmoid, the mean of a Bernoulli likelihood per
// pixel. The training loss is the negative ELBO in nats per image,
//
//	−log p(x|z) + w · KL(q(z|x) ‖ N(0, I)),
//
// the same objective as the dense VAE (vae.go), which uses the same
// nn.Reparam layer and importance sampler.

// convVAE is the state a variational ConvModel adds.
type convVAE struct {
	klWeight float64 // β × warm-up factor, used in training steps
	pcg      *rand.PCG
	rng      *rand.Rand
	logvar   *nn.Param      // Gaussian likelihood: log-variance per output channel
	mean     *tensor.Tensor // Encode's μ
	xb       *tensor.Tensor // binarised batch
}

func (c *ConvConfig) validateVariational() error {
	if !c.Variational {
		if c.Binarize {
			return fmt.Errorf("ae: conv config: binarize is for variational models with a Bernoulli likelihood")
		}
		return nil
	}
	switch {
	case c.InputShape == nil:
		return fmt.Errorf("ae: conv config: a variational model needs a fixed input shape (its code is a dense layer)")
	case c.Residual:
		return fmt.Errorf("ae: conv config: a variational model cannot be residual")
	case c.Likelihood != "" && c.Likelihood != LikelihoodBernoulli && c.Likelihood != LikelihoodGaussian:
		return fmt.Errorf("ae: conv config: likelihood %q; want bernoulli or gaussian", c.Likelihood)
	case c.Likelihood != LikelihoodGaussian && c.Loss != "bce":
		return fmt.Errorf("ae: conv config: a Bernoulli VAE needs loss bce with a sigmoid output (have %q); for other data use the gaussian likelihood", c.Loss)
	case c.Likelihood == LikelihoodGaussian && c.Decoder[len(c.Decoder)-1] == "sigmoid":
		return fmt.Errorf("ae: conv config: a Gaussian VAE's decoder gives the mean: end it without a sigmoid")
	case c.Likelihood == LikelihoodGaussian && c.Binarize:
		return fmt.Errorf("ae: conv config: binarised inputs need the Bernoulli likelihood")
	case len(c.Encoder) == 0 || len(c.Decoder) == 0:
		return fmt.Errorf("ae: conv config: a variational model needs an encoder and a decoder")
	case math.IsNaN(c.Beta) || math.IsInf(c.Beta, 0) || c.Beta < 0:
		return fmt.Errorf("ae: conv config: beta %v must be a non-negative number", c.Beta)
	}
	return nil
}

// IsVAE reports whether m is a convolutional VAE.
func (m *ConvModel) IsVAE() bool { return m.vae != nil }

// SetKLWeight sets the weight of the KL term in training steps (β times a
// warm-up factor); it is β after NewConv and LoadConv. No-op for non-VAEs.
func (m *ConvModel) SetKLWeight(w float64) {
	if m.vae != nil {
		m.vae.klWeight = w
	}
}

// SeedNoise reseeds the training noise (ε and the binarisation), so a
// resumed run draws what an uninterrupted one would.
func (m *ConvModel) SeedNoise(seed, stream uint64) {
	if m.vae != nil {
		m.vae.pcg.Seed(seed, stream)
	}
}

// CodeSize is the width of the code: the encoder's output (per sample),
// or half of it for a VAE. It is 0 for models without a fixed input size.
func (m *ConvModel) CodeSize() int {
	if m.Config.InputShape == nil {
		return 0
	}
	n := m.anyNet()
	w := tensor.Size(n.net.Shape(n.nEnc))
	if m.vae != nil {
		w /= 2
	}
	return w
}

func (m *ConvModel) sampler(n *convNet) *nn.Reparam {
	return n.net.Layers[n.nEnc].(*nn.Reparam)
}

// vaeStep is TrainStep and Loss of a VAE: the negative ELBO per image of
// the batch; with train it accumulates the gradients (KL weighted by the
// warm-up weight), otherwise it draws ε from a fixed seed and weights the
// KL by β, so validation losses are reproducible.
func (m *ConvModel) vaeStep(n *convNet, x, target *tensor.Tensor, train bool) (float64, error) {
	v := m.vae
	rng, w := v.rng, v.klWeight
	if !train {
		rng, w = rand.New(rand.NewPCG(0x9e3779b97f4a7c15, 1)), m.Config.Beta
	}
	if len(x.Data) != len(target.Data) {
		return 0, fmt.Errorf("ae: target %v does not match input %v", target.Shape, x.Shape)
	}
	if m.Config.Binarize {
		xb := buf(&v.xb, x.Rows(), len(x.Data)/x.Rows())
		binarize(xb.Data, target.Data, rng)
		xb.Shape = append(xb.Shape[:0], x.Shape...)
		x, target = xb, xb
	}
	rows := x.Rows()
	d := len(target.Data) / rows
	r := m.sampler(n)
	r.Rand = rng
	r.Weight = w / float64(rows) // the loss is per image

	layers := n.net.Layers
	if v.logvar == nil {
		layers = layers[:len(layers)-1] // Bernoulli: the logits, all but the sigmoid
	}
	out := x
	for i, l := range layers {
		out = l.Forward(out, train || i == n.nEnc) // the ELBO samples z in validation too
	}
	if len(out.Data) != len(target.Data) {
		return 0, fmt.Errorf("ae: target %v does not match output %v", target.Shape, out.Shape)
	}
	var dOut *tensor.Tensor
	if train {
		if n.dOut == nil || cap(n.dOut.Data) < len(out.Data) {
			n.dOut = tensor.New(out.Shape...)
		}
		n.dOut.Data = n.dOut.Data[:len(out.Data)]
		n.dOut.Shape = append(n.dOut.Shape[:0], out.Shape...)
		dOut = n.dOut
	}
	var nll float64 // nats per image
	if v.logvar == nil {
		nll = nn.BCEWithLogitsSum(out.Data, target.Data) / float64(rows) // per image
		if train {
			nn.BCEWithLogitsGrad(dOut.Data, out.Data, target.Data, float32(1/float64(rows)))
		}
	} else {
		var dd []float32
		if dOut != nil {
			dd = dOut.Data
		}
		nll = -gaussLogLik(v.logvar, out.Data, target.Data, d, dd, 1/float64(rows)) / float64(rows)
	}
	loss := nll + w*r.KL/float64(rows)
	if !train {
		return loss, nil
	}
	g := dOut
	for i := len(layers) - 1; i >= 0; i-- {
		g = layers[i].Backward(g)
	}
	return loss, nil
}

// encodeMean returns μ of q(z|x) for a batch, in a buffer of the model.
func (m *ConvModel) encodeMean(h *tensor.Tensor) *tensor.Tensor {
	rows, k := h.Rows(), h.Cols()/2
	mean := buf(&m.vae.mean, rows, k)
	for i := range rows {
		copy(mean.Data[i*k:(i+1)*k], h.Data[i*2*k:i*2*k+k])
	}
	return mean
}

// Decode runs the decoder on codes z [N, code] and returns images
// [N, OutChannels, H, W] in the model's buffer (valid until the next call).
// It needs a model with a fixed input shape.
func (m *ConvModel) Decode(z *tensor.Tensor) (*tensor.Tensor, error) {
	if m.Config.InputShape == nil {
		return nil, fmt.Errorf("ae: this convolutional model has no fixed code size to decode from")
	}
	if k := m.CodeSize(); z.Cols() != k {
		return nil, fmt.Errorf("ae: codes have %d values, the model's code has %d", z.Cols(), k)
	}
	n := m.anyNet()
	start := n.nEnc
	if m.vae != nil {
		start++ // past the sampler
	}
	for _, l := range n.net.Layers[start:] {
		z = l.Forward(z, false)
	}
	return z, nil
}

// Sample draws n images from a VAE: z ~ N(0, I) decoded to the Bernoulli
// means. The result is a new tensor [n, OutChannels, H, W].
func (m *ConvModel) Sample(n int, rng *rand.Rand) (*tensor.Tensor, error) {
	if m.vae == nil {
		return nil, fmt.Errorf("ae: sampling needs a VAE")
	}
	z := tensor.New(n, m.CodeSize())
	for i := range z.Data {
		z.Data[i] = float32(rng.NormFloat64())
	}
	out, err := m.Decode(z)
	if err != nil {
		return nil, err
	}
	return tensor.From(append([]float32(nil), out.Data...), out.Shape...), nil
}

// LogLikelihood estimates log p(x) of every image of x [N, C, H, W] by
// importance sampling with k samples from q(z|x), and the ELBO beside it
// (see Model.LogLikelihood). x is the target as is: binarise it first for
// a model trained on binarised data.
func (m *ConvModel) LogLikelihood(x *tensor.Tensor, k, chunk int, rng *rand.Rand) (logp, elbo []float64, err error) {
	if m.vae == nil {
		return nil, nil, fmt.Errorf("ae: log-likelihood needs a VAE")
	}
	if k < 1 {
		return nil, nil, fmt.Errorf("ae: log-likelihood needs at least one sample, have %d", k)
	}
	n, err := m.netOf(x)
	if err != nil {
		return nil, nil, err
	}
	chunk = max(1, min(chunk, k))
	rows, d, c := x.Rows(), len(x.Data)/max(x.Rows(), 1), m.CodeSize()
	shape := x.Shape[1:]
	dec := n.net.Layers[n.nEnc+1:]
	if m.vae.logvar == nil {
		dec = dec[:len(dec)-1] // to the logits
	}
	logp, elbo = make([]float64, rows), make([]float64, rows)
	for r := range rows {
		row := x.Data[r*d : (r+1)*d]
		h := tensor.From(row, append([]int{1}, shape...)...)
		for _, l := range n.net.Layers[:n.nEnc] {
			h = l.Forward(h, false)
		}
		logp[r], elbo[r] = importanceSample(h.Data[:c], h.Data[c:2*c], k, chunk, rng, func(z *tensor.Tensor, ll []float64) {
			out := z
			for _, l := range dec {
				out = l.Forward(out, false)
			}
			for s := range ll {
				if m.vae.logvar != nil {
					ll[s] = gaussLogLik(m.vae.logvar, out.Data[s*d:(s+1)*d], row, d, nil, 0)
				} else {
					ll[s] = -nn.BCEWithLogitsSum(out.Data[s*d:(s+1)*d], row)
				}
			}
		})
	}
	return logp, elbo, nil
}

// Clone returns an independent copy of m (weights, statistics and
// config), for use on another goroutine.
func (m *ConvModel) Clone() *ConvModel {
	c, err := buildConv(m.Config)
	if err != nil {
		panic("ae: Clone: " + err.Error()) // m was built from the same config
	}
	copy(c.Params.W, m.Params.W)
	for i, b := range m.Buffers {
		copy(c.Buffers[i].W, b.W)
	}
	c.Training = slices.Clone(m.Training)
	c.Ensemble = m.Ensemble
	return c
}
