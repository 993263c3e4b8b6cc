package cli

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"

	"github.com/spf13/cobra"

	"github.com/bottleneck-ml/bottleneck/latent"
	"github.com/bottleneck-ml/bottleneck/tensor"
)

// latentCommands are the commands that work in a model's code space.
func latentCommands(g *globalOptions) []*cobra.Command {
	return []*cobra.Command{
		newProbeCommand(g),
		newGenerateCommand(g),
		newInterpolateCommand(g),
		newLatentMapCommand(g),
		newModelsCommand(g),
	}
}

type generateOptions struct {
	model  string
	data   dataFlags
	n      int
	seed   uint64
	output string
	cols   int
}

func newGenerateCommand(g *globalOptions) *cobra.Command {
	o := &generateOptions{}
	cmd := &cobra.Command{
		Use:   "generate -m MODEL -n 64 -o grid.png|samples.npy",
		Short: "Draw new samples from a model's code space",
		Long: `Draw codes and decode them into new samples. A VAE samples its prior
z ~ N(0, I) and shows the decoder's mean (pixel probabilities for a
Bernoulli model). A plain autoencoder has no prior: pass --data, and the
codes are drawn from a Gaussian with the mean and per-unit variance of
that data's codes.

A .png output lays the samples out in a grid (image models only); .npy or
.csv writes one sample per row in the model's preprocessed space.`,
		Example: `  bottleneck generate -m mnist-vae -n 64 -o grid.png
  bottleneck generate -m mnist-vae -n 1000 --seed 2 -o samples.npy
  bottleneck generate -m mnist.safetensors --data t10k-images-idx3-ubyte.gz -n 64 -o grid.png`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.data.warn = cmd.ErrOrStderr()
			return runGenerate(cmd.Context(), o, g.info(cmd, o.output))
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.model, "model", "m", "", "model file or shipped model name (required)")
	o.data.add(f)
	f.IntVarP(&o.n, "n", "n", 64, "number of samples")
	f.Uint64Var(&o.seed, "seed", 1, "random seed")
	f.StringVarP(&o.output, "output", "o", "", "output: .png grid, .npy or .csv (required)")
	f.IntVar(&o.cols, "cols", 0, "grid columns (default: √n)")
	return cmd
}

func runGenerate(ctx context.Context, o *generateOptions, stdout io.Writer) error {
	if o.output == "" {
		return usagef("-o/--output is required: pass grid.png or samples.npy")
	}
	if o.n < 1 || o.n > 1<<20 {
		return usagef("-n %d: want 1 to %d samples", o.n, 1<<20)
	}
	if err := refuseOverwrite(o.output, o.data.path, o.model); err != nil {
		return err
	}
	m, err := openModel(o.model)
	if err != nil {
		return err
	}
	var data *tensor.Tensor
	if !m.IsVAE() && o.data.path != "" {
		ds, err := loadData(m, &o.data, 1)
		if err != nil {
			return err
		}
		data = ds.X
	}
	samples, how, err := latent.Generate(m, o.n, rand.New(rand.NewPCG(o.seed, 0x67656e)), data)
	if err != nil {
		if data == nil && !m.IsVAE() && m.CodeSize() > 0 {
			return usagef("%s is not a VAE and has no prior to sample: pass --data, and codes are drawn from a Gaussian fitted to that data's codes", o.model)
		}
		return usageError{err}
	}
	if data != nil {
		how += " of " + o.data.path
	}
	if err := writeSamples(o.output, m, samples, o.cols); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s: %d samples from %s (seed %d)\n", o.output, o.n, how, o.seed)
	return nil
}
