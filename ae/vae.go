package ae

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/bottleneck-ml/bottleneck/nn"
	"github.com/bottleneck-ml/bottleneck/tensor"
)

// ArchVAE is the Config.Arch of a variational autoencoder (Kingma &
// Welling 2014). Its encoder's last layer gives, per code unit, the mean μ
// and the log-variance log σ² of a Gaussian q(z|x); training samples
// z = μ + σ·ε with ε ~ N(0, I) (the reparameterisation trick) and decodes
// it. The loss is the negative ELBO in nats per sample:
//
//	−log p(x|z) + w · KL(q(z|x) ‖ N(0, I)),  KL = ½ Σ (μ² + σ² − 1 − log σ²)
//
// where w is β (Config.Beta) times the KL warm-up factor (SetKLWeight).
// The likelihood is Bernoulli (sigmoid output; data in [0,1]) or Gaussian
// with a learned log-variance per feature (parameter "likelihood.logvar").
// Encode returns μ.
const ArchVAE = "vae"

// Likelihoods of a VAE's decoder.
const (
	LikelihoodBernoulli = "bernoulli"
	LikelihoodGaussian  = "gaussian"
)

// LossELBO is the Config.Loss of a VAE: the negative ELBO per sample.
const LossELBO = "elbo"

// logvarLimit clamps the Gaussian likelihood's learned log-variance, so a
// perfectly fitted feature cannot drive it to −∞.
const logvarLimit = 9

type vae struct {
	code     int
	klWeight float64 // β × warm-up factor, used in training steps
	logvar   *nn.Param
	pcg      *rand.PCG
	rng      *rand.Rand
	sampler  *nn.Reparam // z from [μ, log σ²], and the KL term

	mean, xb, tb, dOut *tensor.Tensor
}

func (c *Config) vaeDefaults(unitRange bool) {
	if c.Likelihood == "" {
		if c.Output == nn.ActSigmoid || (c.Output == "" && unitRange) {
			c.Likelihood = LikelihoodBernoulli
		} else {
			c.Likelihood = LikelihoodGaussian
		}
	}
	if c.Output == "" {
		if c.Likelihood == LikelihoodBernoulli {
			c.Output = nn.ActSigmoid
		} else {
			c.Output = nn.ActIdentity
		}
	}
	if c.Loss == "" {
		c.Loss = LossELBO
	}
	if c.Beta == 0 {
		c.Beta = 1
	}
}

func (c *Config) validateVAE() error {
	d := *c
	d.Arch, d.Loss, d.Sparsity = "dense", nn.LossMSE, ""
	if err := d.Validate(); err != nil {
		return err
	}
	if c.Sparsity != "" {
		return fmt.Errorf("ae: sparsity is for plain autoencoders; a VAE's KL term already regularises its code")
	}
	if c.Loss != LossELBO {
		return fmt.Errorf("ae: a VAE trains on the ELBO, loss %q is not supported; leave --loss unset", c.Loss)
	}
	if c.CodeActivation != "" && c.CodeActivation != nn.ActIdentity {
		return fmt.Errorf("ae: a VAE's code is Gaussian; code activation %q is not supported", c.CodeActivation)
	}
	switch c.Likelihood {
	case LikelihoodBernoulli:
		if c.Output != nn.ActSigmoid {
			return fmt.Errorf("ae: the Bernoulli likelihood needs a sigmoid output, have %q", c.Output)
		}
	case LikelihoodGaussian:
		if c.Output != nn.ActIdentity {
			return fmt.Errorf("ae: the Gaussian likelihood needs an identity output (its mean), have %q", c.Output)
		}
		if c.Binarize {
			return fmt.Errorf("ae: binarised inputs need the Bernoulli likelihood")
		}
	default:
		return fmt.Errorf("ae: likelihood %q is not supported (want bernoulli or gaussian)", c.Likelihood)
	}
	if math.IsNaN(c.Beta) || math.IsInf(c.Beta, 0) || c.Beta < 0 {
		return fmt.Errorf("ae: beta %v must be a non-negative number", c.Beta)
	}
	return nil
}

