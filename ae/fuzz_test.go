package ae

import (
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/bottleneck-ml/bottleneck/tensor"
)

// fuzzSmall reports whether comma-separated layer specs stay small enough
// to build and run in a fuzz iteration: at most 10 layers, every number at
// most 64, at most 8× growth of the image side (upsample, shuffle, convt
// strides). Larger lists are valid; they only cost memory here.
func fuzzSmall(specs []string) bool {
	if len(specs) > 10 {
		return false
	}
	grow := 1
	for _, s := range specs {
		f := strings.Split(strings.TrimSpace(s), ":")
		for _, p := range f[1:] {
			if v, err := strconv.ParseFloat(strings.TrimLeft(p, "sd"), 64); err == nil && v > 64 {
				return false
			}
		}
		for i, p := range f[1:] {
			v, err := strconv.Atoi(strings.TrimPrefix(p, "s"))
			if err != nil || v < 2 {
				continue
			}
			switch {
			case (f[0] == "upsample" || f[0] == "shuffle") && i == 0, f[0] == "convt" && strings.HasPrefix(p, "s"):
				grow *= v
			}
		}
		if grow > 8 {
			return false
		}
	}
	return true
}

// checkFinite fails t when v holds a NaN or an infinity.
func checkFinite(t *testing.T, cfg Config, what string, v []float32) {
	t.Helper()
	for i, x := range v {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			t.Fatalf("%+v: %s %d is %v", cfg, what, i, x)
		}
	}
}

// FuzzNew builds models from mutated --encoder/--decoder spec lists and
// objective flags (seed corpus in testdata/fuzz/FuzzNew), for small
// inputs: flat rows of up to 64 values, images of 1 to 3 channels up to
// 16×16, or images of any size. New returns a model or an "ae: " error,
// never both; a model it returns is a working one: on a batch of 2 of its
// input shape, Reconstruct and Encode give their declared shapes with
// finite values, a training step gives a finite loss and gradients, and a
// model of any image size runs on a second, non-square size too.
func FuzzNew(f *testing.F) {
	f.Fuzz(func(t *testing.T, enc, dec string, c, h, w, flags uint8) {
		var cfg Config
		if enc != "" {
			cfg.Encoder = strings.Split(enc, ",")
		}
		if dec != "" {
			cfg.Decoder = strings.Split(dec, ",")
		}
		if !fuzzSmall(cfg.Encoder) || !fuzzSmall(cfg.Decoder) {
			return
		}
		ch := 1 + int(c%3)
		switch c / 64 {
		case 0:
			cfg.Input = []int{1 + int(h%64)}
		case 1, 2:
			cfg.Input = []int{ch, 1 + int(h%16), 1 + int(w%16)}
		default:
			cfg.Channels = ch
			if cfg.Multiple() > 4 {
				return // the probe image (4 × the multiple) is too big to run here
			}
		}
		cfg.Variational = flags&1 != 0
		cfg.Residual = flags&2 != 0
		cfg.Loss = []string{LossMSE, LossL1, LossBCE, LossELBO}[flags>>2&3]
		if cfg.Variational {
			cfg.Likelihood = []string{LikelihoodBernoulli, LikelihoodGaussian}[flags>>4&1]
		}
		cfg.Sparsity = []string{"", "l1:0.01", "kl:0.05:1", ""}[flags>>5&3]
		cfg.Binarize = flags&128 != 0

		m, err := New(cfg, 1)
		if err != nil {
			if m != nil || !strings.HasPrefix(err.Error(), "ae: ") {
				t.Fatalf("New(%+v) = %v, %q; want no model and an ae: error", cfg, m, err)
			}
			return
		}
		if m == nil {
			t.Fatalf("New(%+v) gave neither a model nor an error", cfg)
		}
		if m.NumParams() != len(m.Params.W) {
			t.Fatalf("NumParams %d, %d weights", m.NumParams(), len(m.Params.W))
		}
		in := cfg.probeShape()
		run(t, m, in)
		if cfg.Input == nil {
			k := cfg.Multiple()
			run(t, m, []int{ch, 2 * k, 3 * k})
		}
	})
}

// run checks m on a batch of 2 inputs of per-sample shape in.
func run(t *testing.T, m *Model, in []int) {
	t.Helper()
	cfg := m.Config
	out, err := m.OutShape(in)
	if err != nil {
		t.Fatalf("%+v: OutShape(%v): %v", cfg, in, err)
	}
	if tensor.Size(out) > 1<<14 || tensor.Size(in) > 1<<14 {
		return // valid, only too big to run here
	}
	// an autoencoder gives back its input's size: the same height and
	// width, or (for a fixed input) the same number of values
	sameSide := len(in) == 3 && len(out) == 3 && out[1] == in[1] && out[2] == in[2]
	if !sameSide && (cfg.Input == nil || tensor.Size(out) != tensor.Size(in)) {
		t.Fatalf("%+v: output %v for input %v", cfg, out, in)
	}
	x := tensor.New(append([]int{2}, in...)...)
	for i := range x.Data {
		x.Data[i] = float32(i%5) / 4
	}
	y, err := m.Reconstruct(nil, x)
	if err != nil || !slices.Equal(y.Shape, append([]int{2}, out...)) {
		t.Fatalf("%+v: Reconstruct of %v: %v, %v; want shape %v", cfg, x.Shape, y, err, out)
	}
	checkFinite(t, cfg, "output", y.Data)
	code, err := m.CodeShape(in)
	if err != nil {
		t.Fatalf("%+v: CodeShape(%v): %v", cfg, in, err)
	}
	z, err := m.Encode(nil, x)
	if err != nil || !slices.Equal(z.Shape, append([]int{2}, code...)) {
		t.Fatalf("%+v: Encode of %v: %v, %v; want shape %v", cfg, x.Shape, z, err, code)
	}
	checkFinite(t, cfg, "code", z.Data)
	target := x
	if !slices.Equal(out, in) {
		target = tensor.New(append([]int{2}, out...)...)
		for i := range target.Data {
			target.Data[i] = 0.5
		}
	}
	m.Params.ZeroGrad()
	loss, err := m.TrainStep(x, target)
	if err != nil || math.IsNaN(loss) || math.IsInf(loss, 0) {
		t.Fatalf("%+v: TrainStep: %v, %v", cfg, loss, err)
	}
	checkFinite(t, cfg, "gradient", m.Params.G)
}
