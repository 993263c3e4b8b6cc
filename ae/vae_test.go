package ae

import (
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/bottleneck-ml/bottleneck/tensor"
)

func vaeConfig(likelihood string) Config {
	c := Config{Arch: ArchVAE, InputShape: []int{10}, Hidden: []int{7}, Code: 3, Activation: "tanh", Likelihood: likelihood}
	c.Defaults(likelihood == LikelihoodBernoulli)
	return c
}

// checkStepGradient compares the gradient TrainStep accumulates with
// central differences of the same step's loss. The noise is reseeded
// before every evaluation, so the loss is a deterministic function of the
// weights (the reparameterisation makes ε an input, not a random choice).
func checkStepGradient(t *testing.T, m *Model, x *tensor.Tensor) {
	t.Helper()
	loss := func() float64 {
		m.SeedNoise(11, 5)
		m.Params.ZeroGrad()
		return m.TrainStep(x, x)
	}
	loss()
	grad := slices.Clone(m.Params.G)
	const eps = 1e-2
	checked := 0
	for i := 0; i < m.Params.Len(); i += 3 {
		w := m.Params.W[i]
		m.Params.W[i] = w + eps
		lp := loss()
		m.Params.W[i] = w - eps
		lm := loss()
		m.Params.W[i] = w
		num := (lp - lm) / (2 * eps)
		if d := math.Abs(num - float64(grad[i])); d > 3e-3+2e-2*math.Abs(num) {
			t.Errorf("param %d (%s): analytic %g, numeric %g", i, paramName(m, i), grad[i], num)
		}
		checked++
	}
	if checked < 20 {
		t.Fatalf("checked only %d parameters", checked)
	}
}

func paramName(m *Model, i int) string {
	off := 0
	for _, p := range m.Params.Params {
		if i < off+p.Size() {
			return p.Name
		}
		off += p.Size()
	}
	return "?"
}

func TestVAEGradient(t *testing.T) {
	for _, tc := range []struct {
		name, lik string
		beta      float64
		binarize  bool
	}{
		{"bernoulli", LikelihoodBernoulli, 1, false},
		{"bernoulli-beta4-warmup", LikelihoodBernoulli, 4, false},
		{"bernoulli-binarized", LikelihoodBernoulli, 1, true},
		{"gaussian", LikelihoodGaussian, 1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := vaeConfig(tc.lik)
			c.Beta, c.Binarize = tc.beta, tc.binarize
			m, err := New(c, 3)
			if err != nil {
				t.Fatal(err)
			}
			if tc.name == "bernoulli-beta4-warmup" {
				m.SetKLWeight(0.3 * tc.beta)
			}
			if m.vae.logvar != nil {
				for i := range m.vae.logvar.W {
					m.vae.logvar.W[i] = float32(i%3) * 0.3
				}
			}
			x := randomBatch(rand.New(rand.NewPCG(5, 6)), 6, 10)
			checkStepGradient(t, m, x)
		})
	}
}

func TestSparsityGradient(t *testing.T) {
	for _, sp := range []string{"l1:0.05", "kl:0.1:0.5"} {
		t.Run(sp, func(t *testing.T) {
			c := testConfig()
			c.Activation = "tanh"
			c.Sparsity = sp
			if strings.HasPrefix(sp, "kl") {
				c.CodeActivation = "sigmoid"
			}
			m, err := New(c, 7)
			if err != nil {
				t.Fatal(err)
			}
			x := randomBatch(rand.New(rand.NewPCG(3, 4)), 5, 12)
			checkStepGradient(t, m, x)
			// The penalty is part of the loss.
			plain := c
			plain.Sparsity = ""
			pm, _ := New(plain, 7)
			if m.Loss(x, x) <= pm.Loss(x, x) {
				t.Errorf("loss with %s = %g, without %g; want the penalty added", sp, m.Loss(x, x), pm.Loss(x, x))
			}
		})
	}
}

