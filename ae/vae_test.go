package ae

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/bottleneck-ml/bottleneck/optim"
	"github.com/bottleneck-ml/bottleneck/tensor"
)

// smoothConvVAE is smallConvVAE with tanh for ReLU: central differences
// of a ReLU network are wrong wherever a step crosses a kink, and the
// ReLU layers have their own checks in package nn.
func smoothConvVAE(likelihood string) Config {
	c := smallConvVAE(likelihood)
	for _, specs := range [][]string{c.Encoder, c.Decoder} {
		for i, s := range specs {
			if s == "relu" {
				specs[i] = "tanh"
			}
		}
	}
	return c
}

// TestVAEGradient checks the gradient of the negative ELBO (the
// reconstruction through the sampled z, the KL term, the Gaussian
// likelihood's log-variance) against central differences with ε held
// fixed by reseeding, for dense and convolutional VAEs.
func TestVAEGradient(t *testing.T) {
	rows := unitTensor(rand.New(rand.NewPCG(5, 6)), 6, 10)
	imgs := unitTensor(rand.New(rand.NewPCG(3, 4)), 3, 1, 8, 8)
	dense := gradCheck{stride: 3, eps: 1e-2, atol: 3e-3, rtol: 2e-2, min: 20}
	conv := gradCheck{stride: 7, eps: 2e-3, atol: 2e-4, rtol: 2e-2, min: 20}
	for _, tc := range []struct {
		name     string
		cfg      func(t *testing.T) Config
		beta     float64
		klWeight float64 // 0: β
		binarize bool
		x        *tensor.Tensor
		check    gradCheck
	}{
		{"bernoulli", func(t *testing.T) Config { return smallVAE(t, LikelihoodBernoulli) }, 1, 0, false, rows, dense},
		{"bernoulli-beta4-warmup", func(t *testing.T) Config { return smallVAE(t, LikelihoodBernoulli) }, 4, 1.2, false, rows, dense},
		{"bernoulli-binarized", func(t *testing.T) Config { return smallVAE(t, LikelihoodBernoulli) }, 1, 0, true, rows, dense},
		{"gaussian", func(t *testing.T) Config { return smallVAE(t, LikelihoodGaussian) }, 1, 0, false, rows, dense},
		{"conv-bernoulli", func(t *testing.T) Config { return smoothConvVAE(LikelihoodBernoulli) }, 1, 0.7, false, imgs, conv},
		{"conv-bernoulli-binarized", func(t *testing.T) Config { return smoothConvVAE(LikelihoodBernoulli) }, 1, 0, true, imgs, conv},
		{"conv-gaussian", func(t *testing.T) Config { return smoothConvVAE(LikelihoodGaussian) }, 1, 0.7, false, imgs, conv},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.cfg(t)
			c.Beta, c.Binarize = tc.beta, tc.binarize
			m := newModel(t, c, 3)
			if tc.klWeight != 0 {
				m.SetKLWeight(tc.klWeight)
			}
			if lv := m.vae.logvar; lv != nil {
				// away from the initial 0, inside the clamp
				for i := range lv.W {
					lv.W[i] = float32(i%3)*0.3 - 0.8
				}
			}
			checkStepGradient(t, m, tc.x, tc.x, tc.check)
		})
	}
}

