package golden_test

import (
	"context"
	"encoding/csv"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bottleneck-ml/bottleneck/ae"
	"github.com/bottleneck-ml/bottleneck/dataset"
	"github.com/bottleneck-ml/bottleneck/internal/synth"
	"github.com/bottleneck-ml/bottleneck/tensor"
	"github.com/bottleneck-ml/bottleneck/train"
)

// TestMakeV1Files wrote testdata/v1 with the first release's code (format
// v1, before the one-model redesign). It only runs with -update -v1, which
// a later release cannot do: the files are the record of what v1 wrote.
var makeV1 = os.Getenv("GOLDEN_MAKE_V1") == "1"

func TestMakeV1Files(t *testing.T) {
	if !makeV1 {
		t.Skip("set GOLDEN_MAKE_V1=1 (with the v1 code) to rewrite testdata/v1")
	}
	dir := filepath.Join("testdata", "v1")
	os.MkdirAll(dir, 0o755)
	// a table detector with dropout and a Mahalanobis threshold
	tx := filepath.Join(dir, "transactions.csv")
	f, _ := os.Create(tx)
	cw := csv.NewWriter(f)
	cw.Write(synth.TransactionColumns)
	cw.WriteAll(synth.Transactions(300, 0.05, 3))
	cw.Flush()
	f.Close()
	run(t, "-q", "train", "--data", tx, "--label", "class", "--normal", synth.Normal, "--hidden", "16,8", "--code", "4",
		"--dropout", "0.1", "--epochs", "5", "--batch", "32", "-o", filepath.Join(dir, "fraud.safetensors"), "--checkpoint", "none", "--no-plot")
	// a windowed time-series detector
	var b strings.Builder
	b.WriteString("a,b,anomaly\n")
	for i := range 120 {
		a, lab := float64(i%10), "0"
		if i >= 90 && i < 96 {
			a, lab = 30, "1"
		}
		fmt.Fprintf(&b, "%.1f,%.1f,%s\n", a, float64((i+3)%7), lab)
	}
	os.WriteFile(filepath.Join(dir, "series.csv"), []byte(b.String()), 0o644)
	run(t, "-q", "train", "--data", filepath.Join(dir, "series.csv"), "--label", "anomaly", "--normal", "0", "--window", "6", "--stride", "2",
		"--hidden", "12", "--code", "3", "--epochs", "4", "--score", "mse", "-o", filepath.Join(dir, "series.safetensors"), "--checkpoint", "none", "--no-plot")

	x := digits(t, 64)
	ds := &dataset.Dataset{X: x, Shape: []int{1, 28, 28}}
	// a dense Gaussian VAE with an identity hidden activation
	cfg := ae.Config{Arch: ae.ArchVAE, InputShape: []int{784}, Hidden: []int{8}, Code: 4, Activation: "tanh", Likelihood: ae.LikelihoodGaussian}
	cfg.Defaults(false)
	m, err := ae.New(cfg, 4)
	if err != nil {
		t.Fatal(err)
	}
	ds1 := &dataset.Dataset{X: tensor.From(x.Data, 64, 784), Shape: []int{784}}
	if _, err := train.Fit(context.Background(), m, ds1, nil, train.Options{Epochs: 2, Batch: 16, Seed: 2}); err != nil {
		t.Fatal(err)
	}
	if err := m.Save(filepath.Join(dir, "dense-gauss-vae.safetensors")); err != nil {
		t.Fatal(err)
	}
	_ = ds
	// conv models: a Bernoulli VAE on binarised digits, a Gaussian VAE, and
	// a residual model with BatchNorm
	convs := []struct {
		name string
		cfg  ae.ConvConfig
	}{
		{"conv-vae", ae.ConvConfig{Arch: ae.ArchConv, Task: "reconstruct", InChannels: 1, OutChannels: 1, InputShape: []int{1, 28, 28},
			Encoder: []string{"conv:4:3:s2", "relu", "conv:8:3:s2", "relu", "flatten", "dense:6"},
			Decoder: []string{"dense:392", "relu", "reshape:8:7:7", "convt:4:3:s2", "relu", "convt:1:3:s2", "sigmoid"},
			Loss:    "bce", Variational: true, Beta: 1, Binarize: true, Likelihood: ae.LikelihoodBernoulli, Color: "grey"}},
		{"conv-gauss-vae", ae.ConvConfig{Arch: ae.ArchConv, Task: "reconstruct", InChannels: 1, OutChannels: 1, InputShape: []int{1, 28, 28},
			Encoder: []string{"conv:4:3:s2", "leakyrelu", "flatten", "dense:8"},
			Decoder: []string{"dense:784", "relu", "reshape:4:14:14", "convt:1:3:s2"},
			Loss:    "mse", Variational: true, Beta: 0.5, Likelihood: ae.LikelihoodGaussian, Color: "grey"}},
		{"conv-residual-bn", ae.ConvConfig{Arch: ae.ArchConv, Task: "denoise", InChannels: 1, OutChannels: 1,
			Encoder:  []string{"unshuffle:2", "conv:8:3", "bn", "relu", "conv:8:3:d2", "relu"},
			Decoder:  []string{"upsample:2:bilinear", "conv:1:3"},
			Residual: true, Loss: "l1", Noise: "gaussian:25", Color: "grey"}},
	}
	for _, c := range convs {
		cm, err := ae.NewConv(c.cfg, 3)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		rng := rand.New(rand.NewPCG(1, 1))
		_, err = ae.FitConv(context.Background(), cm, ae.ConvFitOptions{Epochs: 2, Steps: 6, Batch: 8, Patch: 28, Seed: 5, EMA: 0.9,
			Output: filepath.Join(dir, c.name+".safetensors"),
			Fill: func(xb, yb *tensor.Tensor, r *rand.Rand) {
				for i := range xb.Shape[0] {
					j := rng.IntN(64)
					copy(xb.Data[i*784:(i+1)*784], x.Data[j*784:(j+1)*784])
				}
				copy(yb.Data, xb.Data)
				if c.cfg.Residual {
					for i := range xb.Data {
						xb.Data[i] += float32(0.1 * r.NormFloat64())
					}
				}
			}}, "golden")
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		os.Remove(filepath.Join(dir, c.name+".safetensors.ckpt"))
	}
	for _, h := range []string{"fraud.history.json", "series.history.json"} {
		os.Remove(filepath.Join(dir, h))
	}
}

