package cli

import (
	"fmt"
	"io"
	"math"

	"github.com/spf13/pflag"

	"github.com/bottleneck-ml/bottleneck/ae"
	"github.com/bottleneck-ml/bottleneck/dataset"
)

// latentTrainFlags are train's flags for variational and sparse
// autoencoders.
type latentTrainFlags struct {
	codeAct    string
	sparsity   string
	likelihood string
	beta       float64
	klWarmup   float64
	binarize   bool
}

func (l *latentTrainFlags) add(f *pflag.FlagSet) {
	f.StringVar(&l.codeAct, "code-activation", "", "activation of the code layer (default identity); sigmoid for --sparsity kl")
	f.StringVar(&l.sparsity, "sparsity", "", "activity penalty on the code: l1:λ (e.g. l1:1e-4) or kl:ρ:β (e.g. kl:0.05:1, needs --code-activation sigmoid)")
	f.StringVar(&l.likelihood, "likelihood", "", "VAE decoder likelihood: bernoulli (data in [0,1]) or gaussian (default: bernoulli for [0,1] data)")
	f.Float64Var(&l.beta, "beta", 1, "VAE: weight of the KL term (β-VAE)")
	f.Float64Var(&l.klWarmup, "kl-warmup", 0, "VAE: epochs over which the KL weight rises linearly from 0 to β")
	f.BoolVar(&l.binarize, "binarize", false, "VAE: train on Bernoulli samples of the [0,1] inputs, redrawn every step (dynamic binarisation)")
}

// apply copies the flags into cfg, refusing VAE flags for other
// architectures.
func (l *latentTrainFlags) apply(cfg *ae.Config) error {
	cfg.CodeActivation = l.codeAct
	cfg.Sparsity = l.sparsity
	if cfg.Arch != ae.ArchVAE {
		if l.likelihood != "" || l.beta != 1 || l.klWarmup != 0 || l.binarize {
			return usagef("--likelihood, --beta, --kl-warmup and --binarize are for --arch vae")
		}
		return nil
	}
	if err := l.checkVAE(); err != nil {
		return err
	}
	cfg.Likelihood = l.likelihood
	cfg.Beta = l.beta
	cfg.Binarize = l.binarize
	return nil
}

// checkVAE checks the flags every VAE takes.
func (l *latentTrainFlags) checkVAE() error {
	if l.sparsity != "" {
		return usagef("--sparsity is for plain autoencoders; a VAE's KL term already regularises its code")
	}
	if l.beta <= 0 || math.IsNaN(l.beta) || math.IsInf(l.beta, 0) {
		return usagef("--beta %v must be a positive number (β=0 is a plain autoencoder)", l.beta)
	}
	if l.klWarmup < 0 || math.IsNaN(l.klWarmup) || math.IsInf(l.klWarmup, 0) {
		return usagef("--kl-warmup %v must be 0 (off) or a positive number of epochs", l.klWarmup)
	}
	return nil
}

// applyConv makes an image model variational for --arch vae (or a VAE
// preset such as mnist-vae-conv) and copies the VAE flags into it.
func (l *latentTrainFlags) applyConv(cfg *ae.ConvConfig, arch, task, loss string) error {
	if arch == ae.ArchVAE {
		cfg.Variational = true
		if loss == "" && l.likelihood != ae.LikelihoodGaussian {
			cfg.Loss = "bce"
		}
	}
	if !cfg.Variational {
		if l.likelihood != "" || l.beta != 1 || l.klWarmup != 0 || l.binarize {
			return usagef("--likelihood, --beta, --kl-warmup and --binarize are for VAEs (--arch vae or --preset mnist-vae-conv)")
		}
		if l.sparsity != "" || l.codeAct != "" {
			return usagef("--sparsity and --code-activation are for dense models; write the code layer's activation into --encoder")
		}
		return nil
	}
	if task != ae.TaskReconstruct {
		return usagef("a convolutional VAE trains with --task reconstruct (have --task %s)", task)
	}
	switch l.likelihood {
	case "", ae.LikelihoodBernoulli:
		cfg.Likelihood = ae.LikelihoodBernoulli
	case ae.LikelihoodGaussian:
		// the decoder's output is the Gaussian's mean: drop a final sigmoid
		// (a preset's), and the loss is the likelihood's, not bce
		cfg.Likelihood = ae.LikelihoodGaussian
		if n := len(cfg.Decoder); n > 0 && cfg.Decoder[n-1] == "sigmoid" {
			cfg.Decoder = cfg.Decoder[:n-1]
		}
		if cfg.Loss == "bce" {
			cfg.Loss = "mse"
		}
	default:
		return usagef("--likelihood %q: want bernoulli or gaussian", l.likelihood)
	}
	if err := l.checkVAE(); err != nil {
		return err
	}
	cfg.Beta = l.beta
	cfg.Binarize = l.binarize
	return nil
}

// schedule returns the per-step hook of a VAE: the noise is reseeded from
// (seed, step), so a resumed run draws the same ε, and the KL weight
// follows the warm-up.
func (l *latentTrainFlags) schedule(m *ae.Model, seed uint64) func(step, perEpoch int) {
	if !m.IsVAE() {
		return nil
	}
	beta := m.Config.Beta
	return func(step, perEpoch int) {
		m.SeedNoise(seed, uint64(step))
		w := beta
		if l.klWarmup > 0 {
			w = beta * min(1, float64(step+1)/(l.klWarmup*float64(perEpoch)))
		}
		m.SetKLWeight(w)
	}
}

// report prints what the latent flags promise after training: the mean
// code activation of a sparse autoencoder (or of a plain one given a code
// activation, to compare with).
func (l *latentTrainFlags) report(m *ae.Model, ds *dataset.Dataset, stdout io.Writer) {
	if m.IsVAE() || m.Config.Arch != "dense" || (l.sparsity == "" && l.codeAct == "") {
		return
	}
	mean, meanAbs := m.MeanActivation(ds.X, 512)
	sp := l.sparsity
	if sp == "" {
		sp = "none"
	}
	fmt.Fprintf(stdout, "code: mean activation %.4f, mean |activation| %.4f over %d training rows (sparsity %s)\n", mean, meanAbs, ds.X.Rows(), sp)
}
