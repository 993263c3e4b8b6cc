package cli

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"path/filepath"

	"github.com/spf13/cobra"

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
}

func newLatentMapCommand(g *globalOptions) *cobra.Command {
	o := &latentMapOptions{}
	cmd := &cobra.Command{
		Use:   "latent-map -m MODEL --data PATH -o map.png",
		Short: "Draw the codes of a data file in 2-D, coloured by label",
		Long: `Encode a data file and draw every code as a point: the code itself when it
has two units, otherwise its first two principal components (PCA fitted
on these codes). Points are coloured by label when the data has labels
(IDX labels file, or the model's/--label CSV column). At most --n rows,
picked at random, are drawn.`,
		Example: `  bottleneck latent-map -m mnist-vae --data ../shared/data/mnist/t10k-images-idx3-ubyte.gz -o map.png`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.data.warn = cmd.ErrOrStderr()
			return runLatentMap(cmd.Context(), o, cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.model, "model", "m", "", "model file or shipped model name (required)")
	o.data.add(f)
	f.StringVarP(&o.output, "output", "o", "", "output PNG (required)")
	f.IntVarP(&o.n, "n", "n", 5000, "draw at most this many rows (0 = all)")
	f.Uint64Var(&o.seed, "seed", 1, "seed for picking the rows")
	return cmd
}

func runLatentMap(ctx context.Context, o *latentMapOptions, stdout io.Writer) error {
	if o.output == "" || filepath.Ext(o.output) != ".png" {
		return usagef("-o/--output is required and must be a .png file")
	}
	m, err := loadModel(o.model)
	if err != nil {
		return err
	}
	ds, err := loadForModel(m, &o.data)
	if err != nil {
		return err
	}
	if o.n > 0 && ds.Len() > o.n {
		perm := rand.New(rand.NewPCG(o.seed, 0x6d6170)).Perm(ds.Len())[:o.n]
		ds = ds.Subset(perm)
	}
	k := m.Config.Code
	codes := mapRows(m.Encode, ds.X, k, 256)
	xName, yName, how := "z0", "z1", "the 2-d code"
	xy := codes
	switch {
	case k == 1:
		xy = tensor.New(codes.Rows(), 2)
		for i := 0; i < codes.Rows(); i++ {
			xy.Data[2*i] = codes.Data[i]
		}
		how = "the 1-d code"
	case k > 2:
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
	what := "codes"
	if m.IsVAE() {
		what = "mean codes"
	}
	title := fmt.Sprintf("%s: %s of %d rows, %s", filepath.Base(o.model), what, len(xs), how)
	if err := latent.Map(o.output, xs, ys, ds.Labels, title, xName, yName); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s: %d points, %s\n", o.output, len(xs), how)
	return nil
}
