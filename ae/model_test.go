package ae

import (
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/bottleneck-ml/bottleneck/nn"
	"github.com/bottleneck-ml/bottleneck/tensor"
)

func TestDenseConfigDefaults(t *testing.T) {
	for _, tc := range []struct {
		name      string
		unitRange bool
		d         Dense
		enc, dec  []string
		loss, lik string
	}{
		{"unit-range", true, Dense{Hidden: []int{3}, Code: 2},
			[]string{"dense:3", "relu", "dense:2", "identity"}, []string{"dense:3", "relu", "dense:4", "sigmoid"}, LossBCE, ""},
		{"standardised", false, Dense{Hidden: []int{3}, Code: 2},
			[]string{"dense:3", "relu", "dense:2", "identity"}, []string{"dense:3", "relu", "dense:4", "identity"}, LossMSE, ""},
		{"decoder-widths", false, Dense{Hidden: []int{3}, Code: 2, DecoderHidden: []int{5, 6}, Dropout: 0.25, Activation: "tanh"},
			[]string{"dense:3", "tanh", "dropout:0.25", "dense:2", "identity"},
			[]string{"dense:5", "tanh", "dropout:0.25", "dense:6", "tanh", "dropout:0.25", "dense:4", "identity"}, LossMSE, ""},
		{"vae-unit-range", true, Dense{Hidden: []int{3}, Code: 2, Variational: true},
			[]string{"dense:3", "relu", "dense:4"}, []string{"dense:3", "relu", "dense:4", "sigmoid"}, LossELBO, LikelihoodBernoulli},
		{"vae-standardised", false, Dense{Hidden: []int{3}, Code: 2, Variational: true},
			[]string{"dense:3", "relu", "dense:4"}, []string{"dense:3", "relu", "dense:4", "identity"}, LossELBO, LikelihoodGaussian},
		{"mse-override", true, Dense{Hidden: []int{3}, Code: 2, Loss: LossMSE},
			[]string{"dense:3", "relu", "dense:2", "identity"}, []string{"dense:3", "relu", "dense:4", "sigmoid"}, LossMSE, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := denseConfig(t, []int{4}, tc.unitRange, tc.d)
			if !slices.Equal(c.Encoder, tc.enc) || !slices.Equal(c.Decoder, tc.dec) {
				t.Errorf("layers %v | %v; want %v | %v", c.Encoder, c.Decoder, tc.enc, tc.dec)
			}
			if c.Loss != tc.loss || c.Likelihood != tc.lik {
				t.Errorf("loss %q, likelihood %q; want %q, %q", c.Loss, c.Likelihood, tc.loss, tc.lik)
			}
			if c.Variational && c.Beta != 1 {
				t.Errorf("beta %v; want 1", c.Beta)
			}
			if _, err := New(c, 1); err != nil {
				t.Errorf("New: %v", err)
			}
		})
	}
}

func TestDenseConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		d    Dense
		want string
	}{
		{Dense{Hidden: []int{3}, Code: 0}, "code size"},
		{Dense{Hidden: []int{0}, Code: 2}, "hidden width"},
		{Dense{Hidden: []int{3}, Code: 2, DecoderHidden: []int{-1}}, "hidden width"},
		{Dense{Hidden: []int{3}, Code: 2, Activation: "swish"}, "unknown activation"},
		{Dense{Hidden: []int{3}, Code: 2, Output: "swish"}, "unknown activation"},
		{Dense{Hidden: []int{3}, Code: 2, Dropout: 1}, "dropout"},
		{Dense{Hidden: []int{3}, Code: 2, Dropout: math.NaN()}, "dropout"},
		{Dense{Hidden: []int{3}, Code: 2, Variational: true, CodeActivation: "relu"}, "Gaussian"},
	} {
		if _, err := DenseConfig([]int{4}, true, tc.d); !wantErr(err, tc.want) {
			t.Errorf("DenseConfig(%+v) = %v; want an error mentioning %q", tc.d, err, tc.want)
		}
	}
}

