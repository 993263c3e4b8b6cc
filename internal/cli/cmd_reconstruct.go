package cli

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/bottleneck-ml/bottleneck/ae"
	"github.com/bottleneck-ml/bottleneck/dataset"
	"github.com/bottleneck-ml/bottleneck/internal/report"
	"github.com/bottleneck-ml/bottleneck/tensor"
)

type reconstructOptions struct {
	model  string
	data   dataFlags
	output string
	batch  int
	n      int
}

func newReconstructCommand(g *globalOptions) *cobra.Command {
	o := &reconstructOptions{}
	cmd := &cobra.Command{
		Use:   "reconstruct -m MODEL --data PATH -o out.npy|out.csv|out.png",
		Short: "Write the model's reconstruction of every row, or a picture of it",
		Long: `Reconstruct every row of a data file. .npy and .csv outputs hold one row
per input row in the model's preprocessed space (CSV columns are named
after the model's features). A .png output, for image data, is a grid of
originals (top row) above their reconstructions (bottom row).`,
		Example: `  bottleneck reconstruct -m mnist.safetensors --data t10k-images-idx3-ubyte.gz -o recon.png --n 16
  bottleneck reconstruct -m kdd.safetensors --data KDDTest+.txt -o recon.csv`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.data.warn = cmd.ErrOrStderr()
			return runReconstruct(cmd.Context(), o, cmd.OutOrStdout())
		},
	}
	cmd.Flags().StringVarP(&o.model, "model", "m", "", "model file (required)")
	o.data.add(cmd.Flags())
	cmd.Flags().StringVarP(&o.output, "output", "o", "", "output file: .npy, .csv or .png (required)")
	cmd.Flags().IntVar(&o.batch, "batch", 256, "rows per forward pass")
	cmd.Flags().IntVar(&o.n, "n", 16, "PNG: how many images to show")
	return cmd
}

func runReconstruct(ctx context.Context, o *reconstructOptions, stdout io.Writer) error {
	if o.output == "" {
		return usagef("-o/--output is required: pass out.npy, out.csv or out.png")
	}
	if isConvModel(o.model) {
		return runImageReconstruct(o, stdout)
	}
	m, err := loadModel(o.model)
	if err != nil {
		return err
	}
	ds, err := loadForModel(m, &o.data)
	if err != nil {
		return err
	}
	if strings.EqualFold(filepath.Ext(o.output), ".png") {
		if err := writeReconstructionGrid(o.output, m, ds, o.n); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "wrote %s: %d originals above their reconstructions\n", o.output, min(o.n, ds.X.Rows()))
		return nil
	}
	rec := mapRows(m.Reconstruct, ds.X, m.Config.Input(), max(1, o.batch))
	if err := writeMatrix(o.output, rec, ds.Features); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s: %d reconstructions of %d features\n", o.output, rec.Rows(), rec.Cols())
	return nil
}

// writeReconstructionGrid draws the first n images of ds above their
// reconstructions by m.
func writeReconstructionGrid(path string, m *ae.Model, ds *dataset.Dataset, n int) error {
	shape := ds.Shape
	if len(shape) < 2 {
		return usagef("%s: a PNG needs image data (this data has shape %v); write .npy or .csv instead", path, shape)
	}
	n = max(1, min(n, ds.X.Rows()))
	d := ds.X.Cols()
	in := tensor.From(ds.X.Data[:n*d], n, d)
	out := m.Reconstruct(in)
	// Small images (MNIST's 28×28) are drawn enlarged so a grid is
	// readable on a screen.
	f := max(1, 84/shape[len(shape)-2])
	orig := make([][]float32, n)
	recon := make([][]float32, n)
	var big []int
	for i := 0; i < n; i++ {
		orig[i], big = enlarge(in.Row(i), shape, f)
		recon[i], _ = enlarge(out.Row(i), shape, f)
	}
	return report.ImageGrid(path, [][][]float32{orig, recon}, big, n)
}

// enlarge repeats every pixel of an image ([H,W] or [C,H,W]) f×f times.
func enlarge(img []float32, shape []int, f int) ([]float32, []int) {
	h, w := shape[len(shape)-2], shape[len(shape)-1]
	c := len(img) / (h * w)
	out := make([]float32, c*h*f*w*f)
	for ch := 0; ch < c; ch++ {
		for y := 0; y < h*f; y++ {
			for x := 0; x < w*f; x++ {
				out[(ch*h*f+y)*w*f+x] = img[(ch*h+y/f)*w+x/f]
			}
		}
	}
	big := append([]int(nil), shape...)
	big[len(big)-2], big[len(big)-1] = h*f, w*f
	return out, big
}