func TestSparsityParse(t *testing.T) {
	for _, tc := range []struct {
		spec, codeAct, err string
	}{
		{"l1:1e-4", "", ""},
		{"kl:0.05:3", "sigmoid", ""},
		{"kl:0.05:3", "identity", "code-activation sigmoid"},
		{"l1", "", "want l1:λ"},
		{"l1:-1", "", "non-negative"},
		{"kl:1.5:1", "sigmoid", "(0, 1)"},
		{"l2:1", "", "want l1:λ"},
		{"l1:NaN", "", "non-negative"},
	} {
		c := testConfig()
		c.Sparsity = tc.spec
		if tc.codeAct != "" {
			c.CodeActivation = tc.codeAct
		}
		err := c.Validate()
		if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("Validate(sparsity %q) = %v; want error containing %q", tc.spec, err, tc.err)
		}
	}
}

func TestVAEValidate(t *testing.T) {
	for _, tc := range []struct {
		mod func(*Config)
		err string
	}{
		{func(c *Config) {}, ""},
		{func(c *Config) { c.Likelihood = "poisson" }, "likelihood"},
		{func(c *Config) { c.Output = "identity" }, "sigmoid output"},
		{func(c *Config) { c.Loss = "mse" }, "ELBO"},
		{func(c *Config) { c.Beta = -1 }, "beta"},
		{func(c *Config) { c.Sparsity = "l1:1" }, "sparsity"},
		{func(c *Config) { c.Code = 0 }, "code size"},
		{func(c *Config) { c.CodeActivation = "relu" }, "Gaussian"},
	} {
		c := vaeConfig(LikelihoodBernoulli)
		tc.mod(&c)
		err := c.Validate()
		if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("Validate(%+v) = %v; want error containing %q", c, err, tc.err)
		}
	}
}

func TestVAESaveLoad(t *testing.T) {
	for _, lik := range []string{LikelihoodBernoulli, LikelihoodGaussian} {
		c := vaeConfig(lik)
		m, err := New(c, 9)
		if err != nil {
			t.Fatal(err)
		}
		if m.vae.logvar != nil {
			m.vae.logvar.W[2] = 0.7
		}
		if got, want := m.NumParams(), c.ParamCount(); got != want {
			t.Errorf("%s: %d parameters, ParamCount says %d", lik, got, want)
		}
		p := filepath.Join(t.TempDir(), "vae.safetensors")
		if err := m.Save(p); err != nil {
			t.Fatal(err)
		}
		l, err := Load(p)
		if err != nil {
			t.Fatal(err)
		}
		if !l.IsVAE() || !slices.Equal(l.Params.W, m.Params.W) {
			t.Fatalf("%s: loaded model differs", lik)
		}
		x := randomBatch(rand.New(rand.NewPCG(1, 1)), 4, 10)
		mu := slices.Clone(m.Encode(x).Data)
		dist := m.EncodeDist(x)
		for i := 0; i < 4; i++ {
			if !slices.Equal(mu[i*3:i*3+3], dist.Data[i*6:i*6+3]) {
				t.Fatalf("Encode row %d = %v; want the mean %v", i, mu[i*3:i*3+3], dist.Data[i*6:i*6+3])
			}
		}
		if got := l.Encode(x).Data; !slices.Equal(got, mu) {
			t.Errorf("%s: loaded model encodes differently", lik)
		}
		if r := m.Reconstruct(x); r.Cols() != 10 {
			t.Errorf("reconstruction shape %v", r.Shape)
		}
	}
}

