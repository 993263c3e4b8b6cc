package cli

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/bottleneck-ml/bottleneck/onnx"
)

type exportOptions struct {
	model, output, decoder string
	opset                  int
}

func newExportCommand(g *globalOptions) *cobra.Command {
	o := &exportOptions{}
	cmd := &cobra.Command{
		Use:   "export -m MODEL -o model.onnx",
		Short: "Write a model as ONNX, for ONNX Runtime, Triton or a browser",
		Long: `Write a model file or a shipped model as an ONNX graph (opset 17 by
default, 13 to 23) that ONNX Runtime runs to the same outputs.

Input x: the model's own input space ([N, D] rows; [N, C, H, W] images in
[0,1], any height and width for a fully convolutional model). A table
(CSV) model takes the raw numeric columns in its column order and
standardises them inside the graph; categorical columns take one slot per
training category (metadata "encoding").
Outputs: reconstruction, code (a VAE's mean; logvar beside it), and for a
model with a threshold score (what 'bottleneck score' prints) and anomaly.
A VAE's decoder is written beside it as MODEL.decoder.onnx (input code),
for sampling; --decoder names it, or asks for it for any fixed-size model.
docs/FORMAT.md describes the names and metadata.`,
		Example: `  bottleneck export -m kdd.safetensors -o kdd.onnx
  bottleneck export -m mnist-vae -o mnist-vae.onnx      # and mnist-vae.decoder.onnx
  bottleneck export -m denoise-gray -o denoise.onnx --opset 13`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runExport(cmd.Context(), o, g.info(cmd, o.output))
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.model, "model", "m", "", "model file or shipped model name (required)")
	f.StringVarP(&o.output, "output", "o", "", "ONNX file to write (required)")
	f.StringVar(&o.decoder, "decoder", "", "also write the decoder alone to this file (default for a VAE: OUTPUT.decoder.onnx)")
	f.IntVar(&o.opset, "opset", onnx.DefaultOpset, fmt.Sprintf("ONNX opset, %d to %d", onnx.MinOpset, onnx.MaxOpset))
	return cmd
}

func runExport(ctx context.Context, o *exportOptions, info io.Writer) error {
	if o.output == "" || o.output == "-" {
		return usagef("-o/--output is required: pass model.onnx")
	}
	if err := refuseOverwrite(o.output, o.model); err != nil {
		return err
	}
	det, err := openDetector(o.model)
	if err != nil {
		return err
	}
	eo := onnx.ExportOptions{Opset: o.opset}
	mp, err := onnx.Export(det, eo)
	if err != nil {
		return err
	}
	if err := onnx.Save(o.output, mp); err != nil {
		return err
	}
	var outs []string
	for _, v := range mp.GetGraph().GetOutput() {
		outs = append(outs, v.GetName())
	}
	fmt.Fprintf(info, "wrote %s: opset %d, input x, outputs %s\n", o.output, mp.GetOpsetImport()[0].GetVersion(), strings.Join(outs, ", "))
	dec := o.decoder
	if dec == "" && det.Model().IsVAE() {
		dec = strings.TrimSuffix(o.output, ".onnx") + ".decoder.onnx"
	}
	if dec == "" {
		return nil
	}
	if err := refuseOverwrite(dec, o.model); err != nil {
		return err
	}
	dp, err := onnx.ExportDecoder(det, eo)
	if err != nil {
		return err
	}
	if err := onnx.Save(dec, dp); err != nil {
		return err
	}
	fmt.Fprintf(info, "wrote %s: the decoder, input code, output reconstruction\n", dec)
	return nil
}
