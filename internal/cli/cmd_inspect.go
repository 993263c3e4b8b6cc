package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/bottleneck-ml/bottleneck/ae"
	"github.com/bottleneck-ml/bottleneck/train"
)

type inspectOptions struct {
	json bool
}

func newInspectCommand(g *globalOptions) *cobra.Command {
	o := &inspectOptions{}
	cmd := &cobra.Command{
		Use:   "inspect MODEL",
		Short: "Show a model file's architecture, parameters, preprocessing and training record",
		Example: `  bottleneck inspect mnist.safetensors
  bottleneck inspect --json mnist.safetensors`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runInspect(cmd.Context(), args[0], o, cmd.OutOrStdout())
		},
	}
	cmd.Flags().BoolVar(&o.json, "json", false, "print the metadata as JSON")
	return cmd
}

func runInspect(ctx context.Context, path string, o *inspectOptions, stdout io.Writer) error {
	if isConvModel(path) {
		return inspectConv(path, o, stdout)
	}
	m, err := loadModelOrZoo(path)
	if err != nil {
		return err
	}
	if o.json {
		out := map[string]any{
			"format_version": ae.FormatVersion,
			"config":         m.Config,
			"parameters":     m.NumParams(),
			"preprocess":     m.Preprocess,
			"training":       m.Training,
			"threshold":      m.Threshold,
		}
		b, _ := json.MarshalIndent(out, "", "  ")
		fmt.Fprintln(stdout, string(b))
		return nil
	}
	c := m.Config
	fmt.Fprintf(stdout, "model        %s (%s, format %s v%d)\n", path, modelSize(path), ae.FormatName, ae.FormatVersion)
	fmt.Fprintf(stdout, "architecture %s autoencoder\n", c.Arch)
	fmt.Fprintf(stdout, "  encoder    %s\n", widths(c.Input(), c.Hidden, c.Code))
	fmt.Fprintf(stdout, "  decoder    %s\n", widths(c.Code, c.Decoder(), c.Input()))
	fmt.Fprintf(stdout, "  input      %v\n", c.InputShape)
	fmt.Fprintf(stdout, "  activation %s (code %s, output %s)\n", c.Activation, c.CodeActivation, c.Output)
	if c.Dropout > 0 {
		fmt.Fprintf(stdout, "  dropout    %g\n", c.Dropout)
	}
	fmt.Fprintf(stdout, "  loss       %s\n", c.Loss)
	if c.Arch == ae.ArchVAE {
		beta := c.Beta
		if beta == 0 {
			beta = 1
		}
		fmt.Fprintf(stdout, "  vae        likelihood %s, β %g, binarised inputs %v\n", c.Likelihood, beta, c.Binarize)
	}
	if c.Sparsity != "" {
		fmt.Fprintf(stdout, "  sparsity   %s\n", c.Sparsity)
	}
	fmt.Fprintf(stdout, "parameters   %d\n", m.NumParams())
	for _, p := range m.Params.Params {
		fmt.Fprintf(stdout, "  %-22s %v\n", p.Name, p.Shape)
	}
	if pre, err := preprocessor(m); err == nil {
		fmt.Fprintf(stdout, "preprocess   %s\n", preSummary(pre))
	} else {
		fmt.Fprintf(stdout, "preprocess   %v\n", err)
	}
	if len(m.Training) > 0 {
		var r train.Record
		if err := json.Unmarshal(m.Training, &r); err == nil {
			fmt.Fprintf(stdout, "training     %d/%d epochs (%s), best epoch %d, batch %d, %s lr %g, seed %d\n",
				r.Epochs, r.MaxEpochs, r.Stopped, r.BestEpoch, r.Batch, r.Optimizer, r.LR, r.Seed)
			if r.BestEpoch > 0 && r.BestEpoch <= len(r.TrainLoss) {
				fmt.Fprintf(stdout, "  loss       train %.6f", r.TrainLoss[r.BestEpoch-1])
				if r.BestEpoch <= len(r.ValLoss) {
					fmt.Fprintf(stdout, ", val %.6f", r.ValLoss[r.BestEpoch-1])
				}
				fmt.Fprintln(stdout)
			}
			fmt.Fprintf(stdout, "  rows       %d train, %d validation\n", r.TrainRows, r.ValRows)
			fmt.Fprintf(stdout, "  time       %.1fs (%.0f samples/s), finished %s\n", r.Seconds, r.SamplesPerSec, r.Finished.Format("2006-01-02 15:04 UTC"))
		}
	}
	if len(m.Threshold) > 0 {
		fmt.Fprintf(stdout, "threshold    %s\n", string(m.Threshold))
	}
	return nil
}

