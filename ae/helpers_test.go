package ae

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/bottleneck-ml/bottleneck/tensor"
)

// unitTensor is a tensor of the given shape with values uniform in [0, 1).
func unitTensor(rng *rand.Rand, shape ...int) *tensor.Tensor {
	x := tensor.New(shape...)
	for i := range x.Data {
		x.Data[i] = rng.Float32()
	}
	return x
}

// denseConfig is DenseConfig that fails the test on error.
func denseConfig(t testing.TB, input []int, unitRange bool, d Dense) Config {
	t.Helper()
	c, err := DenseConfig(input, unitRange, d)
	if err != nil {
		t.Fatalf("DenseConfig(%v, %v, %+v): %v", input, unitRange, d, err)
	}
	return c
}

// newModel is New that fails the test on error.
func newModel(t testing.TB, c Config, seed uint64) *Model {
	t.Helper()
	m, err := New(c, seed)
	if err != nil {
		t.Fatalf("New(%+v): %v", c, err)
	}
	return m
}

func preset(t testing.TB, name string, channels int) Config {
	t.Helper()
	c, err := Preset(name, channels)
	if err != nil {
		t.Fatalf("Preset(%q): %v", name, err)
	}
	return c
}

// The small models the tests share. Each is cheap enough to check
// gradients of by finite differences.

// smallDense is a 12 → 8 → 6 → 3 → 6 → 8 → 12 autoencoder for data in
// [0,1] (sigmoid output, BCE).
func smallDense(t testing.TB) Config {
	return denseConfig(t, []int{12}, true, Dense{Hidden: []int{8, 6}, Code: 3})
}

// smallVAE is a 10 → 7 → 2×3 | 3 → 7 → 10 VAE with tanh hidden layers.
func smallVAE(t testing.TB, likelihood string) Config {
	return denseConfig(t, []int{10}, likelihood == LikelihoodBernoulli,
		Dense{Hidden: []int{7}, Code: 3, Activation: "tanh", Variational: true, Likelihood: likelihood})
}

// smallConvVAE is a VAE on 1×8×8 images with a 3-d code: a stride-2
// convolution, a dense code, a transposed convolution back.
func smallConvVAE(likelihood string) Config {
	c := Config{Input: []int{1, 8, 8},
		Encoder:     []string{"conv:4:3:s2", "relu", "flatten", "dense:6"},
		Decoder:     []string{"dense:64", "relu", "reshape:4:4:4", "convt:1:3:s2", "sigmoid"},
		Variational: true, Loss: LossELBO, Likelihood: likelihood, Beta: 1}
	if likelihood == LikelihoodGaussian {
		c.Decoder = c.Decoder[:len(c.Decoder)-1]
	}
	return c
}

// residualBN is a fully convolutional residual model with BatchNorm.
func residualBN() Config {
	return Config{Channels: 1,
		Encoder:  []string{"conv:4:3:s2", "bn", "relu"},
		Decoder:  []string{"convt:4:3:s2", "bn", "relu", "conv:1:3"},
		Residual: true, Loss: LossMSE}
}

// smallConvAE is a fully convolutional autoencoder on images with a
// sigmoid output trained with BCE.
func smallConvAE() Config {
	return Config{Channels: 1,
		Encoder: []string{"conv:3:3", "relu", "maxpool:2"},
		Decoder: []string{"upsample:2", "conv:1:3", "sigmoid"},
		Loss:    LossBCE}
}

// paramName is the name of the parameter holding flat index i.
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

// gradCheck is how a gradient check probes a model.
type gradCheck struct {
	stride     int     // check every stride-th parameter (and the last one)
	eps        float64 // step of the central differences
	atol, rtol float64 // |analytic − numeric| ≤ atol + rtol·|numeric|
	min        int     // at least this many parameters must be checked
}

// checkStepGradient compares the gradient TrainStep accumulates with
// central differences of the same step's loss. The noise (a VAE's ε and
// binarisation, dropout masks) is reseeded before every evaluation, so the
// loss is a deterministic function of the weights (the
// reparameterisation makes ε an input, not a random choice).
func checkStepGradient(t *testing.T, m *Model, x, target *tensor.Tensor, c gradCheck) {
	t.Helper()
	loss := func() float64 {
		m.SeedNoise(11, 5)
		m.Params.ZeroGrad()
		l, err := m.TrainStep(x, target)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	loss()
	grad := slices.Clone(m.Params.G)
	idx := []int{}
	for i := 0; i < m.Params.Len(); i += c.stride {
		idx = append(idx, i)
	}
	if last := m.Params.Len() - 1; idx[len(idx)-1] != last {
		idx = append(idx, last)
	}
	bad := 0
	for _, i := range idx {
		w := m.Params.W[i]
		wp, wm := w+float32(c.eps), w-float32(c.eps)
		m.Params.W[i] = wp
		lp := loss()
		m.Params.W[i] = wm
		lm := loss()
		m.Params.W[i] = w
		num := (lp - lm) / float64(wp-wm)
		if d := math.Abs(num - float64(grad[i])); !(d <= c.atol+c.rtol*math.Abs(num)) {
			if bad++; bad <= 10 {
				t.Errorf("param %d (%s): analytic %g, numeric %g", i, paramName(m, i), grad[i], num)
			}
		}
	}
	if len(idx) < c.min {
		t.Fatalf("checked only %d parameters; want at least %d", len(idx), c.min)
	}
	if bad > 10 {
		t.Errorf("%d of %d parameters differ", bad, len(idx))
	}
}

// wantErr reports whether err is an error mentioning want ("" wants nil).
func wantErr(err error, want string) bool {
	if want == "" {
		return err == nil
	}
	return err != nil && strings.Contains(err.Error(), want)
}

func equalTensors(a, b *tensor.Tensor) bool {
	return slices.Equal(a.Shape, b.Shape) && slices.Equal(a.Data, b.Data)
}
