package cli

import (
	"context"
	"fmt"
	"io"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/bottleneck-ml/bottleneck/latent"
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
	case latent.ProjectAuto, latent.ProjectPCA, latent.ProjectTSNE:
	default:
		return usagef("--method %q: want auto, pca or tsne", o.method)
	}
	if o.method == latent.ProjectTSNE {
		if !o.flagsN {
			o.n = 2000
		}
		if o.n <= 0 || o.n > latent.MaxTSNEPoints {
			return usagef("-n %d: t-SNE draws 1 to %d points", o.n, latent.MaxTSNEPoints)
		}
	}
	m, err := openModel(o.model)
	if err != nil {
		return err
	}
	ds, err := loadData(m, &o.data, 1)
	if err != nil {
		return err
	}
	p, err := latent.DrawMap(o.output, m, ds, latent.MapOptions{
		ProjectOptions: latent.ProjectOptions{Method: o.method, Perplexity: o.perp, Seed: o.seed},
		Max:            max(o.n, 0),
		Name:           filepath.Base(o.model),
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s: %d points, %s\n", o.output, len(p.X), p.How)
	return nil
}