// TestVAELoss: the validation loss is reproducible and weighs the KL term
// by β whatever the warm-up weight; the KL term is not negative.
func TestVAELoss(t *testing.T) {
	x := unitTensor(rand.New(rand.NewPCG(1, 1)), 4, 10)
	c := smallVAE(t, LikelihoodBernoulli)
	m := newModel(t, c, 2)
	a, err := m.Loss(x, x)
	if err != nil {
		t.Fatal(err)
	}
	m.SetKLWeight(0)
	if b, _ := m.Loss(x, x); b != a {
		t.Errorf("validation loss %g after SetKLWeight(0), %g before; want it unchanged", b, a)
	}
	step := func(w float64) float64 {
		m.SetKLWeight(w)
		m.SeedNoise(1, 1)
		l, err := m.TrainStep(x, x)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	if l0, l1 := step(0), step(1); !(l1 > l0) {
		t.Errorf("training loss %g with KL weight 1, %g with 0; want the KL term to add", l1, l0)
	}
	m.SetKLWeight(1)
	m.SeedNoise(1, 1)
	l1, _ := m.TrainStep(x, x)
	m.SeedNoise(1, 1)
	l2, _ := m.TrainStep(x, x)
	if l1 != l2 {
		t.Errorf("two steps from the same noise seed: %g, %g", l1, l2)
	}
	// Encode gives the mean: the first half of the encoder's output
	mu, err := m.Encode(nil, x)
	if err != nil {
		t.Fatal(err)
	}
	n := m.nets[shapeKey([]int{10})]
	h := x
	for _, l := range n.net.Layers[:m.nEnc] {
		h = l.Forward(h, false)
	}
	for i := range 4 {
		if !slices.Equal(mu.Data[i*3:i*3+3], h.Data[i*6:i*6+3]) {
			t.Fatalf("Encode row %d = %v; want the mean %v", i, mu.Data[i*3:i*3+3], h.Data[i*6:i*6+3])
		}
	}
}

// TestVAELogLikelihood checks the importance-sampling estimate against
// log p(x) integrated numerically over a one-dimensional code.
func TestVAELogLikelihood(t *testing.T) {
	c := denseConfig(t, []int{6}, true, Dense{Hidden: []int{5}, Code: 1, Activation: "tanh", Variational: true})
	m := newModel(t, c, 4)
	x := tensor.From([]float32{1, 0, 1, 1, 0, 0, 0, 0, 1, 0, 1, 1}, 2, 6)
	k := 20000
	if testing.Short() {
		k = 5000
	}
	logp, elbo, err := m.LogLikelihood(x, k, 1000, rand.New(rand.NewPCG(1, 2)))
	if err != nil {
		t.Fatal(err)
	}
	// Exact: p(x) = ∫ p(x|z) N(z; 0, 1) dz on a fine grid.
	const lo, hi, steps = -9.0, 9.0, 18000
	dz := (hi - lo) / steps
	z := tensor.New(steps+1, 1)
	for i := range z.Data {
		z.Data[i] = float32(lo + float64(i)*dz)
	}
	probs, err := m.Decode(nil, z)
	if err != nil {
		t.Fatal(err)
	}
	for r := range 2 {
		var p float64
		for i := 0; i <= steps; i++ {
			zv := float64(z.Data[i])
			lik := 1.0
			for j := range 6 {
				q := float64(probs.Data[i*6+j])
				if x.Data[r*6+j] == 1 {
					lik *= q
				} else {
					lik *= 1 - q
				}
			}
			p += lik * math.Exp(-zv*zv/2) / math.Sqrt(2*math.Pi) * dz
		}
		exact := math.Log(p)
		if math.Abs(logp[r]-exact) > 0.02 {
			t.Errorf("row %d: IS estimate %.4f, exact %.4f", r, logp[r], exact)
		}
		if elbo[r] > logp[r] {
			t.Errorf("row %d: ELBO %.4f above the log-likelihood estimate %.4f", r, elbo[r], logp[r])
		}
	}
	// One sample: the estimate is that sample's log weight, the ELBO.
	lp1, e1, err := m.LogLikelihood(x, 1, 1, rand.New(rand.NewPCG(1, 2)))
	if err != nil {
		t.Fatal(err)
	}
	for r := range lp1 {
		if math.Abs(lp1[r]-e1[r]) > 1e-9 {
			t.Errorf("k=1 row %d: estimate %g, ELBO %g; want equal", r, lp1[r], e1[r])
		}
	}
	// The chunk size bounds memory, not the result.
	a, _, _ := m.LogLikelihood(x, 50, 16, rand.New(rand.NewPCG(2, 2)))
	b, _, _ := m.LogLikelihood(x, 50, 7, rand.New(rand.NewPCG(2, 2)))
	for r := range a {
		if math.Abs(a[r]-b[r]) > 1e-9*math.Abs(a[r]) {
			t.Errorf("row %d: log p %v in chunks of 16, %v in chunks of 7", r, a[r], b[r])
		}
	}
	if _, _, err := m.LogLikelihood(x, 0, 1, rand.New(rand.NewPCG(1, 2))); err == nil {
		t.Error("LogLikelihood with k=0: no error")
	}
}

// TestVAEGaussianLogLikelihood: a conv Gaussian VAE's estimate is finite
// with the ELBO below it, and the same for images as for their flat rows,
// in any chunk size.
func TestVAEGaussianLogLikelihood(t *testing.T) {
	m := newModel(t, smallConvVAE(LikelihoodGaussian), 5)
	m.vae.logvar.W[0] = -1
	x := unitTensor(rand.New(rand.NewPCG(1, 3)), 3, 1, 8, 8)
	a, ea, err := m.LogLikelihood(x, 40, 9, rand.New(rand.NewPCG(4, 4)))
	if err != nil {
		t.Fatal(err)
	}
	b, _, err := m.LogLikelihood(tensor.From(x.Data, 3, 64), 40, 40, rand.New(rand.NewPCG(4, 4)))
	if err != nil {
		t.Fatal(err)
	}
	for r := range a {
		if math.IsNaN(a[r]) || math.IsInf(a[r], 0) || !(ea[r] <= a[r]) {
			t.Errorf("row %d: log p %v, ELBO %v; want finite, ELBO ≤ log p", r, a[r], ea[r])
		}
		if math.Abs(a[r]-b[r]) > 1e-9*math.Abs(a[r]) {
			t.Errorf("row %d: log p %v of images, %v of flat rows", r, a[r], b[r])
		}
	}
}

func TestVAESample(t *testing.T) {
	for _, tc := range []struct {
		name  string
		cfg   func(t *testing.T) Config
		shape []int
		unit  bool
	}{
		{"dense-bernoulli", func(t *testing.T) Config { return smallVAE(t, LikelihoodBernoulli) }, []int{5, 10}, true},
		{"dense-gaussian", func(t *testing.T) Config { return smallVAE(t, LikelihoodGaussian) }, []int{5, 10}, false},
		{"conv-bernoulli", func(t *testing.T) Config { return smallConvVAE(LikelihoodBernoulli) }, []int{5, 1, 8, 8}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newModel(t, tc.cfg(t), 1)
			s, err := m.Sample(5, rand.New(rand.NewPCG(3, 3)))
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(s.Shape, tc.shape) {
				t.Errorf("samples have shape %v; want %v", s.Shape, tc.shape)
			}
			for _, v := range s.Data {
				if math.IsNaN(float64(v)) || tc.unit && !(v >= 0 && v <= 1) {
					t.Fatalf("sample value %v; want a probability", v)
				}
			}
			s2, _ := m.Sample(5, rand.New(rand.NewPCG(3, 3)))
			if !equalTensors(s, s2) {
				t.Error("samples from the same seed differ")
			}
		})
	}
}