func widths(in int, mid []int, out int) string {
	parts := []string{fmt.Sprint(in)}
	for _, h := range mid {
		parts = append(parts, fmt.Sprint(h))
	}
	parts = append(parts, fmt.Sprint(out))
	return strings.Join(parts, " → ")
}

// archLine is the whole layer-width chain of a dense autoencoder,
// e.g. "784 → 256 → 32 → 256 → 784".
func archLine(c ae.Config) string {
	mid := append(append(append([]int(nil), c.Hidden...), c.Code), c.Decoder()...)
	return widths(c.Input(), mid, c.Input())
}

// modelSize is the size of a model file, or "shipped" for a built-in name.
func modelSize(path string) string {
	if st, err := os.Stat(path); err == nil {
		return fmt.Sprintf("%d bytes", st.Size())
	}
	return "shipped in the binary"
}

// inspectConv describes a convolutional image model.
func inspectConv(path string, o *inspectOptions, stdout io.Writer) error {
	m, err := loadConvModel(path)
	if err != nil {
		return err
	}
	c := m.Config
	var rec ae.ConvRecord
	hasRec := len(m.Training) > 0 && json.Unmarshal(m.Training, &rec) == nil
	if o.json {
		out := map[string]any{"format_version": ae.FormatVersion, "config": c, "parameters": m.NumParams()}
		if hasRec {
			out["training"] = rec
		}
		b, _ := json.MarshalIndent(out, "", "  ")
		fmt.Fprintln(stdout, string(b))
		return nil
	}
	kind := "convolutional"
	if c.Variational {
		kind = "convolutional VAE"
	}
	fmt.Fprintf(stdout, "model        %s (%s, format %s v%d)\n", path, modelSize(path), ae.FormatName, ae.FormatVersion)
	fmt.Fprintf(stdout, "architecture %s model, task %s\n", kind, c.Task)
	fmt.Fprintf(stdout, "  encoder    %s\n", strings.Join(c.Encoder, ","))
	fmt.Fprintf(stdout, "  decoder    %s\n", strings.Join(c.Decoder, ","))
	if c.InputShape != nil {
		fmt.Fprintf(stdout, "  input      %v (code %d)\n", c.InputShape, m.CodeSize())
	} else {
		fmt.Fprintf(stdout, "  input      %d channels, any size that is a multiple of %d\n", c.InChannels, c.Multiple())
	}
	fmt.Fprintf(stdout, "  output     %d channels (%s)", c.OutChannels, c.Color)
	if c.Residual {
		fmt.Fprint(stdout, ", residual: input + network")
	}
	fmt.Fprintln(stdout)
	fmt.Fprintf(stdout, "  loss       %s\n", c.Loss)
	if c.Variational {
		lik := c.Likelihood
		if lik == "" {
			lik = ae.LikelihoodBernoulli
		}
		fmt.Fprintf(stdout, "  vae        likelihood %s, β %g, binarised inputs %v\n", lik, c.Beta, c.Binarize)
	}
	if c.Noise != "" {
		fmt.Fprintf(stdout, "  noise      %s\n", c.Noise)
	}
	if len(c.Scales) > 0 {
		fmt.Fprintf(stdout, "  scales     %v\n", c.Scales)
	}
	fmt.Fprintf(stdout, "parameters   %d in %d tensors\n", m.NumParams(), len(m.Params.Params))
	if hasRec {
		fmt.Fprintf(stdout, "training     %d/%d epochs (%s) of %d steps, batch %d, patch %d, lr %g (%s), seed %d\n",
			rec.Epochs, rec.MaxEpochs, rec.Stopped, rec.Steps, rec.Batch, rec.Patch, rec.LR, rec.Schedule, rec.Seed)
		if n := len(rec.TrainLoss); n > 0 {
			fmt.Fprintf(stdout, "  loss       %.6f (last epoch)\n", rec.TrainLoss[n-1])
		}
		if n := len(rec.Val); n > 0 {
			fmt.Fprintf(stdout, "  val        %s\n", rec.Val[n-1])
		}
		fmt.Fprintf(stdout, "  time       %.0fs, finished %s\n", rec.Seconds, rec.Finished.Format("2006-01-02 15:04 UTC"))
		if rec.Command != "" {
			fmt.Fprintf(stdout, "  command    %s\n", rec.Command)
		}
	}
	return nil
}