func (c *Config) vaeParamCount() int {
	const limit = 1 << 40
	total := 0
	in := c.Input()
	add := func(from, to int) {
		if from > limit || to > limit || total > limit {
			total = limit
			return
		}
		total = min(total+from*to+to, limit)
	}
	for _, w := range c.Hidden {
		add(in, w)
		in = w
	}
	add(in, 2*c.Code)
	in = c.Code
	for _, w := range c.Decoder() {
		add(in, w)
		in = w
	}
	add(in, c.Input())
	if c.Likelihood == LikelihoodGaussian {
		total = min(total+c.Input(), limit)
	}
	return total
}

func buildVAE(cfg Config) (*Model, error) {
	var enc, dec []nn.Layer
	width := cfg.Input()
	block := func(layers *[]nn.Layer, in, out int, act string, dropout bool) {
		*layers = append(*layers, nn.NewDense(in, out))
		a, _ := nn.NewActivation(act) // validated
		*layers = append(*layers, a)
		if dropout && cfg.Dropout > 0 {
			*layers = append(*layers, nn.NewDropout(cfg.Dropout))
		}
	}
	for _, h := range cfg.Hidden {
		block(&enc, width, h, cfg.Activation, true)
		width = h
	}
	enc = append(enc, nn.NewDense(width, 2*cfg.Code)) // [μ, log σ²]
	width = cfg.Code
	for _, h := range cfg.Decoder() {
		block(&dec, width, h, cfg.Activation, true)
		width = h
	}
	block(&dec, width, cfg.Input(), cfg.Output, false)
	encNet, err := nn.NewNet(cfg.InputShape, enc...)
	if err != nil {
		return nil, fmt.Errorf("ae: encoder: %w", err)
	}
	decNet, err := nn.NewNet([]int{cfg.Code}, dec...)
	if err != nil {
		return nil, fmt.Errorf("ae: decoder: %w", err)
	}
	decNet.NeedInputGrad()
	params := namedParams(encNet, decNet)
	v := &vae{code: cfg.Code, klWeight: cfg.Beta, pcg: rand.NewPCG(1, 0), sampler: nn.NewReparam()}
	if _, err := v.sampler.Setup([]int{2 * cfg.Code}); err != nil {
		return nil, fmt.Errorf("ae: %w", err)
	}
	v.rng = rand.New(v.pcg)
	if cfg.Likelihood == LikelihoodGaussian {
		v.logvar = &nn.Param{Name: "likelihood.logvar", Shape: []int{cfg.Input()}}
		params = append(params, v.logvar)
	}
	m := &Model{Config: cfg, Enc: encNet, Dec: decNet, Params: nn.NewParamSet(params), vae: v}
	m.fusedBCE = cfg.Likelihood == LikelihoodBernoulli
	return m, nil
}

// IsVAE reports whether m is a variational autoencoder.
func (m *Model) IsVAE() bool { return m.vae != nil }

// SetKLWeight sets the weight of the KL term in training steps (β times a
// warm-up factor in [0, 1]); it is β after New and Load. It is a no-op
// for models that are not VAEs.
func (m *Model) SetKLWeight(w float64) {
	if m.vae != nil {
		m.vae.klWeight = w
	}
}

// KLWeight is the current weight of the KL term (0 for non-VAEs).
func (m *Model) KLWeight() float64 {
	if m.vae == nil {
		return 0
	}
	return m.vae.klWeight
}

// SeedNoise reseeds the noise of training steps (the reparameterisation's
// ε and the binarisation of inputs). Reseeding with (seed, step) before
// every step makes training reproducible across resumes.
func (m *Model) SeedNoise(seed, stream uint64) {
	if m.vae != nil {
		m.vae.pcg.Seed(seed, stream)
	}
}

// vaeMean returns μ of q(z|x) for a batch, in a buffer of the model.
func (m *Model) vaeMean(x *tensor.Tensor) *tensor.Tensor {
	v := m.vae
	h := m.Enc.Forward(x, false)
	n, k := h.Rows(), v.code
	mean := buf(&v.mean, n, k)
	for i := 0; i < n; i++ {
		copy(mean.Data[i*k:(i+1)*k], h.Data[i*2*k:i*2*k+k])
	}
	return mean
}

// EncodeDist returns μ and log σ² of q(z|x) for a batch as one tensor of
// rows [μ₀…μₖ₋₁, log σ²₀…log σ²ₖ₋₁], in the encoder's buffer.
func (m *Model) EncodeDist(x *tensor.Tensor) *tensor.Tensor {
	return m.Enc.Forward(x, false)
}

