package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/bottleneck-ml/bottleneck/ae"
	"github.com/bottleneck-ml/bottleneck/anomaly"
	"github.com/bottleneck-ml/bottleneck/imageio"
	"github.com/bottleneck-ml/bottleneck/imagetask"
	"github.com/bottleneck-ml/bottleneck/internal/report"
	"github.com/bottleneck-ml/bottleneck/latent"
	"github.com/bottleneck-ml/bottleneck/noise"
)

type evalOptions struct {
	model  string
	data   dataFlags
	json   bool
	batch  int
	report string
	stderr io.Writer
	// VAE log-likelihood
	nll      bool
	samples  int
	seed     uint64
	binarize string
	// image models
	noise     string
	noiseSeed uint64
	ensemble  bool
	colour    bool
	temp      float64
	precision precisionFlag
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
curves and a score histogram with the threshold marked.

Image models are measured by PSNR and SSIM on a folder of pictures: a
denoiser against the clean pictures after --noise, an upscaler against the
HR pictures (Y channel, border = scale), a colorizer against the colour
originals (grey pictures skipped), beside its chroma and colourfulness;
--data may also be a glob pattern or a comma list of folders, files and
patterns (quote it), to measure on pictures held out of a folder. On an
IDX file, by MSE, BCE and PSNR of the outputs. --nll
estimates a VAE's negative log-likelihood by importance sampling.`,
		Example: `  bottleneck eval -m mnist.safetensors --data ../shared/data/mnist/t10k-images-idx3-ubyte.gz
  bottleneck eval -m kdd.safetensors --data KDDTest+.txt --normal normal --json --report kdd-report
  bottleneck eval -m denoise-gray --data ../shared/data/denoise/set12 --noise gaussian:25
  bottleneck eval -m colorize --data '../shared/data/sr/urban100/img_0[89]*,../shared/data/sr/urban100/img_100*'
  bottleneck eval -m mnist-vae --data t10k-images-idx3-ubyte.gz --nll --samples 5000`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.data.warn = cmd.ErrOrStderr()
			o.stderr = cmd.ErrOrStderr()
			return runEval(cmd.Context(), o, cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.model, "model", "m", "", "model file (required)")
	o.data.add(f)
	f.BoolVar(&o.json, "json", false, "print one JSON object with the keys mse and bce (and roc_auc, pr_auc, f1, precision, recall, threshold for labelled data)")
	f.StringVar(&o.report, "report", "", "labelled data: write roc.png, pr.png, scores.png and metrics.json into this folder")
	f.IntVar(&o.batch, "batch", 256, "rows per forward pass")
	o.precision.add(f)
	f.BoolVar(&o.nll, "nll", false, "VAE: estimate −log p(x) per row by importance sampling (IWAE bound), with the ELBO beside it")
	f.IntVar(&o.samples, "samples", 5000, "--nll: importance samples per row (K)")
	f.Uint64Var(&o.seed, "seed", 1, "--nll: seed of the samples and of the binarisation")
	f.StringVar(&o.binarize, "binarize", "auto", "--nll: score Bernoulli samples of the [0,1] data (stochastic binarisation, fixed by --seed): auto (when the model was trained on binarised data), yes or no")
	f.StringVar(&o.noise, "noise", "", "image models: noise added to the clean images before denoising (e.g. gaussian:25; seeded by --noise-seed)")
	f.Uint64Var(&o.noiseSeed, "noise-seed", 1, "image models: seed of the noise")
	f.BoolVar(&o.ensemble, "ensemble", false, "image models: average over the 8 flips and rotations of each input")
	f.Float64Var(&o.temp, "temperature", 0, "colorizers that classify colours: the annealed mean's temperature (default: the model's)")
	f.BoolVar(&o.colour, "colour", false, "grey denoisers: measure on the colour pictures (cleaned plane by plane in an opponent colour space, as 'bottleneck denoise' does)")
	return cmd
}

// EvalResult is what eval prints for data with rows.
type EvalResult = anomaly.Evaluation

func runEval(ctx context.Context, o *evalOptions, stdout io.Writer) error {
	if o.batch < 1 {
		return usagef("--batch %d: want at least 1", o.batch)
	}
	det, err := openDetector(o.model)
	if err != nil {
		return err
	}
	m := det.Model()
	if err := o.precision.apply(m, o.stderr); err != nil {
		return err
	}
	if err := setTemperature(m, o.temp, o.model); err != nil {
		return err
	}
	switch {
	case o.colour && m.Config.Task != ae.TaskDenoise:
		return usagef("--colour is for denoisers; %s is %s (upscalers are measured on the Y channel, colorizers on RGB)", o.model, describeTask(m))
	case o.colour && (o.nll || !imageio.IsSet(o.data.path)):
		return usagef("--colour measures a denoiser on colour pictures; %s is not a folder, glob or list of pictures (without --colour, IDX images are measured as they are)", o.data.path)
	}
	normal := o.data.normal // eval: names the normal label, does not filter
	o.data.normal = ""
	if o.nll {
		return runNLL(ctx, o, m, stdout)
	}
	if m.Preprocess == nil { // an image model
		if imageio.IsSet(o.data.path) {
			return runImageEval(o, m, stdout)
		}
		return runSetEval(o, m, stdout)
	}
	ds, err := loadData(m, &o.data, det.Window())
	if err != nil {
		return err
	}
	switch _, ok := anomaly.NormalLabel(normal, ds.Pre, ds.Labels); {
	case ds.Labels == nil && (normal != "" || o.report != ""):
		return usagef("%s has no labels; pass --label COL (CSV) or data with labels for detection metrics", o.data.path)
	case ds.Labels != nil && !ok && (o.report != "" || det.Window() > 1):
		return usagef("cannot tell which label is normal (labels: %s); pass --normal VALUE", anomaly.SomeLabels(ds.Labels))
	}
	res, err := anomaly.EvaluateWith(det, ds, anomaly.EvaluateOptions{Normal: normal, Batch: o.batch})
	if err != nil {
		return err
	}
	if o.report != "" {
		if err := report.Detection(o.report, anomaly.Scores(res.Results), res.Anomalous, det.Threshold(), res.Metrics); err != nil {
			return err
		}
		fmt.Fprintf(o.stderr, "wrote %s/{roc,pr,scores}.png and metrics.json\n", o.report)
	}
	if o.json {
		b, _ := json.Marshal(res)
		fmt.Fprintln(stdout, string(b))
		return nil
	}
	return res.WriteText(stdout, det.Window())
}