// TestVAELogLikelihood checks the importance-sampling estimate against
// log p(x) integrated numerically over a one-dimensional code.
func TestVAELogLikelihood(t *testing.T) {
	c := Config{Arch: ArchVAE, InputShape: []int{6}, Hidden: []int{5}, Code: 1, Activation: "tanh"}
	c.Defaults(true)
	m, err := New(c, 4)
	if err != nil {
		t.Fatal(err)
	}
	x := tensor.From([]float32{1, 0, 1, 1, 0, 0, 0, 0, 1, 0, 1, 1}, 2, 6)
	logp, elbo, err := m.LogLikelihood(x, 20000, 1000, rand.New(rand.NewPCG(1, 2)))
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
	probs := m.Decode(z)
	for r := 0; r < 2; r++ {
		var p float64
		for i := 0; i <= steps; i++ {
			zv := float64(z.Data[i])
			lik := 1.0
			for j := 0; j < 6; j++ {
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
	lp1, e1, _ := m.LogLikelihood(x, 1, 1, rand.New(rand.NewPCG(1, 2)))
	for r := range lp1 {
		if math.Abs(lp1[r]-e1[r]) > 1e-9 {
			t.Errorf("k=1 row %d: estimate %g, ELBO %g; want equal", r, lp1[r], e1[r])
		}
	}
	if _, _, err := m.LogLikelihood(x, 0, 1, rand.New(rand.NewPCG(1, 2))); err == nil {
		t.Error("LogLikelihood with k=0: no error")
	}
	plain, _ := New(testConfig(), 1)
	if _, _, err := plain.LogLikelihood(x, 5, 5, rand.New(rand.NewPCG(1, 2))); err == nil {
		t.Error("LogLikelihood of a plain autoencoder: no error")
	}
}

// TestVAEFits trains a VAE on a toy set with two clusters and checks that
// the loss falls and the codes separate the clusters.
func TestVAEFits(t *testing.T) {
	if testing.Short() {
		t.Skip("convergence test")
	}
	c := Config{Arch: ArchVAE, InputShape: []int{8}, Hidden: []int{16}, Code: 2}
	c.Defaults(true)
	m, err := New(c, 1)
	if err != nil {
		t.Fatal(err)
	}
	x := tensor.New(64, 8)
	for i := 0; i < 64; i++ {
		for j := 0; j < 8; j++ {
			if (j < 4) == (i%2 == 0) {
				x.Data[i*8+j] = 0.95
			} else {
				x.Data[i*8+j] = 0.05
			}
		}
	}
	first := m.Loss(x, x)
	adamW, adamM, adamV := m.Params.W, make([]float64, m.Params.Len()), make([]float64, m.Params.Len())
	for step := 1; step <= 600; step++ {
		m.SeedNoise(1, uint64(step))
		m.Params.ZeroGrad()
		m.TrainStep(x, x)
		for i, g := range m.Params.G {
			adamM[i] = 0.9*adamM[i] + 0.1*float64(g)
			adamV[i] = 0.999*adamV[i] + 0.001*float64(g)*float64(g)
			mh := adamM[i] / (1 - math.Pow(0.9, float64(step)))
			vh := adamV[i] / (1 - math.Pow(0.999, float64(step)))
			adamW[i] -= float32(0.01 * mh / (math.Sqrt(vh) + 1e-8))
		}
	}
	last := m.Loss(x, x)
	if last > 0.7*first {
		t.Errorf("loss %g → %g; want it to fall by 30%%", first, last)
	}
	mu := m.Encode(x)
	d0 := math.Hypot(float64(mu.Data[0]-mu.Data[2]), float64(mu.Data[1]-mu.Data[3]))
	if d0 < 0.5 {
		t.Errorf("codes of the two clusters are %g apart; want them separated", d0)
	}
}

// TestVAEStepAllocs: after the first, a dense VAE training step allocates
// nothing (both likelihoods).
func TestVAEStepAllocs(t *testing.T) {
	for _, lik := range []string{LikelihoodBernoulli, LikelihoodGaussian} {
		c := vaeConfig(lik)
		m, err := New(c, 1)
		if err != nil {
			t.Fatal(err)
		}
		x := unitTensor(rand.New(rand.NewPCG(1, 2)), 5, 10)
		step := func() {
			m.SeedNoise(1, 1)
			m.Params.ZeroGrad()
			m.TrainStep(x, x)
		}
		step()
		if n := testing.AllocsPerRun(10, step); n != 0 {
			t.Errorf("%s: %v allocations per training step", lik, n)
		}
	}
}