func buf(b **tensor.Tensor, rows, cols int) *tensor.Tensor {
	t := *b
	if t == nil || cap(t.Data) < rows*cols {
		t = tensor.New(rows, cols)
		*b = t
		return t
	}
	t.Data = t.Data[:rows*cols]
	t.Shape = append(t.Shape[:0], rows, cols)
	return t
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

// vaeStep computes the negative ELBO per sample of a batch; with train it
// also accumulates the gradients (KL weighted by klWeight), otherwise it
// draws its noise from a fixed seed and weights the KL by β, so validation
// losses are reproducible.
func (m *Model) vaeStep(x, target *tensor.Tensor, train bool) float64 {
	v := m.vae
	n, d := x.Rows(), m.Config.Input()
	rng := v.rng
	w := v.klWeight
	if !train {
		rng = rand.New(rand.NewPCG(0x9e3779b97f4a7c15, 1))
		w = m.Config.Beta
	}
	if m.Config.Binarize {
		tb := buf(&v.tb, n, d)
		binarize(tb.Data, target.Data[:n*d], rng)
		if x == target {
			x = tb
		} else {
			xb := buf(&v.xb, n, d)
			binarize(xb.Data, x.Data[:n*d], rng)
			x = xb
		}
		target = tb
	}
	h := m.Enc.Forward(x, train)
	v.sampler.Rand = rng
	v.sampler.Weight = w / float64(n)
	z := v.sampler.Forward(h, true) // the ELBO samples z in validation too (fixed seed)
	kl := v.sampler.KL
	out := m.decForward(z, train)
	var dOut *tensor.Tensor
	if train {
		dOut = buf(&v.dOut, n, d)
	}
	rec := m.logLikGrad(out, target.Data[:n*d], dOut, 1/float64(n))
	loss := (-rec + w*kl) / float64(n)
	if !train {
		return loss
	}
	layers := m.Dec.Layers
	if m.fusedBCE {
		layers = layers[:len(layers)-1]
	}
	g := dOut
	for i := len(layers) - 1; i >= 0; i-- {
		g = layers[i].Backward(g)
	}
	dh := v.sampler.Backward(g)
	m.Enc.Backward(dh)
	return loss
}

// logLikGrad returns Σ log p(target|out) over the batch, for the decoder's
// training output out (logits for Bernoulli, the mean for Gaussian). When
// dOut is not nil it writes −scale · ∂/∂out into it and accumulates
// −scale · ∂/∂logvar into the Gaussian log-variance's gradient.
func (m *Model) logLikGrad(out *tensor.Tensor, t []float32, dOut *tensor.Tensor, scale float64) float64 {
	if m.fusedBCE {
		if dOut != nil {
			nn.BCEWithLogitsGrad(dOut.Data, out.Data, t, float32(scale))
		}
		return -nn.BCEWithLogitsSum(out.Data, t)
	}
	var dd []float32
	if dOut != nil {
		dd = dOut.Data
	}
	return gaussLogLik(m.vae.logvar, out.Data, t, len(m.vae.logvar.W), dd, scale)
}

// gaussLogLik is Σ log N(t | out, exp(logvar)) over samples of d values.
// logvar has one entry per group of d/len(logvar) consecutive values (one
// per feature for the dense VAE, one per channel plane for the conv VAE),
// clamped to ±logvarLimit. With dOut it writes −scale·∂/∂out there and
// accumulates −scale·∂/∂logvar into logvar's gradient.
func gaussLogLik(logvar *nn.Param, out, t []float32, d int, dOut []float32, scale float64) float64 {
	lvW := logvar.W
	group := d / len(lvW)
	const log2pi = 1.8378770664093453
	var ll float64
	for i, mf := range out {
		j := (i % d) / group
		lv := float64(lvW[j])
		clamped := lv < -logvarLimit || lv > logvarLimit
		lv = min(max(lv, -logvarLimit), logvarLimit)
		diff := float64(mf) - float64(t[i])
		inv := math.Exp(-lv)
		ll -= 0.5 * (log2pi + lv + diff*diff*inv)
		if dOut != nil {
			dOut[i] = float32(scale * diff * inv)
			if !clamped {
				logvar.G[j] += float32(scale * 0.5 * (1 - diff*diff*inv))
			}
		}
	}
	return ll
}

// LogLikelihood estimates log p(x) of every row of x by importance
// sampling with k samples from q(z|x) (Burda et al. 2016, "IWAE", eq. 5):
//
//	log p(x) ≈ log (1/k) Σᵢ p(x|zᵢ) p(zᵢ) / q(zᵢ|x),  zᵢ ~ q(z|x)
//
// and, beside it, the ELBO estimated with the same samples (the mean of
// the log weights). Targets are x itself; binarise it first for a
// Bernoulli model trained on binarised data. The estimate is a lower bound
// on log p(x) that tightens as k grows. chunk bounds the decoder batch.
func (m *Model) LogLikelihood(x *tensor.Tensor, k, chunk int, rng *rand.Rand) (logp, elbo []float64, err error) {
	if m.vae == nil {
		return nil, nil, fmt.Errorf("ae: log-likelihood needs a VAE (this model is %q)", m.Config.Arch)
	}
	if k < 1 {
		return nil, nil, fmt.Errorf("ae: log-likelihood needs at least one sample, have %d", k)
	}
	chunk = max(1, min(chunk, k))
	n, d, c := x.Rows(), m.Config.Input(), m.vae.code
	if x.Cols() != d {
		return nil, nil, fmt.Errorf("ae: data has %d features per row, model expects %d", x.Cols(), d)
	}
	logp = make([]float64, n)
	elbo = make([]float64, n)
	for r := 0; r < n; r++ {
		h := m.Enc.Forward(tensor.From(x.Data[r*d:(r+1)*d], 1, d), false)
		row := x.Data[r*d : (r+1)*d]
		logp[r], elbo[r] = importanceSample(h.Data[:c], h.Data[c:2*c], k, chunk, rng, func(z *tensor.Tensor, ll []float64) {
			out := m.decForward(z, false)
			for s := range ll {
				ll[s] = m.logLikGrad(tensor.From(out.Data[s*d:(s+1)*d], 1, d), row, nil, 0)
			}
		})
	}
	return logp, elbo, nil
}

// importanceSample estimates log p(x) and the ELBO of one input whose
// posterior is q(z|x) = N(mu, exp(logvar)), with k samples drawn in chunks
// of at most chunk rows. logLik fills ll[s] = log p(x|z_s) for the rows
// of z. It is the body of LogLikelihood for the dense and conv VAEs.
func importanceSample(mu, logvar []float32, k, chunk int, rng *rand.Rand, logLik func(z *tensor.Tensor, ll []float64)) (logp, elbo float64) {
	c := len(mu)
	mu, logvar = slices.Clone(mu), slices.Clone(logvar) // logLik may reuse the encoder's buffers
	z := tensor.New(chunk, c)
	logw := make([]float64, k)
	ll := make([]float64, chunk)
	const log2pi = 1.8378770664093453
	for lo := 0; lo < k; lo += chunk {
		b := min(lo+chunk, k) - lo
		zt := tensor.From(z.Data[:b*c], b, c)
		for s := 0; s < b; s++ {
			var lq, lpz float64
			for j := 0; j < c; j++ {
				e := rng.NormFloat64()
				zv := float64(mu[j]) + math.Exp(0.5*float64(logvar[j]))*e
				zt.Data[s*c+j] = float32(zv)
				lq -= 0.5 * (log2pi + float64(logvar[j]) + e*e)
				lpz -= 0.5 * (log2pi + zv*zv)
			}
			logw[lo+s] = lpz - lq
		}
		logLik(zt, ll[:b])
		for s := 0; s < b; s++ {
			logw[lo+s] += ll[s]
		}
	}
	mx := math.Inf(-1)
	var mean float64
	for _, v := range logw {
		mx = max(mx, v)
		mean += v
	}
	var sum float64
	for _, v := range logw {
		sum += math.Exp(v - mx)
	}
	return mx + math.Log(sum/float64(k)), mean / float64(k)
}

// Sample draws n samples from the model: z ~ N(0, I), decoded to the
// likelihood's mean (probabilities for Bernoulli). The result is a new
// tensor of n × input.
func (m *Model) Sample(n int, rng *rand.Rand) *tensor.Tensor {
	c, d := m.Config.Code, m.Config.Input()
	z := tensor.New(n, c)
	for i := range z.Data {
		z.Data[i] = float32(rng.NormFloat64())
	}
	out := tensor.New(n, d)
	copy(out.Data, m.Decode(z).Data)
	return out
}
