package cli

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/bottleneck-ml/bottleneck/ae"
	"github.com/bottleneck-ml/bottleneck/latent"
	"github.com/bottleneck-ml/bottleneck/probe"
	"github.com/bottleneck-ml/bottleneck/tensor"
)

type latentMapOptions struct {
	model  string
	data   dataFlags
	output string
	n      int
	seed   uint64
	method string
	perp   float64
	flagsN bool // -n given
}

func newLatentMapCommand(g *globalOptions) *cobra.Command {
	o := &latentMapOptions{}
	cmd := &cobra.Command{
		Use:   "latent-map -m MODEL --data PATH -o map.png",
		Short: "Draw the codes of a data file in 2-D, coloured by label",
		Long: `Encode a data file and draw every code as a point: the code itself when it
has two units, otherwise its first two principal components (PCA fitted
on these codes), or with --method tsne a t-SNE map (exact t-SNE, van der
Maaten & Hinton 2008: neighbourhoods kept, global distances not). Points
are coloured by label when the data has labels (IDX labels file, or the
model's/--label CSV column). At most --n rows, picked at random, are
drawn (t-SNE: 2,000 unless --n says otherwise; at most 5,000). Dense and
convolutional models with a code both work.`,
		Example: `  bottleneck latent-map -m mnist-vae --data ../shared/data/mnist/t10k-images-idx3-ubyte.gz -o map.png
  bottleneck latent-map -m mnist-vae --data ../shared/data/mnist/t10k-images-idx3-ubyte.gz --method tsne -o tsne.png`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.data.warn = cmd.ErrOrStderr()
			o.flagsN = cmd.Flags().Changed("n")
			return runLatentMap(cmd.Context(), o, g.info(cmd, o.output))
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.model, "model", "m", "", "model file or shipped model name (required)")
	o.data.add(f)
	f.StringVarP(&o.output, "output", "o", "", "output PNG (required)")
	f.IntVarP(&o.n, "n", "n", 5000, "draw at most this many rows (0 = all)")
	f.Uint64Var(&o.seed, "seed", 1, "seed for picking the rows (and t-SNE's start)")
	f.StringVar(&o.method, "method", "auto", "projection: auto (the code when ≤ 2-d, else PCA), pca or tsne")
	f.Float64Var(&o.perp, "perplexity", 30, "t-SNE: effective number of neighbours")
	return cmd
}

func runLatentMap(ctx context.Context, o *latentMapOptions, stdout io.Writer) error {
	if o.output == "" || filepath.Ext(o.output) != ".png" {
		return usagef("-o/--output is required and must be a .png file")
	}
	if err := refuseOverwrite(o.output, o.data.path, o.model); err != nil {
		return err
	}
	switch o.method {
	case "auto", "pca", "tsne":
	default:
		return usagef("--method %q: want auto, pca or tsne", o.method)
	}
	if o.method == "tsne" {
		if !o.flagsN {
			o.n = 2000
		}
		if o.n <= 0 || o.n > latent.MaxTSNEPoints {
			return usagef("-n %d: t-SNE draws 1 to %d points", o.n, latent.MaxTSNEPoints)
		}
	}
	codes, labels, what, err := mapCodes(o)
	if err != nil {
		return err
	}
	k := codes.Cols()
	xName, yName, how := "z0", "z1", "the 2-d code"
	xy := codes
	switch {
	case o.method == "tsne":
		y, err := latent.TSNE(codes.Data, codes.Rows(), k, latent.TSNEOptions{Perplexity: o.perp, Seed: o.seed})
		if err != nil {
			return err
		}
		xy = tensor.New(codes.Rows(), 2)
		for i, v := range y {
			xy.Data[i] = float32(v)
		}
		xName, yName = "t-SNE 1", "t-SNE 2"
		how = fmt.Sprintf("t-SNE of the %d-d codes (perplexity %g)", k, o.perp)
	case k == 1:
		xy = tensor.New(codes.Rows(), 2)
		for i := 0; i < codes.Rows(); i++ {
			xy.Data[2*i] = codes.Data[i]
		}
		how = "the 1-d code"
	case k > 2 || o.method == "pca":
		pca, err := probe.FitPCA(codes, 2)
		if err != nil {
			return err
		}
		if xy, err = pca.Transform(codes); err != nil {
			return err
		}
		xName, yName = "PC1", "PC2"
		how = fmt.Sprintf("PCA of the %d-d codes (%.0f%% of their variance)", k, 100*pca.Explained())
	}
	xs, ys := make([]float64, xy.Rows()), make([]float64, xy.Rows())
	for i := range xs {
		xs[i], ys[i] = float64(xy.Data[2*i]), float64(xy.Data[2*i+1])
	}
	title := fmt.Sprintf("%s: %s of %d rows, %s", filepath.Base(o.model), what, len(xs), how)
	if err := latent.Map(o.output, xs, ys, labels, title, xName, yName); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s: %d points, %s\n", o.output, len(xs), how)
	return nil
}

// mapCodes encodes at most o.n random rows of --data and returns the
// codes, their labels (nil without) and what the codes are ("codes", or
// "mean codes" for a VAE).
func mapCodes(o *latentMapOptions) (*tensor.Tensor, []string, string, error) {
	m, err := openModel(o.model)
	if err != nil {
		return nil, nil, "", err
	}
	ds, err := loadData(m, &o.data, 1)
	if err != nil {
		return nil, nil, "", err
	}
	if n := ds.Len(); o.n > 0 && n > o.n {
		ds = ds.Subset(rand.New(rand.NewPCG(o.seed, 0x6d6170)).Perm(n)[:o.n])
	}
	codes, err := ae.Batched(m.Encode, ds.X, 256)
	if err != nil {
		return nil, nil, "", err
	}
	what := "codes"
	if m.IsVAE() {
		what = "mean codes"
	}
	return tensor.From(codes.Data, codes.Rows(), len(codes.Data)/codes.Rows()), ds.Labels, what, nil
}
