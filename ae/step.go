package ae

import (
	"fmt"
	"math/rand/v2"

	"github.com/bottleneck-ml/bottleneck/nn"
	"github.com/bottleneck-ml/bottleneck/tensor"
)

// TrainStep runs forward and backward on a batch: x is the input, target
// the wanted output (x itself for a plain autoencoder, the clean image for
// a denoiser). Gradients are accumulated into m.Params.G (the caller
// zeroes them) and the loss is returned: the mean over elements of the
// reconstruction loss, plus the sparsity penalty, or a VAE's negative
// ELBO per sample. With a sigmoid output and BCE the loss is computed from
// the logits, which is exact and never overflows. Once the buffers have
// grown to the batch size a step allocates nothing.
func (m *Model) TrainStep(x, target *tensor.Tensor) (float64, error) {
	return m.step(x, target, true)
}

// Loss is the training loss of a batch without touching gradients
// (dropout off, a VAE's noise drawn from a fixed seed), as validation
// uses it.
func (m *Model) Loss(x, target *tensor.Tensor) (float64, error) {
	return m.step(x, target, false)
}

func (m *Model) step(x, target *tensor.Tensor, train bool) (float64, error) {
	n, err := m.instanceOf(x)
	if err != nil {
		return 0, err
	}
	if train {
		m.prepared = false // the layers drop their inference weights
		m.trainKey = shapeKey(n.net.InShape)
		if m.noise.set {
			m.reseed(n)
		}
	}
	if m.vae != nil {
		return m.vaeStep(n, x, target, train)
	}
	layers := n.net.Layers
	end := len(layers) - m.head
	enc := min(m.nEnc, end)
	code := n.net.ForwardLayers(x, 0, enc, train)
	out := n.net.ForwardLayers(code, enc, end, train)
	out = m.addResidual(n, out, x)
	if c, ok := m.loss.(interface {
		CheckTarget(pred, target *tensor.Tensor) error
	}); ok {
		if err := c.CheckTarget(out, target); err != nil {
			return 0, fmt.Errorf("ae: %w", err)
		}
	} else if len(out.Data) != len(target.Data) {
		return 0, fmt.Errorf("ae: target %v does not match the output %v", target.Shape, out.Shape)
	}
	if !train {
		loss := m.loss.Forward(out, target)
		if m.sparse != nil {
			loss += m.sparse.penalty(code, nil)
		}
		return loss, nil
	}
	dOut := grow(&n.dOut, out.Shape, len(out.Data))
	var loss float64
	if f, ok := m.loss.(nn.FusedLoss); ok {
		loss = f.ForwardBackward(dOut, out, target)
	} else {
		loss = m.loss.Forward(out, target)
		m.loss.Backward(dOut, out, target)
	}
	g := dOut
	for i := end - 1; i >= m.nEnc; i-- {
		g = layers[i].Backward(g)
	}
	if m.sparse != nil {
		loss += m.sparse.penalty(code, g)
	}
	for i := m.nEnc - 1; i >= 0; i-- {
		g = layers[i].Backward(g)
	}
	return loss, nil
}

// grow returns *b resized to n values of shape, allocating only when it is
// too small.
func grow(b **tensor.Tensor, shape []int, n int) *tensor.Tensor {
	t := *b
	if t == nil || cap(t.Data) < n {
		t = &tensor.Tensor{Shape: make([]int, 0, 4), Data: make([]float32, n)}
		*b = t
	}
	t.Data = t.Data[:n]
	t.Shape = append(t.Shape[:0], shape...)
	return t
}

// SetKLWeight sets the weight of a VAE's KL term in training steps (β
// times a warm-up factor in [0, 1]); it is β after New and Open. It is a
// no-op for models that are not VAEs.
func (m *Model) SetKLWeight(w float64) {
	if m.vae != nil {
		m.vae.klWeight = w
	}
}

// SeedNoise reseeds the noise of the next training steps: a VAE's ε and
// the binarisation of its inputs, and the dropout masks. Reseeding with
// (seed, step) before every step makes training reproducible across
// resumes.
func (m *Model) SeedNoise(seed, stream uint64) {
	m.noise = noiseSeed{set: true, seed: seed, stream: stream}
	if m.vae != nil {
		m.vae.pcg.Seed(seed, stream)
	}
}

type noiseSeed struct {
	set          bool
	seed, stream uint64
}

// reseed restarts the dropout masks of instance n from the seed of the
// step, each layer on a stream of its own.
func (m *Model) reseed(n *instance) {
	for i, l := range n.net.Layers {
		if d, ok := l.(*nn.Dropout); ok {
			d.Reseed(m.noise.seed^(0x9e3779b97f4a7c15*uint64(i+1)), m.noise.stream)
		}
	}
}

// variational is the state a VAE adds.
type variational struct {
	klWeight float64 // β × warm-up factor, used in training steps
	pcg      *rand.PCG
	rng      *rand.Rand
	logvar   *nn.Param // Gaussian likelihood
}

// vaeStep is TrainStep and Loss of a VAE: the negative ELBO per sample,
//
//	−log p(x|z) + w · KL(q(z|x) ‖ N(0, I)),  KL = ½ Σ (μ² + σ² − 1 − log σ²)
//
// With train it accumulates the gradients (KL weighted by the warm-up
// weight); otherwise it draws ε from a fixed seed and weighs the KL by β,
// so validation losses are reproducible.
func (m *Model) vaeStep(n *instance, x, target *tensor.Tensor, train bool) (float64, error) {
	v := m.vae
	rng, w := v.rng, v.klWeight
	if !train {
		rng, w = rand.New(rand.NewPCG(0x9e3779b97f4a7c15, 1)), m.Config.beta()
	}
	rows := x.Rows()
	if rows == 0 || len(target.Data)%rows != 0 {
		return 0, fmt.Errorf("ae: target %v does not fit the batch %v", target.Shape, x.Shape)
	}
	if m.Config.Binarize {
		tb := grow(&n.t, target.Shape, len(target.Data))
		binarize(tb.Data, target.Data, rng)
		if x == target {
			x = tb
		} else {
			xb := grow(&n.x, x.Shape, len(x.Data))
			binarize(xb.Data, x.Data, rng)
			x = xb
		}
		target = tb
	}
	r := n.net.Layers[m.nEnc].(*nn.Reparam)
	r.Rand = rng
	r.Weight = w / float64(rows) // the loss is per sample
	layers := n.net.Layers
	end := len(layers)
	if m.logits {
		end-- // Bernoulli: the logits, all but the sigmoid
	}
	out := n.net.ForwardLayers(x, 0, m.nEnc, train)
	out = layers[m.nEnc].Forward(out, true) // the ELBO samples z in validation too
	out = n.net.ForwardLayers(out, m.nEnc+1, end, train)
	if len(out.Data) != len(target.Data) {
		return 0, fmt.Errorf("ae: target %v does not match the output %v", target.Shape, out.Shape)
	}
	var dOut *tensor.Tensor
	if train {
		dOut = grow(&n.dOut, out.Shape, len(out.Data))
	}
	ll := m.logLik(out.Data, target.Data, dOut, 1/float64(rows))
	loss := (-ll + w*r.KL) / float64(rows)
	if !train {
		return loss, nil
	}
	g := dOut
	for i := end - 1; i >= 0; i-- {
		g = layers[i].Backward(g)
	}
	return loss, nil
}

// binarize fills dst with Bernoulli samples of src (values in [0,1]).
func binarize(dst, src []float32, rng *rand.Rand) {
	for i, p := range src {
		if rng.Float32() < p {
			dst[i] = 1
		} else {
			dst[i] = 0
		}
	}
}