// TestDenseMNISTShape: dense-mnist (784 → 512 → 256 → 64 and back) has
// 1,100,112 parameters.
func TestDenseMNISTShape(t *testing.T) {
	m := newModel(t, denseConfig(t, []int{784}, true, Dense{Hidden: []int{512, 256}, Code: 64}), 1)
	if m.NumParams() != 1100112 {
		t.Errorf("dense-mnist has %d parameters; want 1,100,112", m.NumParams())
	}
	if m.CodeSize() != 64 {
		t.Errorf("code size %d; want 64", m.CodeSize())
	}
}

func TestKindAndSummary(t *testing.T) {
	vae := smallVAE(t, LikelihoodBernoulli)
	for _, tc := range []struct {
		c             Config
		kind, summary string
	}{
		{smallDense(t), "dense", "dense 12 → 8 → 6 → 3 → 6 → 8 → 12"},
		{vae, "vae", "variational dense 10 → 7 → 3 → 7 → 10"},
		{smallConvVAE(LikelihoodBernoulli), "conv-vae", "variational convolutional, 9 layers"},
		{residualBN(), "conv", "convolutional, 7 layers"},
	} {
		if got := tc.c.Kind(); got != tc.kind {
			t.Errorf("Kind(%v) = %q; want %q", tc.c.Encoder, got, tc.kind)
		}
		if got := tc.c.Summary(); got != tc.summary {
			t.Errorf("Summary(%v) = %q; want %q", tc.c.Encoder, got, tc.summary)
		}
	}
}

