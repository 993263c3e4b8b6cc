package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"

	"github.com/spf13/cobra"

	"github.com/bottleneck-ml/bottleneck/ae"
	"github.com/bottleneck-ml/bottleneck/nn"
	"github.com/bottleneck-ml/bottleneck/tensor"
)

type evalOptions struct {
	model string
	data  dataFlags
	json  bool
	batch int
	// anomaly detection (anomaly_eval.go)
	report string
	stderr io.Writer
	nll    nllFlags       // importance-sampled log-likelihood of a VAE (cmd_eval_nll.go)
	image  imageEvalFlags // PSNR/SSIM of image models (cmd_eval_image.go)
}

func newEvalCommand(g *globalOptions) *cobra.Command {
	o := &evalOptions{}
	cmd := &cobra.Command{
		Use:   "eval -m MODEL --data PATH",
		Short: "Measure reconstruction error of a model on a data file",
		Long: `Reconstruct every row of a data file and report the mean error per
element, in the model's preprocessed space: MSE always, and binary
cross-entropy (BCE) when the model reconstructs data in [0,1] with a
sigmoid output.

With labelled data (--label COL for CSV; IDX and NPZ labels come by
themselves) it also measures the model as an anomaly detector: rows whose
label differs from --normal (default: the label the model was trained on,
or 0 for 0/1 labels) are anomalies, and it reports ROC-AUC, PR-AUC
(average precision), precision@n and, at the model's threshold, precision,
recall, F1 and the false/missed-alarm rates. Here --normal names the
normal label; it does not filter rows. --report DIR also draws ROC and PR
curves and a score histogram with the threshold marked.`,
		Example: `  bottleneck eval -m mnist.safetensors --data ../shared/data/mnist/t10k-images-idx3-ubyte.gz
  bottleneck eval -m mnist.safetensors --data t10k-images-idx3-ubyte.gz --json
  bottleneck eval -m kdd.safetensors --data KDDTest+.txt --normal normal --json --report kdd-report`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.data.warn = cmd.ErrOrStderr()
			o.stderr = cmd.ErrOrStderr()
			return runEval(cmd.Context(), o, cmd.OutOrStdout())
		},
	}
	cmd.Flags().StringVarP(&o.model, "model", "m", "", "model file (required)")
	o.data.add(cmd.Flags())
	cmd.Flags().BoolVar(&o.json, "json", false, "print one JSON object with the keys mse and bce (and roc_auc, pr_auc, f1, precision, recall, threshold for labelled data)")
	cmd.Flags().StringVar(&o.report, "report", "", "labelled data: write roc.png, pr.png, scores.png and metrics.json into this folder")
	cmd.Flags().IntVar(&o.batch, "batch", 256, "rows per forward pass")
	o.nll.add(cmd.Flags())
	o.image.add(cmd.Flags())
	return cmd
}

// EvalResult is what eval prints.
type EvalResult struct {
	MSE      float64  `json:"mse"`
	BCE      *float64 `json:"bce"` // null when the model's output is not a probability
	Rows     int      `json:"rows"`
	Features int      `json:"features"`
	// Detection metrics for labelled data (anomaly_eval.go).
	*AnomalyMetrics
}

func runEval(ctx context.Context, o *evalOptions, stdout io.Writer) error {
	if isConvModel(o.model) {
		return runImageEval(ctx, o, stdout)
	}
	m, err := loadModel(o.model)
	if err != nil {
		return err
	}
	normal := o.data.normal // eval: names the normal label, does not filter
	o.data.normal = ""
	if done, err := evalSeries(o, m, normal, stdout); done {
		return err
	}
	ds, err := loadForModel(m, &o.data)
	if err != nil {
		return err
	}
	if o.nll.on {
		return runNLL(ctx, o, m, ds, stdout)
	}
	res := evaluate(m, ds.X, max(1, o.batch))
	if res.AnomalyMetrics, err = evalDetection(m, ds, normal, o.report, max(1, o.batch), o.stderr); err != nil {
		return err
	}
	if o.json {
		b, _ := json.Marshal(res)
		fmt.Fprintln(stdout, string(b))
		return nil
	}
	fmt.Fprintf(stdout, "rows      %d\nfeatures  %d\nmse       %.6f\n", res.Rows, res.Features, res.MSE)
	if res.BCE != nil {
		fmt.Fprintf(stdout, "bce       %.6f\n", *res.BCE)
	}
	if res.AnomalyMetrics != nil {
		printDetection(stdout, res.AnomalyMetrics)
	}
	return nil
}

// evaluate returns the mean per-element MSE and (for sigmoid outputs with
// targets in [0,1]) BCE of m's reconstructions of x.
func evaluate(m *ae.Model, x *tensor.Tensor, batch int) EvalResult {
	n, d := x.Rows(), x.Cols()
	withBCE := m.Config.Output == nn.ActSigmoid
	var se, ce float64
	for lo := 0; lo < n; lo += batch {
		hi := min(lo+batch, n)
		in := tensor.From(x.Data[lo*d:hi*d], hi-lo, d)
		out := m.Reconstruct(in)
		for i, p := range out.Data {
			t := float64(in.Data[i])
			diff := float64(p) - t
			se += diff * diff
			if withBCE {
				if t < 0 || t > 1 {
					withBCE = false
					continue
				}
				pv := float64(p)
				ce -= t*clampLog(pv) + (1-t)*clampLog(1-pv)
			}
		}
	}
	total := float64(max(1, n*d))
	res := EvalResult{MSE: se / total, Rows: n, Features: d}
	if withBCE {
		v := ce / total
		res.BCE = &v
	}
	return res
}

// clampLog is log with PyTorch's BCELoss clamp at -100.
func clampLog(v float64) float64 {
	if v <= 0 {
		return -100
	}
	return max(math.Log(v), -100)
}
