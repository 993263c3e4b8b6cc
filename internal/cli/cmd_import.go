package cli

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/bottleneck-ml/bottleneck/anomaly"
	"github.com/bottleneck-ml/bottleneck/dataset"
	"github.com/bottleneck-ml/bottleneck/onnx"
)

type importOptions struct {
	output, code, score, threshold string
	data                           dataFlags
	val                            float64
	seed                           uint64
}

func newImportCommand(g *globalOptions) *cobra.Command {
	o := &importOptions{}
	cmd := &cobra.Command{
		Use:   "import model.onnx -o model.safetensors [--data PATH]",
		Short: "Read an ONNX autoencoder (e.g. from torch.onnx.export) as a bottleneck model",
		Long: `Read an ONNX graph made of the layers bottleneck has — Gemm, MatMul+Add,
Conv, ConvTranspose, BatchNormalization, Relu, LeakyRelu, Sigmoid, Tanh,
Flatten, Reshape, MaxPool, AveragePool, Resize/Upsample, Identity,
Dropout — such as torch.onnx.export writes for an nn.Sequential
autoencoder, and write it as a model file. The encoder ends at --code
(default: the narrowest activation). Other operators are refused with
the node that has them.

With --data, the model is made a detector as 'train' would, without
changing its weights: preprocessing fitted on the data (--scale: pass
none when the network takes raw values), score statistics, and a
threshold on held-out rows; then score, serve and stream use it.`,
		Example: `  bottleneck import ae.onnx -o ae.safetensors
  bottleneck import ae.onnx -o ae.safetensors --data normal.csv --scale standardize
  bottleneck import conv.onnx -o conv.safetensors --code /encoder/encoder.7/Gemm_output_0`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.data.warn = cmd.ErrOrStderr()
			return runImport(cmd.Context(), args[0], o, g.info(cmd, o.output))
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.output, "output", "o", "", "model file to write (required)")
	f.StringVar(&o.code, "code", "", "the graph tensor that is the code (default: the narrowest activation)")
	o.data.add(f)
	f.StringVar(&o.score, "score", "", "with --data: score metric, "+anomaly.MetricNames+" (default mahal for tables, mse for images)")
	f.StringVar(&o.threshold, "threshold", anomaly.DefaultSpec, "with --data: threshold spec")
	f.Float64Var(&o.val, "val", 0.1, "with --data: fraction of rows the threshold is fitted on")
	f.Uint64Var(&o.seed, "seed", 1, "with --data: seed of the validation split")
	return cmd
}

func runImport(ctx context.Context, path string, o *importOptions, info io.Writer) error {
	if o.output == "" || o.output == "-" {
		return usagef("-o/--output is required: pass model.safetensors")
	}
	if err := refuseOverwrite(o.output, path, o.data.path); err != nil {
		return err
	}
	mp, err := onnx.Load(path)
	if err != nil {
		return err
	}
	m, err := onnx.Import(mp, onnx.ImportOptions{Code: o.code})
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	fmt.Fprintf(info, "imported %s: %s, %d parameters\n  layers %s | %s\n", path, m.Config.Summary(), m.NumParams(),
		strings.Join(m.Config.Encoder, ","), strings.Join(m.Config.Decoder, ","))
	if o.data.path == "" {
		if err := m.Save(o.output); err != nil {
			return err
		}
		fmt.Fprintf(info, "wrote %s\n", o.output)
		return nil
	}
	opt, err := o.data.options()
	if err != nil {
		return err
	}
	var ds *dataset.Dataset
	if m.Preprocess != nil {
		ds, err = dataset.LoadWith(o.data.path, m.Preprocess, opt)
	} else {
		ds, err = dataset.Load(o.data.path, opt)
	}
	if err != nil {
		return err
	}
	det, err := anomaly.Calibrate(m, ds, anomaly.CalibrateOptions{Score: o.score, Threshold: o.threshold, Val: o.val, Seed: o.seed, Log: info})
	if err != nil {
		return err
	}
	if err := det.Save(o.output); err != nil {
		return err
	}
	fmt.Fprintf(info, "wrote %s: preprocessing %s, %s score\n", o.output, det.Preprocessor().Describe(), det.Scoring().Metric)
	return nil
}
