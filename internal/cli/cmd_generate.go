package cli

import (
	"context"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/bottleneck-ml/bottleneck/ae"
	"github.com/bottleneck-ml/bottleneck/internal/report"
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
			return runGenerate(cmd.Context(), o, cmd.OutOrStdout())
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
	if isConvModel(o.model) {
		cm, err := loadConvModel(o.model)
		if err != nil {
			return err
		}
		return generateConv(o, cm, stdout) // latent_conv.go
	}
	m, err := loadModel(o.model)
	if err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(o.seed, 0x67656e))
	var samples *tensor.Tensor
	how := "the prior N(0, I)"
	if m.IsVAE() {
		samples = m.Sample(o.n, rng)
	} else {
		if o.data.path == "" {
			return usagef("%s is not a VAE and has no prior to sample: pass --data, and codes are drawn from a Gaussian fitted to that data's codes", o.model)
		}
		ds, err := loadForModel(m, &o.data)
		if err != nil {
			return err
		}
		k := m.Config.Code
		codes := mapRows(m.Encode, ds.X, k, 256)
		mean, std := columnStats(codes)
		z := tensor.New(o.n, k)
		for i := 0; i < o.n; i++ {
			for j := 0; j < k; j++ {
				z.Data[i*k+j] = float32(mean[j] + std[j]*rng.NormFloat64())
			}
		}
		samples = mapRows(m.Decode, z, m.Config.Input(), 256)
		how = fmt.Sprintf("a Gaussian fitted to the codes of %d rows of %s", ds.Len(), o.data.path)
	}
	if err := writeSamples(o.output, m, samples, o.cols); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s: %d samples from %s (seed %d)\n", o.output, o.n, how, o.seed)
	return nil
}

func columnStats(x *tensor.Tensor) (mean, std []float64) {
	n, d := x.Rows(), x.Cols()
	mean, std = make([]float64, d), make([]float64, d)
	for i := 0; i < n; i++ {
		for j, v := range x.Data[i*d : (i+1)*d] {
			mean[j] += float64(v)
		}
	}
	for j := range mean {
		mean[j] /= float64(max(n, 1))
	}
	for i := 0; i < n; i++ {
		for j, v := range x.Data[i*d : (i+1)*d] {
			t := float64(v) - mean[j]
			std[j] += t * t
		}
	}
	for j := range std {
		std[j] = math.Sqrt(std[j] / float64(max(n, 1)))
	}
	return mean, std
}

// writeSamples writes rows of model-space samples as a PNG grid (cols
// per row, default √n) or as .npy/.csv.
func writeSamples(path string, m *ae.Model, x *tensor.Tensor, cols int) error {
	if strings.ToLower(filepath.Ext(path)) != ".png" {
		return writeMatrix(path, x, featureNames(m))
	}
	shape, err := pictureShape(m)
	if err != nil {
		return err
	}
	return writeGrid(path, shape, x, cols)
}

// writeGrid draws rows of pictures of shape [C H W] as a PNG grid.
func writeGrid(path string, shape []int, x *tensor.Tensor, cols int) error {
	n := x.Rows()
	if cols <= 0 {
		cols = int(math.Ceil(math.Sqrt(float64(n))))
	}
	var rows [][][]float32
	for lo := 0; lo < n; lo += cols {
		var row [][]float32
		for i := lo; i < min(lo+cols, n); i++ {
			row = append(row, x.Row(i))
		}
		rows = append(rows, row)
	}
	return report.ImageGrid(path, rows, shape, cols)
}

// pictureShape is the [C,H,W] shape to draw a model's samples with.
func pictureShape(m *ae.Model) ([]int, error) {
	s := m.Config.InputShape
	switch {
	case len(s) == 3 && (s[0] == 1 || s[0] == 3):
		return s, nil
	case len(s) == 2:
		return []int{1, s[0], s[1]}, nil
	case len(s) == 1:
		r := int(math.Round(math.Sqrt(float64(s[0]))))
		if r*r == s[0] && r > 1 {
			return []int{1, r, r}, nil
		}
	}
	return nil, usagef("the model's inputs (shape %v) are not images; write .npy or .csv instead of .png", s)
}

// featureNames names a model's input columns for CSV output.
func featureNames(m *ae.Model) []string {
	if pre, err := preprocessor(m); err == nil {
		if f := pre.Features(); len(f) == m.Config.Input() {
			return f
		}
	}
	names := make([]string, m.Config.Input())
	for i := range names {
		names[i] = fmt.Sprintf("x%d", i)
	}
	return names
}
