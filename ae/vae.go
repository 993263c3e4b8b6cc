package ae

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/bottleneck-ml/bottleneck/nn"
	"github.com/bottleneck-ml/bottleneck/tensor"
)

// logvarLimit clamps the Gaussian likelihood's learned log-variance, so a
// perfectly fitted feature cannot drive it to −∞.
const logvarLimit = 9

// logLik returns Σ log p(t|out) over a batch, for the decoder's training
// output out (logits for Bernoulli, the mean for Gaussian). When dOut is
// not nil it writes −scale·∂/∂out into it and accumulates −scale·∂/∂logvar
// into the Gaussian log-variance's gradient.
func (m *Model) logLik(out, t []float32, dOut *tensor.Tensor, scale float64) float64 {
	if m.logits {
		if dOut != nil {
			nn.BCEWithLogitsGrad(dOut.Data, out, t, float32(scale))
		}
		return -nn.BCEWithLogitsSum(out, t)
	}
	var dd []float32
	if dOut != nil {
		dd = dOut.Data
	}
	// a VAE's output has its input's size (it has a fixed input)
	return gaussLogLik(m.vae.logvar, out, t, tensor.Size(m.Config.Input), dd, scale)
}

// gaussLogLik is Σ log N(t | out, exp(logvar)) over samples of d values.
// logvar has one entry per group of d/len(logvar) consecutive values (one
// per feature for flat outputs, one per channel plane for images), clamped
// to ±logvarLimit. With dOut it writes −scale·∂/∂out there and accumulates
// −scale·∂/∂logvar into logvar's gradient.
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

// LogLikelihood estimates log p(x) of every sample of x by importance
// sampling with k samples from q(z|x) (Burda et al. 2016, "IWAE", eq. 5):
//
//	log p(x) ≈ log (1/k) Σᵢ p(x|zᵢ) p(zᵢ) / q(zᵢ|x),  zᵢ ~ q(z|x)
//
// and, beside it, the ELBO estimated with the same samples (the mean of the
// log weights). Targets are x itself: binarise it first for a Bernoulli
// model trained on binarised data. The estimate is a lower bound on
// log p(x) that tightens as k grows. chunk bounds the decoder batch.
func (m *Model) LogLikelihood(x *tensor.Tensor, k, chunk int, rng *rand.Rand) (logp, elbo []float64, err error) {
	if m.vae == nil {
		return nil, nil, fmt.Errorf("ae: log-likelihood needs a VAE")
	}
	if k < 1 {
		return nil, nil, fmt.Errorf("ae: log-likelihood needs at least one sample, have %d", k)
	}
	x = m.shaped(x)
	n, err := m.instanceOf(x)
	if err != nil {
		return nil, nil, err
	}
	chunk = max(1, min(chunk, k))
	rows := x.Rows()
	d := tensor.Size(m.Config.Input)
	c := tensor.Size(n.net.Shape(m.nEnc + 1))
	dec := n.net.Layers[m.nEnc+1:]
	if m.logits {
		dec = dec[:len(dec)-1] // to the logits
	}
	logp, elbo = make([]float64, rows), make([]float64, rows)
	one := append([]int{1}, m.Config.Input...)
	for r := range rows {
		row := x.Data[r*d : (r+1)*d]
		h := tensor.From(row, one...)
		for _, l := range n.net.Layers[:m.nEnc] {
			h = l.Forward(h, false)
		}
		logp[r], elbo[r] = importanceSample(h.Data[:c], h.Data[c:2*c], k, chunk, rng, func(z *tensor.Tensor, ll []float64) {
			out := z
			for _, l := range dec {
				out = l.Forward(out, false)
			}
			for s := range ll {
				ll[s] = m.logLik(out.Data[s*d:(s+1)*d], row, nil, 0)
			}
		})
	}
	return logp, elbo, nil
}

// importanceSample estimates log p(x) and the ELBO of one input whose
// posterior is q(z|x) = N(mu, exp(logvar)), with k samples drawn in chunks
// of at most chunk rows. logLik fills ll[s] = log p(x|z_s) for the rows of
// z.
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

// Sample draws n samples from a VAE: z ~ N(0, I) decoded to the
// likelihood's mean (pixel probabilities for Bernoulli). The result is a
// new tensor [n, ...output].
func (m *Model) Sample(n int, rng *rand.Rand) (*tensor.Tensor, error) {
	if m.vae == nil {
		return nil, fmt.Errorf("ae: sampling the prior needs a VAE")
	}
	z := tensor.New(n, m.CodeSize())
	for i := range z.Data {
		z.Data[i] = float32(rng.NormFloat64())
	}
	return m.Decode(nil, z)
}