// TestValidate lists the configs New refuses and what the error says;
// every one wraps ErrConfig.
func TestValidate(t *testing.T) {
	dense := func(mod func(*Config)) func(t *testing.T) Config {
		return func(t *testing.T) Config {
			c := smallDense(t)
			mod(&c)
			return c
		}
	}
	vae := func(mod func(*Config)) func(t *testing.T) Config {
		return func(t *testing.T) Config {
			c := smallVAE(t, LikelihoodBernoulli)
			mod(&c)
			return c
		}
	}
	conv := func(mod func(*Config)) func(t *testing.T) Config {
		return func(t *testing.T) Config {
			c := residualBN()
			mod(&c)
			return c
		}
	}
	convVAE := func(mod func(*Config)) func(t *testing.T) Config {
		return func(t *testing.T) Config {
			c := preset(t, "mnist-vae-conv:8", 1)
			c.Encoder = slices.Clone(c.Encoder)
			c.Decoder = slices.Clone(c.Decoder)
			mod(&c)
			return c
		}
	}
	colour := func(mod func(*Config)) func(t *testing.T) Config {
		return func(t *testing.T) Config {
			c := preset(t, "colorize-classes:4", 1)
			mod(&c)
			return c
		}
	}
	for _, tc := range []struct {
		name string
		cfg  func(t *testing.T) Config
		want string
	}{
		{"loss", dense(func(c *Config) { c.Loss = "hinge" }), `loss "hinge"`},
		{"ab-classes-without-abmean", conv(func(c *Config) { c.Residual = false; c.Loss = LossABClasses }), "abmean"},
		{"class-weights-count", colour(func(c *Config) { c.ClassWeights = []float32{1, 2} }), "2 class weights"},
		{"class-weights-nan", colour(func(c *Config) {
			c.ClassWeights = make([]float32, nn.ABClassCount())
			c.ClassWeights[3] = float32(math.NaN())
		}), "finite, non-negative"},
		{"class-weights-mse", colour(func(c *Config) {
			c.ClassWeights = make([]float32, nn.ABClassCount())
			c.Loss = LossMSE
		}), "ab-classes loss"},
		{"bce-without-sigmoid", dense(func(c *Config) { c.Decoder[len(c.Decoder)-1] = "identity" }), "sigmoid output"},
		{"bce-residual", dense(func(c *Config) { c.Residual = true }), "residual"},
		{"binarize-plain", dense(func(c *Config) { c.Binarize = true }), "variational models"},
		{"likelihood-plain", dense(func(c *Config) { c.Likelihood = LikelihoodGaussian }), "variational models"},
		{"no-layers", dense(func(c *Config) { c.Encoder, c.Decoder = nil, nil }), "layers"},
		{"input-rank", dense(func(c *Config) { c.Input = []int{3, 4} }), "[D] or [C H W]"},
		{"input-zero", dense(func(c *Config) { c.Input = []int{0} }), "out of range"},
		{"bad-spec", dense(func(c *Config) { c.Encoder[1] = "swish" }), "encoder"},
		{"bad-decoder-spec", dense(func(c *Config) { c.Decoder[0] = "dense:x" }), "decoder"},
		{"output-size", dense(func(c *Config) { c.Decoder[len(c.Decoder)-2] = "dense:11" }), "gives back its input's size"},
		{"sparsity-syntax", dense(func(c *Config) { c.Sparsity = "l2:1" }), "want l1:λ"},
		{"sparsity-l1", dense(func(c *Config) { c.Sparsity = "l1" }), "want l1:λ"},
		{"sparsity-negative", dense(func(c *Config) { c.Sparsity = "l1:-1" }), "non-negative"},
		{"sparsity-nan", dense(func(c *Config) { c.Sparsity = "l1:NaN" }), "non-negative"},
		{"sparsity-rho", dense(func(c *Config) { c.Sparsity = "kl:1.5:1" }), "(0, 1)"},
		{"sparsity-kl-code", dense(func(c *Config) { c.Sparsity = "kl:0.05:3" }), "code-activation sigmoid"},
		{"vae-likelihood", vae(func(c *Config) { c.Likelihood = "poisson" }), "likelihood"},
		{"vae-no-sigmoid", vae(func(c *Config) { c.Decoder[len(c.Decoder)-1] = "identity" }), "sigmoid output"},
		{"vae-loss", vae(func(c *Config) { c.Loss = LossMSE }), "ELBO"},
		{"vae-beta", vae(func(c *Config) { c.Beta = -1 }), "beta"},
		{"vae-beta-nan", vae(func(c *Config) { c.Beta = math.NaN() }), "beta"},
		{"vae-sparsity", vae(func(c *Config) { c.Sparsity = "l1:1" }), "sparsity"},
		{"vae-residual", vae(func(c *Config) { c.Residual = true }), "residual"},
		{"vae-no-decoder", vae(func(c *Config) { c.Encoder = append(c.Encoder, c.Decoder...); c.Decoder = nil }), "an encoder and a decoder"},
		{"vae-odd-code", vae(func(c *Config) { c.Encoder[len(c.Encoder)-1] = "dense:5" }), "even number"},
		{"vae-gaussian-sigmoid", vae(func(c *Config) { c.Likelihood = LikelihoodGaussian }), "without a sigmoid"},
		{"vae-gaussian-binarize", vae(func(c *Config) {
			c.Likelihood, c.Binarize = LikelihoodGaussian, true
			c.Decoder = c.Decoder[:len(c.Decoder)-1]
		}), "Bernoulli"},
		{"conv-channels", conv(func(c *Config) { c.Channels = 0 }), "input channels"},
		{"conv-residual-channels", conv(func(c *Config) { c.Decoder[len(c.Decoder)-1] = "conv:2:3" }), "output channels"},
		{"conv-dense-any-size", conv(func(c *Config) { c.Encoder = append(c.Encoder, "flatten", "dense:4") }), "encoder"},
		{"conv-vae-any-size", conv(func(c *Config) { c.Variational, c.Residual, c.Loss = true, false, LossELBO }), "fixed input shape"},
		{"conv-huge-probe", conv(func(c *Config) {
			c.Encoder = []string{"conv:1:3:s64", "conv:1:3:s64", "conv:1:3:s64"}
			c.Decoder = []string{"upsample:64", "upsample:64", "upsample:64", "conv:1:3"}
		}), "too large to build"},
		{"conv-huge-channels", conv(func(c *Config) {
			c.Encoder = []string{"unshuffle:1024", "bn"}
			c.Decoder = []string{"shuffle:1024"}
		}), "channels"},
		{"conv-vae-odd-code", convVAE(func(c *Config) { c.Encoder[len(c.Encoder)-1] = "dense:7" }), "even number"},
		{"conv-vae-mse", convVAE(func(c *Config) { c.Loss = LossMSE }), "ELBO"},
		{"conv-vae-no-shape", convVAE(func(c *Config) { c.Input, c.Channels = nil, 1 }), "fixed input shape"},
		{"conv-vae-beta", convVAE(func(c *Config) { c.Beta = -1 }), "beta"},
		{"conv-binarize-ae", convVAE(func(c *Config) { c.Variational, c.Binarize, c.Loss, c.Likelihood = false, true, LossMSE, "" }), "variational models"},
		{"conv-vae-gaussian-sigmoid", convVAE(func(c *Config) { c.Likelihood = LikelihoodGaussian }), "without a sigmoid"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.cfg(t)
			_, err := New(c, 1)
			if !wantErr(err, tc.want) {
				t.Fatalf("New(%+v) = %v; want an error mentioning %q", c, err, tc.want)
			}
			if !errors.Is(err, ErrConfig) {
				t.Errorf("New(%+v) = %v; want it to wrap ErrConfig", c, err)
			}
		})
	}
	// the bases are valid
	for _, c := range []Config{smallDense(t), smallVAE(t, LikelihoodBernoulli), residualBN(), preset(t, "mnist-vae-conv:8", 1)} {
		if err := c.Validate(); err != nil {
			t.Errorf("Validate(%v): %v", c.Encoder, err)
		}
	}
}

