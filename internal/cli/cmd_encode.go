package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/bottleneck-ml/bottleneck/ae"
	"github.com/bottleneck-ml/bottleneck/dataset"
	"github.com/bottleneck-ml/bottleneck/tensor"
)

type encodeOptions struct {
	model  string
	data   dataFlags
	output string
	batch  int
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
	pre, shape, err := streamPre(m, d)
	if err != nil {
		return 0, 0, err
	}
	opt, err := d.options()
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
	var y *tensor.Tensor
	for {
		x, err := s.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err == nil && tensor.Size(x.Shape[1:]) != tensor.Size(shape) {
			err = fmt.Errorf("%s: %d features per row after preprocessing, the model expects %d", d.path, x.Cols(), tensor.Size(shape))
		}
		if err == nil {
			y, err = f(y, tensor.From(x.Data, append([]int{x.Rows()}, shape...)...))
		}
		if err == nil {
			err = w.Write(tensor.From(y.Data, y.Rows(), cols))
		}
		if err != nil {
			w.Abort()
			return 0, 0, err
		}
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

// streamPre is the preprocessing to stream d through m with, and the
// per-sample shape the model takes: the model's own, or for image models
// (which read pixels) one made for the file: IDX and integer NPY pixels
// 0–255 scaled to [0,1], float NPY images taken as they are.
func streamPre(m *ae.Model, d *dataFlags) (*dataset.Preprocessor, []int, error) {
	if m.Preprocess != nil {
		return m.Preprocess, m.Config.Input, nil
	}
	shape := m.Config.Input
	if f, _ := dataset.DetectFormat(d.path); f == dataset.FormatCSV && d.format == "" {
		return nil, nil, usagef("%s is a table, and the model reads images (%s); pass an IDX or NPY file of images", d.path, imageInput(m))
	}
	if shape == nil {
		opt, err := d.options()
		if err != nil {
			return nil, nil, err
		}
		opt.MaxRows = 1
		ds, err := dataset.Load(d.path, opt)
		if err != nil {
			return nil, nil, err
		}
		if len(ds.Shape) != 3 || ds.Shape[0] != m.Config.Channels {
			return nil, nil, fmt.Errorf("%s: samples of shape %v, the model takes %d-channel images", d.path, ds.Shape, m.Config.Channels)
		}
		shape = ds.Shape
	}
	format := dataset.Format(strings.ToLower(d.format))
	if format == "" {
		format, _ = dataset.DetectFormat(d.path)
	}
	if format != dataset.FormatIDX && format != dataset.FormatNPY {
		return nil, nil, usagef("%s is not an IDX or NPY file of images, and the model reads images (%s); pass one", d.path, imageInput(m))
	}
	scale := dataset.ScaleUnit
	if format == dataset.FormatNPY {
		if dt, _, err := dataset.NPYDtype(d.path); err == nil && strings.ContainsRune(dt, 'f') {
			scale = dataset.ScaleNone
		}
	}
	return &dataset.Preprocessor{Kind: dataset.KindImage, Format: format, InputShape: shape, Scale: scale, LabelIndex: -1, Missing: "error"}, shape, nil
}