func (o *evalOptions) noiseModel() (*noise.Model, error) {
	if o.noise == "" {
		return nil, nil
	}
	v, err := noise.Parse(o.noise)
	if err != nil {
		return nil, usagef("--noise: %v", err)
	}
	return &v, nil
}

// runSetEval measures an image model on an IDX/NPY set of small images.
func runSetEval(o *evalOptions, m *ae.Model, stdout io.Writer) error {
	nm, err := o.noiseModel()
	if err != nil {
		return err
	}
	ds, err := loadData(m, &o.data, 1)
	if err != nil {
		return err
	}
	r, err := imagetask.BenchSet(m, ds, nm, o.noiseSeed)
	if err != nil {
		return err
	}
	if o.json {
		b, _ := json.Marshal(r)
		fmt.Fprintln(stdout, string(b))
		return nil
	}
	fmt.Fprintf(stdout, "images  %d\n%s\n", r.N, r)
	return nil
}

func runImageEval(o *evalOptions, m *ae.Model, stdout io.Writer) error {
	start := time.Now()
	nm, err := o.noiseModel()
	if err != nil {
		return err
	}
	bo := imagetask.BenchOptions{Noise: nm, Seed: o.noiseSeed, Colour: o.colour, Options: imagetask.Options{Ensemble: o.ensemble}}
	if o.data.scale != "" && o.data.scale != "auto" {
		sc, err := parseScales(o.data.scale)
		if err != nil || len(sc) != 1 {
			return usagef("--scale %q: give one scale, e.g. --scale 3", o.data.scale)
		}
		bo.Scale = sc[0]
	}
	res, err := imagetask.Bench(m, o.data.path, bo)
	if err != nil {
		return usageError{err}
	}
	if o.json {
		b, _ := json.Marshal(struct {
			*imagetask.Benchmark
			Seconds float64 `json:"seconds"`
		}{res, time.Since(start).Seconds()})
		fmt.Fprintln(stdout, string(b))
		return nil
	}
	return res.WriteText(stdout)
}

// runNLL is eval --nll: a VAE's −log p(x) by importance sampling.
func runNLL(ctx context.Context, o *evalOptions, m *ae.Model, stdout io.Writer) error {
	if !m.IsVAE() {
		return usagef("--nll needs a VAE (train one with --arch vae or --preset mnist-vae-conv); %s is a %s", o.model, m.Config.Summary())
	}
	if o.samples < 1 {
		return usagef("--samples %d must be at least 1", o.samples)
	}
	nopt := latent.NLLOptions{Samples: o.samples, Seed: o.seed}
	switch o.binarize {
	case "auto":
		nopt.Binarize = m.Config.Binarize
	case "yes", "true":
		nopt.Binarize = true
	case "no", "false":
	default:
		return usagef("--binarize %q: want auto, yes or no", o.binarize)
	}
	ds, err := loadData(m, &o.data, 1)
	if err != nil {
		return err
	}
	start := time.Now()
	if o.stderr != nil && !o.json {
		last := time.Now()
		nopt.Progress = func(done, total int) {
			if time.Since(last) > 30*time.Second {
				last = time.Now()
				el := time.Since(start).Seconds()
				fmt.Fprintf(o.stderr, "%d/%d rows, %.0fs, about %.0fs left\n", done, total, el, el/float64(max(done, 1))*float64(total-done))
			}
		}
	}
	res, err := latent.NLL(ctx, m, ds.X, nopt)
	if err != nil {
		return err
	}
	secs := time.Since(start).Seconds()
	if o.json {
		b, _ := json.Marshal(struct {
			latent.NLLResult
			Seconds float64 `json:"seconds"`
		}{res, secs})
		fmt.Fprintln(stdout, string(b))
		return nil
	}
	return res.WriteText(stdout, secs)
}

// describeTask names what m was trained for, for messages.
func describeTask(m *ae.Model) string {
	switch {
	case m.Config.Task != "":
		return "a model trained to " + m.Config.Task
	case m.Preprocess != nil:
		return "a model of table rows"
	}
	return "a model of whole images"
}
