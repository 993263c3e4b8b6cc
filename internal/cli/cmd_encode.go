package cli

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/bottleneck-ml/bottleneck/ae"
	"github.com/bottleneck-ml/bottleneck/dataset"
	"github.com/bottleneck-ml/bottleneck/tensor"
)

type encodeOptions struct {
	model     string
	data      dataFlags
	output    string
	batch     int
	precision precisionFlag
}

func newEncodeCommand(g *globalOptions) *cobra.Command {
	o := &encodeOptions{}
	cmd := &cobra.Command{
		Use:   "encode -m MODEL --data PATH -o codes.npy|codes.csv",
		Short: "Write the code (bottleneck features) of every row",
		Long: `Run the encoder over a data file and write one code row per input row, in
input order: a float32 .npy array (rows × code) or a .csv with columns
z0, z1, … . Use the codes for clustering, search or a classifier.

A VAE writes the mean of its code; a convolutional image model its encoder
output, flattened (a convolutional VAE: the mean). NPY and CSV inputs are
read --batch rows at a time, so a file larger than memory works. Images
are pixels 0–255 in IDX and integer NPY files; a float NPY file of images
for a convolutional model is taken as already scaled to [0,1].`,
		Example: `  bottleneck encode -m mnist.safetensors --data t10k-images-idx3-ubyte.gz -o codes.npy
  bottleneck encode -m kdd.safetensors --data KDDTest+.txt -o codes.csv`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.data.warn = cmd.ErrOrStderr()
			return runEncode(cmd.Context(), o, cmd.OutOrStdout(), g.info(cmd, o.output))
		},
	}
	cmd.Flags().StringVarP(&o.model, "model", "m", "", "model file (required)")
	o.data.add(cmd.Flags())
	cmd.Flags().StringVarP(&o.output, "output", "o", "", "output file, .npy or .csv, or - for standard output (CSV, or NPY with --format npy) (required)")
	cmd.Flags().IntVar(&o.batch, "batch", 256, "rows per forward pass")
	o.precision.add(cmd.Flags())
	return cmd
}

func runEncode(ctx context.Context, o *encodeOptions, stdout, info io.Writer) error {
	if o.output == "" {
		return usagef("-o/--output is required: pass codes.npy or codes.csv")
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
	rows, k, err := mapRows(m, &o.data, o.batch, o.output, stdout, "encode", m.CodeShape, func(_ *dataset.Preprocessor, k int) []string {
		names := make([]string, k)
		for i := range names {
			names[i] = fmt.Sprintf("z%d", i)
		}
		return names
	}, m.Encode)
	if err != nil {
		return err
	}
	fmt.Fprintf(info, "wrote %s: %d codes of size %d\n", o.output, rows, k)
	return nil
}

// mapRows streams the data file through f (the encoder, the model) --batch
// rows at a time, parsing the next batches while f runs, into the matrix
// output (outShape's width, header's column names), one row per input row;
// a failure leaves no output. It returns the rows and columns written.
func mapRows(m *ae.Model, d *dataFlags, batch int, output string, stdout io.Writer, verb string, outShape func([]int) ([]int, error),
	header func(*dataset.Preprocessor, int) []string, f func(dst, x *tensor.Tensor) (*tensor.Tensor, error)) (int, int, error) {
	opt, err := d.options()
	if err != nil {
		return 0, 0, err
	}
	pre, shape, err := m.StreamPreprocessor(d.path, opt)
	if errors.Is(err, ae.ErrNotPictures) {
		err = usageError{err}
	}
	if err != nil {
		return 0, 0, err
	}
	out, err := outShape(shape)
	if err != nil {
		return 0, 0, err
	}
	s, err := dataset.OpenStream(d.path, pre, opt, batch)
	if err != nil {
		return 0, 0, err
	}
	s = s.ReadAhead(2)
	defer s.Close()
	cols := tensor.Size(out)
	w, err := createMatrix(output, d.format, cols, header(pre, cols), stdout)
	if err != nil {
		return 0, 0, err
	}
	if err := s.MapTo(w, shape, f); err != nil {
		w.Abort()
		return 0, 0, err
	}
	if d.warn != nil {
		for _, warn := range s.Warnings {
			fmt.Fprintf(d.warn, "warning: %s\n", warn)
		}
	}
	if w.Rows() == 0 {
		w.Abort()
		return 0, 0, fmt.Errorf("%s: no rows to %s", d.path, verb)
	}
	return w.Rows(), cols, w.Close()
}