func TestPresetsBuild(t *testing.T) {
	for _, tc := range []struct {
		name    string
		in, out []int // per-sample input and output shapes
		params  int   // 0: not checked
	}{
		{"restore", []int{1, 16, 16}, []int{1, 16, 16}, 0},
		{"restore:4:8", []int{1, 16, 12}, []int{1, 16, 12}, 0},
		{"colorize:8", []int{1, 16, 16}, []int{2, 16, 16}, 0},
		{"mnist-conv:16", []int{1, 28, 28}, []int{1, 28, 28}, 0},
		{"mnist-vae-conv:8", []int{1, 28, 28}, []int{1, 28, 28}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := preset(t, tc.name, 1)
			m := newModel(t, c, 1)
			x := unitTensor(rand.New(rand.NewPCG(1, 1)), append([]int{2}, tc.in...)...)
			y, err := m.Reconstruct(nil, x)
			if err != nil {
				t.Fatal(err)
			}
			if want := append([]int{2}, tc.out...); !slices.Equal(y.Shape, want) {
				t.Errorf("output %v; want %v", y.Shape, want)
			}
			if m.OutChannels() != tc.out[0] {
				t.Errorf("OutChannels() = %d; want %d", m.OutChannels(), tc.out[0])
			}
			for _, v := range y.Data {
				if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
					t.Fatalf("output holds %v", v)
				}
			}
		})
	}
	if c := preset(t, "restore:4:8", 3); c.Channels != 3 || c.Decoder[0] != "conv:12:3" {
		t.Errorf("restore for 3 channels: %+v", c)
	}
	for _, bad := range []string{"restore:1", "restore:x", "restore:4:0", "colorize:2000", "mnist-conv:-1", "unet"} {
		if _, err := Preset(bad, 1); err == nil || !strings.Contains(err.Error(), "preset") {
			t.Errorf("Preset(%q) = %v; want an error naming the preset", bad, err)
		}
	}
}