// trainSteps runs n Adam steps on batches from next, reseeding the noise
// per step as package train does.
func trainSteps(t *testing.T, m *Model, n int, lr float64, next func(step int) *tensor.Tensor) {
	t.Helper()
	opt := optim.NewAdam(lr, 0.9, 0.999, 1e-8, 0)
	for step := 1; step <= n; step++ {
		x := next(step)
		m.SeedNoise(1, uint64(step))
		m.Params.ZeroGrad()
		if _, err := m.TrainStep(x, x); err != nil {
			t.Fatal(err)
		}
		opt.Step(m.Params.W, m.Params.G)
	}
}

// twoClusters is a batch of 8-feature rows, even rows bright on the left
// half and odd rows on the right.
func twoClusters(n int) *tensor.Tensor {
	x := tensor.New(n, 8)
	for i := range n {
		for j := range 8 {
			if (j < 4) == (i%2 == 0) {
				x.Data[i*8+j] = 0.95
			} else {
				x.Data[i*8+j] = 0.05
			}
		}
	}
	return x
}

// TestVAEFits trains a VAE on a toy set with two clusters and checks that
// the loss falls and the codes separate the clusters.
func TestVAEFits(t *testing.T) {
	if testing.Short() {
		t.Skip("convergence test")
	}
	m := newModel(t, denseConfig(t, []int{8}, true, Dense{Hidden: []int{16}, Code: 2, Variational: true}), 1)
	x := twoClusters(64)
	first, err := m.Loss(x, x)
	if err != nil {
		t.Fatal(err)
	}
	trainSteps(t, m, 600, 0.01, func(int) *tensor.Tensor { return x })
	last, _ := m.Loss(x, x)
	t.Logf("negative ELBO %.3f → %.3f", first, last)
	if last > 0.7*first {
		t.Errorf("loss %g → %g; want it to fall by 30%%", first, last)
	}
	mu, err := m.Encode(nil, x)
	if err != nil {
		t.Fatal(err)
	}
	d := math.Hypot(float64(mu.Data[0]-mu.Data[2]), float64(mu.Data[1]-mu.Data[3]))
	t.Logf("codes of the clusters %.3f apart", d)
	if d < 0.5 {
		t.Errorf("codes of the two clusters are %g apart; want them separated", d)
	}
}

