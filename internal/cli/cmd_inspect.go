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
	m, err := ae.Load(path)
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
	st, _ := os.Stat(path)
	c := m.Config
	fmt.Fprintf(stdout, "model        %s (%d bytes, format %s v%d)\n", path, st.Size(), ae.FormatName, ae.FormatVersion)
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