// TestGradient checks the weight gradients TrainStep accumulates against
// central differences of the loss, for every objective and kind of layer
// stack: dense losses, the fused sigmoid + BCE-with-logits path, dropout
// (masks fixed by SeedNoise), sparsity penalties, convolutions with
// pixel (un)shuffle and a residual, pooling, BatchNorm in training mode.
// VAEs are checked in TestVAEGradient.
func TestGradient(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	rows := unitTensor(rng, 5, 12)
	img := unitTensor(rng, 2, 1, 6, 6)
	img2 := unitTensor(rng, 2, 1, 6, 6)
	img8 := unitTensor(rng, 3, 1, 8, 8)
	smooth := gradCheck{stride: 7, eps: 1e-2, atol: 2e-3, rtol: 2e-2, min: 10}
	tanhDense := func(mod func(*Dense)) func(t *testing.T) Config {
		return func(t *testing.T) Config {
			d := Dense{Hidden: []int{8, 6}, Code: 3, Activation: "tanh"}
			mod(&d)
			return denseConfig(t, []int{12}, true, d)
		}
	}
	for _, tc := range []struct {
		name      string
		cfg       func(t *testing.T) Config
		x, target *tensor.Tensor
		check     gradCheck
	}{
		{"dense-bce", tanhDense(func(d *Dense) {}), rows, rows, smooth},
		{"dense-mse", tanhDense(func(d *Dense) { d.Loss = LossMSE }), rows, rows, smooth},
		{"dense-l1", tanhDense(func(d *Dense) { d.Loss = LossL1 }), rows, rows, smooth},
		{"dense-identity-mse", tanhDense(func(d *Dense) { d.Output = "identity" }), rows, rows, smooth},
		{"dense-dropout", tanhDense(func(d *Dense) { d.Dropout = 0.3 }), rows, rows, smooth},
		{"sparse-l1", func(t *testing.T) Config {
			c := tanhDense(func(d *Dense) {})(t)
			c.Sparsity = "l1:0.05"
			return c
		}, rows, rows, gradCheck{stride: 3, eps: 1e-2, atol: 3e-3, rtol: 2e-2, min: 20}},
		{"sparse-kl", func(t *testing.T) Config {
			c := tanhDense(func(d *Dense) { d.CodeActivation = "sigmoid" })(t)
			c.Sparsity = "kl:0.1:0.5"
			return c
		}, rows, rows, gradCheck{stride: 3, eps: 1e-2, atol: 3e-3, rtol: 2e-2, min: 20}},
		{"conv-restore", func(t *testing.T) Config { return preset(t, "restore:3:4", 1) }, img, img2,
			gradCheck{stride: 7, eps: 1e-3, atol: 1e-4, rtol: 1e-2, min: 50}},
		{"conv-bce-pool", func(t *testing.T) Config { return smallConvAE() }, img, img2,
			gradCheck{stride: 1, eps: 1e-2, atol: 1e-4, rtol: 1e-2, min: 50}},
		{"conv-bn-residual", func(t *testing.T) Config { return residualBN() }, img8, img8,
			gradCheck{stride: 3, eps: 1e-3, atol: 2e-4, rtol: 2e-2, min: 50}},
		{"conv-l1-tanh", func(t *testing.T) Config {
			return Config{Channels: 1, Encoder: []string{"unshuffle:2", "conv:6:3", "tanh"},
				Decoder: []string{"conv:8:3:d2", "tanh", "conv:4:1", "shuffle:2"}, Loss: LossL1}
		}, img, img2, gradCheck{stride: 5, eps: 1e-3, atol: 2e-4, rtol: 2e-2, min: 50}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newModel(t, tc.cfg(t), 7)
			checkStepGradient(t, m, tc.x, tc.target, tc.check)
		})
	}
}

// TestSparsityPenalty: the penalty is part of the loss, and a sparsity of
// zero weight changes nothing.
func TestSparsityPenalty(t *testing.T) {
	x := unitTensor(rand.New(rand.NewPCG(3, 4)), 5, 12)
	for _, tc := range []struct {
		sp, codeAct string
	}{
		{"l1:0.05", ""},
		{"kl:0.1:0.5", "sigmoid"},
	} {
		c := denseConfig(t, []int{12}, true, Dense{Hidden: []int{8, 6}, Code: 3, CodeActivation: tc.codeAct})
		plain := newModel(t, c, 7)
		c.Sparsity = tc.sp
		m := newModel(t, c, 7)
		lp, err := plain.Loss(x, x)
		if err != nil {
			t.Fatal(err)
		}
		l, err := m.Loss(x, x)
		if err != nil {
			t.Fatal(err)
		}
		if !(l > lp) {
			t.Errorf("loss with %s = %g, without %g; want the penalty added", tc.sp, l, lp)
		}
		m.Params.ZeroGrad()
		ls, err := m.TrainStep(x, x)
		if err != nil {
			t.Fatal(err)
		}
		if ls != l {
			t.Errorf("%s: TrainStep loss %g, Loss %g; want equal", tc.sp, ls, l)
		}
	}
}