// TestV1ModelFiles runs the small v1 model files of testdata/v1 (one per
// kind the first release could write) on fixed inputs.
func TestV1ModelFiles(t *testing.T) {
	x := digits(t, 2)
	t.Run("dense-gauss-vae", func(t *testing.T) {
		m, err := ae.Load("testdata/v1/dense-gauss-vae.safetensors")
		if err != nil {
			t.Fatal(err)
		}
		got := outputs{}
		got.put("encode", m.Encode(x).Data)
		got.put("reconstruct", m.Reconstruct(x).Data)
		got.put("decode", m.Decode(codes(1, 4)).Data)
		logp, elbo, err := m.LogLikelihood(tensor.From(x.Data[:784], 1, 784), 8, 4, rand.New(rand.NewPCG(3, 4)))
		if err != nil {
			t.Fatal(err)
		}
		got["logp"], got["elbo"] = logp, elbo
		check(t, "v1-dense-gauss-vae", got)
	})
	for _, name := range []string{"conv-vae", "conv-gauss-vae"} {
		t.Run(name, func(t *testing.T) {
			m, err := ae.LoadConv("testdata/v1/" + name + ".safetensors")
			if err != nil {
				t.Fatal(err)
			}
			x4 := tensor.From(x.Data, 2, 1, 28, 28)
			got := outputs{}
			z, err := m.Encode(x4)
			if err != nil {
				t.Fatal(err)
			}
			got.put("encode", z.Data)
			y, err := m.Apply(x4)
			if err != nil {
				t.Fatal(err)
			}
			got.put("reconstruct", y.Data)
			d, err := m.Decode(codes(1, m.CodeSize()))
			if err != nil {
				t.Fatal(err)
			}
			got.put("decode", d.Data)
			logp, elbo, err := m.LogLikelihood(tensor.From(x.Data[:784], 1, 1, 28, 28), 8, 4, rand.New(rand.NewPCG(3, 4)))
			if err != nil {
				t.Fatal(err)
			}
			got["logp"], got["elbo"] = logp, elbo
			check(t, "v1-"+name, got)
		})
	}
	t.Run("conv-residual-bn", func(t *testing.T) {
		m, err := ae.LoadConv("testdata/v1/conv-residual-bn.safetensors")
		if err != nil {
			t.Fatal(err)
		}
		out, err := m.Denoise(picture(1, 20, 24, 8))
		if err != nil {
			t.Fatal(err)
		}
		got := outputs{}
		got.put("denoise", out.Pix)
		check(t, "v1-conv-residual-bn", got)
	})
}
