package cli

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

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
			return runEncode(cmd.Context(), o, cmd.OutOrStdout())
		},
	}
	cmd.Flags().StringVarP(&o.model, "model", "m", "", "model file (required)")
	o.data.add(cmd.Flags())
	cmd.Flags().StringVarP(&o.output, "output", "o", "", "output file, .npy or .csv (required)")
	cmd.Flags().IntVar(&o.batch, "batch", 256, "rows per forward pass")
	return cmd
}

func runEncode(ctx context.Context, o *encodeOptions, stdout io.Writer) error {
	if o.output == "" {
		return usagef("-o/--output is required: pass codes.npy or codes.csv")
	}
	if isConvModel(o.model) {
		cm, err := loadConvModel(o.model)
		if err != nil {
			return err
		}
		return encodeConv(cm, o, stdout) // cmd_encode_stream.go
	}
	m, err := loadModel(o.model)
	if err != nil {
		return err
	}
	// Streamed in batches (cmd_encode_stream.go): a file larger than memory works.
	rows, err := encodeStream(m, &o.data, o.output, max(1, o.batch))
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s: %d codes of size %d\n", o.output, rows, m.Config.Code)
	return nil
}

// mapRows applies f (a model's Encode or Reconstruct) to x in batches and
// collects the outputs of width outCols into one tensor.
func mapRows(f func(*tensor.Tensor) *tensor.Tensor, x *tensor.Tensor, outCols, batch int) *tensor.Tensor {
	n, d := x.Rows(), x.Cols()
	out := tensor.New(n, outCols)
	for lo := 0; lo < n; lo += batch {
		hi := min(lo+batch, n)
		y := f(tensor.From(x.Data[lo*d:hi*d], hi-lo, d))
		copy(out.Data[lo*outCols:hi*outCols], y.Data)
	}
	return out
}