// TestShapesAndErrors: per-sample shapes, destination reuse, and the
// errors of inputs a model does not take.
func TestShapesAndErrors(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	dense := newModel(t, smallDense(t), 1)
	x := unitTensor(rng, 4, 12)
	if s, _ := dense.CodeShape(nil); !slices.Equal(s, []int{3}) || dense.CodeSize() != 3 {
		t.Errorf("CodeShape = %v, CodeSize = %d; want [3], 3", s, dense.CodeSize())
	}
	if s, _ := dense.OutShape([]int{12}); !slices.Equal(s, []int{12}) {
		t.Errorf("OutShape = %v; want [12]", s)
	}
	z, err := dense.Encode(nil, x)
	if err != nil || !slices.Equal(z.Shape, []int{4, 3}) {
		t.Fatalf("Encode: %v, shape %v; want [4 3]", err, z.Shape)
	}
	y, err := dense.Decode(nil, z)
	if err != nil || !slices.Equal(y.Shape, []int{4, 12}) {
		t.Fatalf("Decode: %v, shape %v; want [4 12]", err, y.Shape)
	}
	r, err := dense.Reconstruct(nil, x)
	if err != nil || !slices.Equal(r.Data, y.Data) {
		t.Fatalf("Reconstruct: %v; want Decode(Encode(x))", err)
	}
	dst := tensor.New(48)
	if r2, _ := dense.Reconstruct(dst, x); r2 != dst || !slices.Equal(r2.Shape, []int{4, 12}) || !slices.Equal(r2.Data, r.Data) {
		t.Errorf("Reconstruct into a buffer of the right size: %p (shape %v), want %p reshaped", r2, r2.Shape, dst)
	}
	if r3, _ := dense.Reconstruct(tensor.New(5), x); !slices.Equal(r3.Data, r.Data) {
		t.Errorf("Reconstruct into a buffer of the wrong size gives other values")
	}
	code, out := tensor.New(4, 3), tensor.New(4, 12)
	if err := dense.Forward(x, code, out); err != nil || !slices.Equal(code.Data, z.Data) || !slices.Equal(out.Data, r.Data) {
		t.Errorf("Forward: %v; want Encode and Reconstruct in one pass", err)
	}
	if err := dense.Forward(x, nil, nil); err != nil {
		t.Errorf("Forward without buffers: %v", err)
	}

	img := newModel(t, preset(t, "mnist-conv:8", 1), 1)
	xi := unitTensor(rng, 2, 1, 28, 28)
	a, err := img.Reconstruct(nil, xi)
	if err != nil {
		t.Fatal(err)
	}
	b, err := img.Reconstruct(nil, tensor.From(xi.Data, 2, 784))
	if err != nil || !slices.Equal(a.Data, b.Data) {
		t.Errorf("flat rows to an image model: %v; want the same output as images", err)
	}
	if s, _ := img.CodeShape(nil); !slices.Equal(s, []int{8}) {
		t.Errorf("mnist-conv:8 code shape %v; want [8]", s)
	}

	full := newModel(t, residualBN(), 1)
	if full.CodeSize() != 0 {
		t.Errorf("a fully convolutional model's CodeSize = %d; want 0", full.CodeSize())
	}
	if s, err := full.CodeShape([]int{1, 12, 16}); err != nil || !slices.Equal(s, []int{4, 6, 8}) {
		t.Errorf("CodeShape([1 12 16]) = %v, %v; want [4 6 8]", s, err)
	}
	for _, in := range [][]int{{2, 1, 8, 8}, {1, 1, 12, 20}} {
		y, err := full.Reconstruct(nil, unitTensor(rng, in...))
		if err != nil || !slices.Equal(y.Shape, in) {
			t.Errorf("Reconstruct %v: %v, shape %v", in, err, y.Shape)
		}
	}

	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"dense-width", second(dense.Reconstruct(nil, tensor.New(2, 11))), "11 values per sample, the model expects 12"},
		{"no-batch", second(dense.Encode(nil, tensor.New(12))), "want a batch"},
		{"image-size", second(img.Reconstruct(nil, tensor.New(1, 1, 32, 32))), "only 28×28"},
		{"odd-size", second(full.Reconstruct(nil, tensor.New(1, 1, 9, 9))), "multiple of 2"},
		{"channels", second(full.Reconstruct(nil, tensor.New(1, 3, 8, 8))), "[1 H W]"},
		{"decode-full", second(full.Decode(nil, tensor.New(1, 4, 4, 4))), "no fixed code size"},
		{"decode-width", second(dense.Decode(nil, tensor.New(2, 4))), "code has 3 values"},
		{"target", second(dense.TrainStep(x, tensor.New(4, 11))), "does not match the output"},
		{"forward-code", dense.Forward(x, tensor.New(4, 2), nil), "code buffer"},
		{"forward-out", dense.Forward(x, nil, tensor.New(4, 2)), "output buffer"},
		{"loglik-plain", third(dense.LogLikelihood(x, 5, 5, rng)), "needs a VAE"},
		{"sample-plain", second(dense.Sample(2, rng)), "needs a VAE"},
		{"batched-empty", second(Batched(dense.Reconstruct, tensor.New(0, 12), 4)), "no samples"},
	} {
		if !wantErr(tc.err, tc.want) {
			t.Errorf("%s: error %v; want one mentioning %q", tc.name, tc.err, tc.want)
		}
	}
}