// TestConvVAEFits trains a small conv VAE on binarised images of two
// kinds and checks the negative ELBO falls.
func TestConvVAEFits(t *testing.T) {
	if testing.Short() {
		t.Skip("convergence test")
	}
	c := smallConvVAE(LikelihoodBernoulli)
	c.Binarize = true
	m := newModel(t, c, 5)
	protos := [2][]float32{make([]float32, 64), make([]float32, 64)}
	for i := range 64 {
		if i%8 < 4 {
			protos[0][i] = 0.95
		} else {
			protos[1][i] = 0.95
		}
	}
	rng := rand.New(rand.NewPCG(1, 1))
	fill := func(x *tensor.Tensor) *tensor.Tensor {
		for i := range x.Rows() {
			copy(x.Data[i*64:(i+1)*64], protos[rng.IntN(2)])
		}
		return x
	}
	probe := fill(tensor.New(8, 1, 8, 8))
	before, err := m.Loss(probe, probe)
	if err != nil {
		t.Fatal(err)
	}
	batch := tensor.New(16, 1, 8, 8)
	trainSteps(t, m, 180, 3e-3, func(step int) *tensor.Tensor {
		m.SetKLWeight(min(1, float64(step)/60)) // KL warm-up over the first third
		return fill(batch)
	})
	after, _ := m.Loss(probe, probe)
	t.Logf("negative ELBO %.3f → %.3f", before, after)
	if !(after < before*0.8) {
		t.Errorf("negative ELBO %.3f → %.3f; want it to fall by 20%%", before, after)
	}
	lp, elbo, err := m.LogLikelihood(probe, 50, 16, rand.New(rand.NewPCG(2, 2)))
	if err != nil {
		t.Fatal(err)
	}
	for i := range lp {
		if !(lp[i] >= elbo[i]) || lp[i] > 0 {
			t.Errorf("row %d: log p %v, ELBO %v; want ELBO ≤ log p ≤ 0", i, lp[i], elbo[i])
		}
	}
}

// TestConvVAEGaussianFits trains a Gaussian conv VAE on grey ramps and
// checks the negative ELBO falls and the learned variance shrinks below 1.
func TestConvVAEGaussianFits(t *testing.T) {
	if testing.Short() {
		t.Skip("convergence test")
	}
	m := newModel(t, smallConvVAE(LikelihoodGaussian), 5)
	rng := rand.New(rand.NewPCG(1, 1))
	fill := func(x *tensor.Tensor) *tensor.Tensor {
		for i := range x.Rows() {
			v := float32(0.2 + 0.6*rng.Float64())
			for j := range 64 {
				x.Data[i*64+j] = v * float32(j%8) / 8
			}
		}
		return x
	}
	probe := fill(tensor.New(8, 1, 8, 8))
	before, _ := m.Loss(probe, probe)
	batch := tensor.New(16, 1, 8, 8)
	trainSteps(t, m, 400, 3e-3, func(int) *tensor.Tensor { return fill(batch) })
	after, _ := m.Loss(probe, probe)
	t.Logf("negative ELBO %.2f → %.2f nats, log-variance %.3f", before, after, m.vae.logvar.W[0])
	if !(after < before-20) {
		t.Errorf("negative ELBO %.2f → %.2f nats; want a clear fall", before, after)
	}
	if lv := m.vae.logvar.W[0]; !(lv < -0.3) { // Adam moves it at most ~lr per step
		t.Errorf("learned log-variance %v; want it well below 0 for data this regular", lv)
	}
}
