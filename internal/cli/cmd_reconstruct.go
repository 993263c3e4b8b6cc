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
	"github.com/bottleneck-ml/bottleneck/imagetask"
	"github.com/bottleneck-ml/bottleneck/internal/report"
	"github.com/bottleneck-ml/bottleneck/tensor"
)

type reconstructOptions struct {
	model     string
	data      dataFlags
	output    string
	batch     int
	n         int
	precision precisionFlag
}

func newReconstructCommand(g *globalOptions) *cobra.Command {
	o := &reconstructOptions{}
	cmd := &cobra.Command{
		Use:   "reconstruct -m MODEL --data PATH -o out.npy|out.csv|out.png",
		Short: "Write the model's reconstruction of every row, or a picture of it",
		Long: `Reconstruct every row of a data file. .npy and .csv outputs hold one row
per input row in the model's preprocessed space (CSV columns are named
after the model's features). A .png output, for image data, is a grid of
originals (top row) above their reconstructions (bottom row). Given a
picture (PNG, JPEG, BMP), an image model writes its output picture: the
denoised, colorized or reconstructed picture.`,
		Example: `  bottleneck reconstruct -m mnist.safetensors --data t10k-images-idx3-ubyte.gz -o recon.png --n 16
  bottleneck reconstruct -m kdd.safetensors --data KDDTest+.txt -o recon.csv`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.data.warn = cmd.ErrOrStderr()
			return runReconstruct(cmd.Context(), o, cmd.OutOrStdout(), g.info(cmd, o.output))
		},
	}
	cmd.Flags().StringVarP(&o.model, "model", "m", "", "model file (required)")
	o.data.add(cmd.Flags())
	cmd.Flags().StringVarP(&o.output, "output", "o", "", "output file: .npy, .csv or .png (required)")
	cmd.Flags().IntVar(&o.batch, "batch", 256, "rows per forward pass")
	o.precision.add(cmd.Flags())
	cmd.Flags().IntVar(&o.n, "n", 16, "PNG: how many images to show")
	return cmd
}

func runReconstruct(ctx context.Context, o *reconstructOptions, stdout, info io.Writer) error {
	if o.output == "" {
		return usagef("-o/--output is required: pass out.npy, out.csv or out.png")
	}
	if o.batch < 1 {
		return usagef("--batch %d: want at least 1", o.batch)
	}
	if err := refuseOverwrite(o.output, o.data.path, o.model); err != nil {
		return err
	}
	m, err := openModel(o.model)
	if err != nil {
		return err
	}
	if err := o.precision.apply(m, o.data.warn); err != nil {
		return err
	}
	switch strings.ToLower(filepath.Ext(o.data.path)) {
	case ".png", ".jpg", ".jpeg", ".bmp":
		return reconstructPicture(o, m, stdout, info)
	}
	if isPNG(o.output) {
		return reconstructPNG(o, m, info)
	}
	// Streamed in batches: a file larger than memory works.
	rows, cols, err := mapRows(m, &o.data, o.batch, o.output, stdout, "reconstruct", m.OutShape, func(pre *dataset.Preprocessor, cols int) []string {
		if h := pre.Features(); len(h) == cols {
			return h
		}
		return m.FeatureNames(cols)
	}, m.Reconstruct)
	if err != nil {
		return err
	}
	fmt.Fprintf(info, "wrote %s: %d reconstructions of %d features\n", o.output, rows, cols)
	return nil
}

// reconstructPNG draws the first --n samples above their reconstructions.
func reconstructPNG(o *reconstructOptions, m *ae.Model, info io.Writer) error {
	if o.data.maxRows == 0 || o.data.maxRows > o.n {
		o.data.maxRows = max(o.n, 1) // read only what is drawn
	}
	ds, err := loadData(m, &o.data, 1)
	if err != nil {
		return err
	}
	n := max(1, min(o.n, ds.Len()))
	x := tensor.From(ds.X.Data[:n*ds.Dim()], append([]int{n}, ds.Shape...)...)
	y, err := m.Reconstruct(nil, x)
	if err != nil {
		return err
	}
	if len(ds.Shape) < 2 || len(y.Data) != len(x.Data) {
		return usagef("%s: a PNG needs image data the model reconstructs (this data has shape %v); write .npy or .csv instead", o.output, ds.Shape)
	}
	if err := report.PairGrid(o.output, ds.Shape, x.Data, y.Data, n); err != nil {
		return err
	}
	fmt.Fprintf(info, "wrote %s: %d originals above their reconstructions\n", o.output, n)
	return nil
}

// reconstructPicture writes an image model's output for one picture: its
// task's (denoised, colorized, reconstructed); upscalers need upscale.
func reconstructPicture(o *reconstructOptions, m *ae.Model, stdout, info io.Writer) error {
	img, err := imagetask.ReadImage(o.data.path)
	if err != nil {
		return err
	}
	task := m.Config.Task
	switch task {
	case ae.TaskUpscale:
		return usagef("model %s is an upscaler; use 'bottleneck upscale -m %s --scale S'", o.model, o.model)
	case "":
		task = ae.TaskReconstruct
	}
	out, err := imagetask.Apply(m, task, img, 0, imagetask.Options{})
	if err != nil {
		return fmt.Errorf("%s: %w", o.data.path, err)
	}
	out.Clamp()
	if err := writePicture(o.output, out, stdout); err != nil {
		return err
	}
	fmt.Fprintf(info, "wrote %s (%d×%d)\n", o.output, out.W, out.H)
	return nil
}