func second[T any](_ T, err error) error        { return err }
func third[T, U any](_ T, _ U, err error) error { return err }

// TestLossLeavesGradients: Loss is TrainStep's loss (for a model without
// noise) and touches no gradient.
func TestLossLeavesGradients(t *testing.T) {
	m := newModel(t, smallDense(t), 3)
	x := unitTensor(rand.New(rand.NewPCG(1, 2)), 4, 12)
	for i := range m.Params.G {
		m.Params.G[i] = float32(i)
	}
	before := slices.Clone(m.Params.G)
	l, err := m.Loss(x, x)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(m.Params.G, before) {
		t.Error("Loss changed the gradients")
	}
	m.Params.ZeroGrad()
	ls, err := m.TrainStep(x, x)
	if err != nil {
		t.Fatal(err)
	}
	if ls != l {
		t.Errorf("TrainStep loss %g, Loss %g; want equal", ls, l)
	}
}

// TestBatchedEvaluate: Batched gives what one call on the whole batch
// gives; Evaluate's MSE and BCE are the means over every element.
func TestBatchedEvaluate(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	m := newModel(t, smallDense(t), 2)
	x := unitTensor(rng, 7, 12)
	whole, err := m.Reconstruct(nil, x)
	if err != nil {
		t.Fatal(err)
	}
	for _, batch := range []int{1, 3, 7, 100} {
		got, err := Batched(m.Reconstruct, x, batch)
		if err != nil || !equalTensors(got, whole) {
			t.Errorf("Batched(batch %d): %v; want the whole batch's output", batch, err)
		}
	}
	codes, err := Batched(m.Encode, x, 3)
	if err != nil || !slices.Equal(codes.Shape, []int{7, 3}) {
		t.Errorf("Batched(Encode): %v, shape %v", err, codes.Shape)
	}
	var se, ce float64
	for i, p := range whole.Data {
		v, q := float64(x.Data[i]), float64(p)
		se += (q - v) * (q - v)
		ce -= v*math.Log(q) + (1-v)*math.Log(1-q)
	}
	n := float64(len(x.Data))
	ev, err := m.Evaluate(x, 3)
	if err != nil {
		t.Fatal(err)
	}
	if ev.Rows != 7 || ev.Features != 12 || math.Abs(ev.MSE-se/n) > 1e-9 || ev.BCE == nil || math.Abs(*ev.BCE-ce/n) > 1e-6 {
		t.Errorf("Evaluate = %+v (BCE %v); want MSE %g, BCE %g over 7×12", ev, ev.BCE, se/n, ce/n)
	}
	// data outside [0,1] has no BCE; a linear output neither
	big := tensor.From(slices.Clone(x.Data), 7, 12)
	big.Data[5] = 2
	if ev, _ := m.Evaluate(big, 4); ev.BCE != nil {
		t.Errorf("BCE of data outside [0,1] = %v; want none", *ev.BCE)
	}
	lin := newModel(t, denseConfig(t, []int{12}, false, Dense{Hidden: []int{4}, Code: 2}), 1)
	if ev, _ := lin.Evaluate(x, 4); ev.BCE != nil {
		t.Errorf("BCE of a linear output = %v; want none", *ev.BCE)
	}
	// MeanActivation is the mean of the codes
	mean, meanAbs, err := m.MeanActivation(x, 2)
	if err != nil {
		t.Fatal(err)
	}
	var s, a float64
	for _, v := range codes.Data {
		s += float64(v)
		a += math.Abs(float64(v))
	}
	if k := float64(len(codes.Data)); math.Abs(mean-s/k) > 1e-6 || math.Abs(meanAbs-a/k) > 1e-6 {
		t.Errorf("MeanActivation = %g, %g; want %g, %g", mean, meanAbs, s/k, a/k)
	}
}

