package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"

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
	card := det.Card()
	if o.json {
		b, _ := json.MarshalIndent(card, "", "  ")
		fmt.Fprintln(stdout, string(b))
		return nil
	}
	size := "shipped in the binary"
	if st, err := os.Stat(path); err == nil {
		size = fmt.Sprintf("%d bytes", st.Size())
	}
	fmt.Fprintf(stdout, "model        %s (%s, format %s v%d, version %s)\n", path, size, ae.FormatName, ae.FormatVersion, det.Version())
	return card.WriteText(stdout)
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
	return zoo.WriteList(stdout, es)
}
