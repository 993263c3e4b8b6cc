package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/bottleneck-ml/bottleneck/latent"
	"github.com/bottleneck-ml/bottleneck/probe"
)

type probeOptions struct {
	model       string
	data        dataFlags
	train, test string
	json        bool
	baselines   bool
	l2          float64
	maxIter     int
}

func newProbeCommand(g *globalOptions) *cobra.Command {
	o := &probeOptions{}
	cmd := &cobra.Command{
		Use:   "probe -m MODEL --train PATH --test PATH",
		Short: "Linear-probe accuracy of a model's codes, beside PCA and raw inputs",
		Long: `Measure how much of the label a model's code holds: encode the labelled
training and test files, fit a multinomial logistic regression (softmax,
L2 λ, L-BFGS, features standardised) on the training codes and report its
accuracy on the test codes. The same probe runs on PCA with as many
components as the code has (fitted on the training inputs) and on the raw
preprocessed inputs, the baselines a code should beat. A VAE is probed on
its mean code.

Labels come with the data: the labels file beside an IDX images file, or
the label column the model was trained with.`,
		Example: `  bottleneck probe -m mnist-vae --train ../shared/data/mnist/train-images-idx3-ubyte.gz \
      --test ../shared/data/mnist/t10k-images-idx3-ubyte.gz --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.data.warn = cmd.ErrOrStderr()
			return runProbe(cmd.Context(), o, g, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.model, "model", "m", "", "model file or shipped model name (required)")
	o.data.add(f)
	_ = f.MarkHidden("data")
	f.StringVar(&o.train, "train", "", "labelled data to fit the probe on (required)")
	f.StringVar(&o.test, "test", "", "labelled data to score the probe on (required)")
	f.BoolVar(&o.json, "json", false, "print one JSON object (keys accuracy, pca, raw, …)")
	f.BoolVar(&o.baselines, "baselines", true, "also probe PCA and the raw inputs")
	f.Float64Var(&o.l2, "l2", 1e-4, "L2 penalty λ of the logistic regression")
	f.IntVar(&o.maxIter, "max-iter", 300, "L-BFGS iterations")
	return cmd
}

// ProbeResult is what probe prints: the model's name and kind, then the
// comparison.
type ProbeResult struct {
	Model string `json:"model"`
	Arch  string `json:"arch"`
	*probe.Report
}

func runProbe(ctx context.Context, o *probeOptions, g *globalOptions, stdout, stderr io.Writer) error {
	if o.train == "" || o.test == "" {
		return usagef("--train and --test are required: pass two labelled data files")
	}
	if o.l2 < 0 || o.maxIter < 1 {
		return usagef("--l2 must be ≥ 0 and --max-iter ≥ 1")
	}
	m, err := openModel(o.model)
	if err != nil {
		return err
	}
	load := func(path string) (probe.Set, error) {
		d := o.data
		d.path = path
		ds, err := loadData(m, &d, 1)
		if err != nil {
			return probe.Set{}, err
		}
		if !ds.HasLabels() {
			return probe.Set{}, fmt.Errorf("%s has no labels; the probe needs them: put the labels file beside the IDX images, or train the model with --label", path)
		}
		codes, err := latent.Codes(m, ds.X)
		return probe.Set{X: ds.X, Codes: codes, Labels: ds.Labels}, err
	}
	var in probe.CompareInput
	if in.Train, err = load(o.train); err != nil {
		return err
	}
	if in.Test, err = load(o.test); err != nil {
		return err
	}
	opt := probe.CompareOptions{L2: o.l2, MaxIter: o.maxIter, Baselines: o.baselines}
	if !g.quiet && !o.json {
		opt.Progress = func(name string, s *probe.Score) {
			switch name {
			case "code":
				fmt.Fprintf(stderr, "code (%d-d): accuracy %.4f\n", s.Features, s.Accuracy)
			case "pca":
				fmt.Fprintf(stderr, "pca-%d: accuracy %.4f\n", s.Features, s.Accuracy)
			}
		}
	}
	rep, err := probe.Compare(ctx, in, opt)
	if err != nil {
		return err
	}
	res := ProbeResult{Model: o.model, Arch: m.Config.Kind(), Report: rep}
	if o.json {
		b, _ := json.Marshal(res)
		fmt.Fprintln(stdout, string(b))
		return nil
	}
	return rep.WriteText(stdout)
}