// TestClone: a clone gives the same outputs and owns its weights.
func TestClone(t *testing.T) {
	m := newModel(t, residualBN(), 4)
	x := unitTensor(rand.New(rand.NewPCG(1, 1)), 2, 1, 8, 8)
	m.Params.ZeroGrad()
	if _, err := m.TrainStep(x, x); err != nil { // move the running statistics
		t.Fatal(err)
	}
	m.Meta = map[string]json.RawMessage{"detector": json.RawMessage(`{"k":1}`)}
	c := m.Clone()
	a, _ := m.Reconstruct(nil, x)
	b, err := c.Reconstruct(nil, x)
	if err != nil || !equalTensors(a, b) {
		t.Fatalf("clone's output differs: %v", err)
	}
	c.Params.W[0] += 1
	c.Buffers[0].W[0] += 1
	c.Meta["detector"][1] = 'x'
	if a2, _ := m.Reconstruct(nil, x); !equalTensors(a, a2) {
		t.Error("changing the clone's weights changed the original's output")
	}
	if string(m.Meta["detector"]) != `{"k":1}` {
		t.Errorf("changing the clone's metadata changed the original's: %s", m.Meta["detector"])
	}
}

// TestForget: Forget drops the networks built for other input sizes,
// keeping the one last trained on and a fixed input's; the model still
// runs at any size afterwards.
func TestForget(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 2))
	m := newModel(t, residualBN(), 1)
	for _, in := range [][]int{{1, 1, 8, 8}, {1, 1, 16, 8}, {3, 1, 4, 4}} {
		if _, err := m.Reconstruct(nil, unitTensor(rng, in...)); err != nil {
			t.Fatal(err)
		}
	}
	x := unitTensor(rng, 2, 1, 12, 12)
	if _, err := m.TrainStep(x, x); err != nil {
		t.Fatal(err)
	}
	m.Forget()
	if _, ok := m.nets[shapeKey([]int{1, 12, 12})]; len(m.nets) != 1 || !ok {
		t.Errorf("after Forget %d networks are left; want only the 12×12 one trained on", len(m.nets))
	}
	y, err := m.Reconstruct(nil, unitTensor(rng, 1, 1, 16, 8))
	if err != nil || !slices.Equal(y.Shape, []int{1, 1, 16, 8}) {
		t.Errorf("Reconstruct after Forget: %v", err)
	}

	d := newModel(t, smallDense(t), 1)
	if _, err := d.Reconstruct(nil, unitTensor(rng, 2, 12)); err != nil {
		t.Fatal(err)
	}
	d.Forget()
	if _, ok := d.nets[shapeKey([]int{12})]; len(d.nets) != 1 || !ok {
		t.Errorf("after Forget a dense model has %d networks; want its fixed input's", len(d.nets))
	}
}
