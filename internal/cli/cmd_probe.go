package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/bottleneck-ml/bottleneck/ae"
	"github.com/bottleneck-ml/bottleneck/dataset"
	"github.com/bottleneck-ml/bottleneck/probe"
	"github.com/bottleneck-ml/bottleneck/tensor"
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

// ProbeScore is one probe's result.
type ProbeScore struct {
	Features int     `json:"features"`
	Accuracy float64 `json:"accuracy"`
	TrainAcc float64 `json:"train_accuracy"`
	Iter     int     `json:"iterations"`
	Seconds  float64 `json:"seconds"`
	// Explained is the fraction of variance PCA keeps (PCA only).
	Explained float64 `json:"explained_variance,omitempty"`
}

// ProbeResult is what probe prints.
type ProbeResult struct {
	Model     string      `json:"model"`
	Arch      string      `json:"arch"`
	Accuracy  float64     `json:"accuracy"` // the code's probe
	Code      ProbeScore  `json:"code"`
	PCA       *ProbeScore `json:"pca,omitempty"`
	Raw       *ProbeScore `json:"raw,omitempty"`
	TrainRows int         `json:"train_rows"`
	TestRows  int         `json:"test_rows"`
	Classes   int         `json:"classes"`
	L2        float64     `json:"l2"`
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
	load := func(path string) (*dataset.Dataset, error) {
		d := o.data
		d.path = path
		ds, err := loadData(m, &d, 1)
		if err != nil {
			return nil, err
		}
		if !ds.HasLabels() {
			return nil, fmt.Errorf("%s has no labels; the probe needs them: put the labels file beside the IDX images, or train the model with --label", path)
		}
		return ds, nil
	}
	tr, err := load(o.train)
	if err != nil {
		return err
	}
	te, err := load(o.test)
	if err != nil {
		return err
	}
	codes := func(ds *dataset.Dataset) (*tensor.Tensor, error) {
		z, err := ae.Batched(m.Encode, ds.X, 256)
		if err != nil {
			return nil, err
		}
		return tensor.From(z.Data, z.Rows(), len(z.Data)/z.Rows()), nil
	}
	codeTr, err := codes(tr)
	if err != nil {
		return err
	}
	codeTe, err := codes(te)
	if err != nil {
		return err
	}
	flat := func(ds *dataset.Dataset) *dataset.Dataset {
		c := *ds
		c.X = tensor.From(ds.X.Data, ds.Len(), ds.Dim())
		return &c
	}
	return finishProbe(ctx, o, g, m.Config.Kind(), flat(tr), flat(te), codeTr, codeTe, stdout, stderr)
}

// finishProbe fits and scores the probes on the codes and the baselines
// on the inputs, and prints the result.
func finishProbe(ctx context.Context, o *probeOptions, g *globalOptions, arch string, tr, te *dataset.Dataset, codeTr, codeTe *tensor.Tensor, stdout, stderr io.Writer) error {
	logf := func(format string, args ...any) {
		if !g.quiet && !o.json {
			fmt.Fprintf(stderr, format, args...)
		}
	}
	k := codeTr.Cols()
	opt := probe.Options{L2: o.l2, MaxIter: o.maxIter}
	res := ProbeResult{Model: o.model, Arch: arch, TrainRows: tr.Len(), TestRows: te.Len(), L2: o.l2}
	sc, classes, err := probeScore(ctx, codeTr, tr.Labels, codeTe, te.Labels, opt)
	if err != nil {
		return err
	}
	res.Code, res.Accuracy, res.Classes = *sc, sc.Accuracy, classes
	logf("code (%d-d): accuracy %.4f\n", k, sc.Accuracy)
	if o.baselines {
		start := time.Now()
		pca, err := probe.FitPCA(tr.X, min(k, tr.X.Cols()))
		if err != nil {
			return err
		}
		pTr, _ := pca.Transform(tr.X)
		pTe, err := pca.Transform(te.X)
		if err != nil {
			return err
		}
		ps, _, err := probeScore(ctx, pTr, tr.Labels, pTe, te.Labels, opt)
		if err != nil {
			return err
		}
		ps.Explained = pca.Explained()
		ps.Seconds = time.Since(start).Seconds()
		res.PCA = ps
		logf("pca-%d: accuracy %.4f\n", pca.K, ps.Accuracy)
		rs, _, err := probeScore(ctx, tr.X, tr.Labels, te.X, te.Labels, opt)
		if err != nil {
			return err
		}
		res.Raw = rs
	}
	if o.json {
		b, _ := json.Marshal(res)
		fmt.Fprintln(stdout, string(b))
		return nil
	}
	fmt.Fprintf(stdout, "linear probe: softmax regression (L2 %g) fitted on %d rows, scored on %d rows, %d classes\n", o.l2, res.TrainRows, res.TestRows, res.Classes)
	fmt.Fprintf(stdout, "%-10s %9s %9s %10s\n", "features", "dims", "accuracy", "train acc")
	fmt.Fprintf(stdout, "%-10s %9d %9.4f %10.4f\n", "code", res.Code.Features, res.Code.Accuracy, res.Code.TrainAcc)
	if res.PCA != nil {
		fmt.Fprintf(stdout, "%-10s %9d %9.4f %10.4f   (%.1f%% of the variance)\n", "pca", res.PCA.Features, res.PCA.Accuracy, res.PCA.TrainAcc, 100*res.PCA.Explained)
		fmt.Fprintf(stdout, "%-10s %9d %9.4f %10.4f\n", "raw", res.Raw.Features, res.Raw.Accuracy, res.Raw.TrainAcc)
	}
	return nil
}

func probeScore(ctx context.Context, xtr *tensor.Tensor, ltr []string, xte *tensor.Tensor, lte []string, opt probe.Options) (*ProbeScore, int, error) {
	if err := ctx.Err(); err != nil {
		return nil, 0, err
	}
	start := time.Now()
	s, err := probe.Fit(xtr, ltr, opt)
	if err != nil {
		return nil, 0, err
	}
	acc, err := s.Accuracy(xte, lte)
	if err != nil {
		return nil, 0, err
	}
	tacc, _ := s.Accuracy(xtr, ltr)
	return &ProbeScore{Features: xtr.Cols(), Accuracy: acc, TrainAcc: tacc, Iter: s.Iter, Seconds: time.Since(start).Seconds()}, len(s.Classes), nil
}
