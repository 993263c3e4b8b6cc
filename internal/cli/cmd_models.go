package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/bottleneck-ml/bottleneck/ae"
	"github.com/bottleneck-ml/bottleneck/internal/zoo"
)

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

// loadModelOrZoo loads a model file; when no such file exists and the
// path is the name of a shipped model, that model.
func loadModelOrZoo(path string) (*ae.Model, error) {
	_, statErr := os.Stat(path)
	if statErr == nil || !errors.Is(statErr, fs.ErrNotExist) {
		return ae.Load(path)
	}
	if _, b, ok := zoo.Lookup(path); ok {
		m, err := ae.Decode(b)
		if err != nil {
			return nil, fmt.Errorf("shipped model %s: %w", path, err)
		}
		return m, nil
	}
	hint := ""
	if names := zoo.Names(); len(names) > 0 {
		hint = " or a shipped model (" + strings.Join(names, ", ") + ")"
	}
	return nil, fmt.Errorf("model %s: no such file%s; see 'bottleneck models'", path, hint)
}
