package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/bottleneck-ml/bottleneck/ae"
	"github.com/bottleneck-ml/bottleneck/zoo"
)

type inspectOptions struct {
	json bool
}

func newInspectCommand(g *globalOptions) *cobra.Command {
	o := &inspectOptions{}
	cmd := &cobra.Command{
		Use:   "inspect MODEL",
		Short: "Show a model file's architecture, parameters, preprocessing, threshold and training record",
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
	det, err := openDetector(path)
	if err != nil {
		return err
	}
	m := det.Model()
	c := m.Config
	if o.json {
		out := map[string]any{
			"format_version": ae.FormatVersion,
			"config":         c,
			"parameters":     m.NumParams(),
			"preprocess":     m.Preprocess,
			"training":       m.Training,
			"version":        det.Version(),
		}
		if th := det.Threshold(); th != nil {
			out["threshold"] = th
			out["score"] = det.Scoring().Metric
		}
		b, _ := json.MarshalIndent(out, "", "  ")
		fmt.Fprintln(stdout, string(b))
		return nil
	}
	size := "shipped in the binary"
	if st, err := os.Stat(path); err == nil {
		size = fmt.Sprintf("%d bytes", st.Size())
	}
	fmt.Fprintf(stdout, "model        %s (%s, format %s v%d, version %s)\n", path, size, ae.FormatName, ae.FormatVersion, det.Version())
	kind := map[string]string{"dense": "dense autoencoder", "vae": "variational dense autoencoder", "conv": "convolutional model", "conv-vae": "convolutional VAE"}[c.Kind()]
	fmt.Fprintf(stdout, "architecture %s", kind)
	if c.Task != "" {
		fmt.Fprintf(stdout, ", task %s", c.Task)
	}
	fmt.Fprintln(stdout)
	if w, ok := strings.CutPrefix(strings.TrimPrefix(c.Summary(), "variational "), "dense "); ok {
		chain := strings.Split(w, " → ")
		mid := len(chain) / 2
		fmt.Fprintf(stdout, "  encoder    %s\n", strings.Join(chain[:mid+1], " → "))
		fmt.Fprintf(stdout, "  decoder    %s\n", strings.Join(chain[mid:], " → "))
	}
	fmt.Fprintf(stdout, "  layers     %s | %s\n", strings.Join(c.Encoder, ","), strings.Join(c.Decoder, ","))
	if c.Input != nil {
		fmt.Fprintf(stdout, "  input      %v (code %d)\n", c.Input, m.CodeSize())
	} else {
		fmt.Fprintf(stdout, "  input      %d channels, any size that is a multiple of %d\n", c.Channels, c.Multiple())
	}
	if c.Residual {
		fmt.Fprintln(stdout, "  residual   output = input + network")
	}
	fmt.Fprintf(stdout, "  loss       %s\n", c.Loss)
	if c.Variational {
		fmt.Fprintf(stdout, "  vae        likelihood %s, β %g, binarised inputs %v\n", c.Likelihood, c.Beta, c.Binarize)
	}
	for _, kv := range [][2]string{{"sparsity", c.Sparsity}, {"noise", c.Noise}, {"color", c.Color}} {
		if kv[1] != "" {
			fmt.Fprintf(stdout, "  %-10s %s\n", kv[0], kv[1])
		}
	}
	if len(c.Scales) > 0 {
		fmt.Fprintf(stdout, "  scales     %v\n", c.Scales)
	}
	fmt.Fprintf(stdout, "parameters   %d in %d tensors\n", m.NumParams(), len(m.Params.Params))
	if len(m.Params.Params) <= 24 {
		for _, p := range m.Params.Params {
			fmt.Fprintf(stdout, "  %-22s %v\n", p.Name, p.Shape)
		}
	}
	fmt.Fprintf(stdout, "preprocess   %s\n", preSummary(m.Preprocess))
	if w := det.Window(); w > 1 {
		fmt.Fprintf(stdout, "window       %d rows per sample (a time-series detector)\n", w)
	}
	if th := det.Threshold(); th != nil {
		fmt.Fprintf(stdout, "threshold    %s\n", th.Describe())
	}
	if r := m.Training; r != nil {
		fmt.Fprintf(stdout, "training     %d/%d epochs (%s)", r.Epochs, r.MaxEpochs, r.Stopped)
		if r.BestEpoch > 0 {
			fmt.Fprintf(stdout, ", best epoch %d", r.BestEpoch)
		}
		if r.Steps > 0 && r.Patch > 0 {
			fmt.Fprintf(stdout, " of %d steps, patch %d", r.Steps, r.Patch)
		}
		fmt.Fprintf(stdout, ", batch %d, %s lr %g (%s), seed %d\n", r.Batch, orNone(r.Optimizer), r.LR, r.Schedule, r.Seed)
		best := r.Epochs
		if r.BestEpoch > 0 {
			best = r.BestEpoch
		}
		if best > 0 && best <= len(r.TrainLoss) {
			fmt.Fprintf(stdout, "  loss       train %.6f", r.TrainLoss[best-1])
			if best <= len(r.ValLoss) {
				fmt.Fprintf(stdout, ", val %.6f", r.ValLoss[best-1])
			}
			fmt.Fprintln(stdout)
		}
		if n := len(r.Val); n > 0 {
			fmt.Fprintf(stdout, "  val        %s\n", r.Val[n-1])
		}
		if r.TrainRows > 0 {
			fmt.Fprintf(stdout, "  rows       %d train, %d validation\n", r.TrainRows, r.ValRows)
		}
		fmt.Fprintf(stdout, "  time       %.1fs (%.0f samples/s), finished %s\n", r.Seconds, r.SamplesPerSec, r.Finished.Format("2006-01-02 15:04 UTC"))
		if r.Command != "" {
			fmt.Fprintf(stdout, "  command    %s\n", r.Command)
		}
	}
	return nil
}

type modelsOptions struct {
	json bool
}

func newModelsCommand(g *globalOptions) *cobra.Command {
	o := &modelsOptions{}
	cmd := &cobra.Command{
		Use:   "models",
		Short: "List the models shipped in the binary",
		Long: `List the models embedded in the binary: name, size, what they are and the
results recorded for them (see docs/RESULTS.md for the commands). Every
command that takes -m MODEL accepts these names as well as files.`,
		Example: `  bottleneck models
  bottleneck generate -m mnist-vae -n 64 -o grid.png`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runModels(cmd.Context(), o, cmd.OutOrStdout())
		},
	}
	cmd.Flags().BoolVar(&o.json, "json", false, "print a JSON array")
	return cmd
}

func runModels(ctx context.Context, o *modelsOptions, stdout io.Writer) error {
	es, err := zoo.List()
	if err != nil {
		return err
	}
	if o.json {
		if es == nil {
			es = []zoo.Entry{}
		}
		b, _ := json.Marshal(es)
		fmt.Fprintln(stdout, string(b))
		return nil
	}
	if len(es) == 0 {
		fmt.Fprintln(stdout, "no models are shipped in this binary")
		return nil
	}
	for i, e := range es {
		if i > 0 {
			fmt.Fprintln(stdout)
		}
		fmt.Fprintf(stdout, "%-14s %7.1f MB  %s\n", e.Name, float64(e.Size)/1e6, e.Description)
		keys := make([]string, 0, len(e.Results))
		for k := range e.Results {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(stdout, "%-14s %10s  %s: %s\n", "", "", k, e.Results[k])
		}
	}
	return nil
}
