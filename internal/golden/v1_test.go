package golden_test

import (
	"math/rand/v2"
	"testing"

	"github.com/bottleneck-ml/bottleneck/ae"
	"github.com/bottleneck-ml/bottleneck/imagetask"
	"github.com/bottleneck-ml/bottleneck/tensor"
)

// testdata/v1 holds small model files written by the first release (format
// version 1, before the one-model redesign), one per kind it could write,
// made by TestMakeV1Files of commit d394437 with that release's code:
//
//	fraud.safetensors        table detector (train --dropout 0.1 on
//	                         transactions.csv, Mahalanobis threshold)
//	series.safetensors       time-series detector (--window 6 on series.csv)
//	dense-gauss-vae          dense VAE, Gaussian likelihood, tanh hidden layer
//	conv-vae                 conv VAE, Bernoulli, binarised inputs
//	conv-gauss-vae           conv VAE, Gaussian likelihood per channel
//	conv-residual-bn         fully convolutional residual model with BatchNorm
//
// They cannot be remade by later code: they are the record of what v1
// wrote, and every later release must keep reading them.

// TestV1ModelFiles runs the small v1 model files of testdata/v1 (one per
// kind the first release could write) on fixed inputs.
func TestV1ModelFiles(t *testing.T) {
	x := digits(t, 2)
	t.Run("dense-gauss-vae", func(t *testing.T) {
		m, err := ae.Open("testdata/v1/dense-gauss-vae.safetensors")
		if err != nil {
			t.Fatal(err)
		}
		got := outputs{}
		got.put("encode", must(m.Encode(nil, x)).Data)
		got.put("reconstruct", must(m.Reconstruct(nil, x)).Data)
		got.put("decode", must(m.Decode(nil, codes(1, 4))).Data)
		logp, elbo, err := m.LogLikelihood(tensor.From(x.Data[:784], 1, 784), 8, 4, rand.New(rand.NewPCG(3, 4)))
		if err != nil {
			t.Fatal(err)
		}
		got["logp"], got["elbo"] = logp, elbo
		check(t, "v1-dense-gauss-vae", got)
	})
	for _, name := range []string{"conv-vae", "conv-gauss-vae"} {
		t.Run(name, func(t *testing.T) {
			m, err := ae.Open("testdata/v1/" + name + ".safetensors")
			if err != nil {
				t.Fatal(err)
			}
			x4 := tensor.From(x.Data, 2, 1, 28, 28)
			got := outputs{}
			got.put("encode", must(m.Encode(nil, x4)).Data)
			got.put("reconstruct", must(m.Reconstruct(nil, x4)).Data)
			got.put("decode", must(m.Decode(nil, codes(1, m.CodeSize()))).Data)
			logp, elbo, err := m.LogLikelihood(tensor.From(x.Data[:784], 1, 1, 28, 28), 8, 4, rand.New(rand.NewPCG(3, 4)))
			if err != nil {
				t.Fatal(err)
			}
			got["logp"], got["elbo"] = logp, elbo
			check(t, "v1-"+name, got)
		})
	}
	t.Run("conv-residual-bn", func(t *testing.T) {
		m, err := ae.Open("testdata/v1/conv-residual-bn.safetensors")
		if err != nil {
			t.Fatal(err)
		}
		out, err := imagetask.Denoise(m, picture(1, 20, 24, 8), imagetask.Options{})
		if err != nil {
			t.Fatal(err)
		}
		got := outputs{}
		got.put("denoise", out.Pix)
		check(t, "v1-conv-residual-bn", got)
	})
}
