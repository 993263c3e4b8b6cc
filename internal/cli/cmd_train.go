package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/bottleneck-ml/bottleneck/anomaly"
	"github.com/bottleneck-ml/bottleneck/dataset"
	"github.com/bottleneck-ml/bottleneck/imagetask"
	"github.com/bottleneck-ml/bottleneck/internal/report"
	"github.com/bottleneck-ml/bottleneck/noise"
	"github.com/bottleneck-ml/bottleneck/train"
)

type trainOptions struct {
	data       dataFlags
	output     string
	arch       string
	hidden     string
	code       int
	activation string
	outputAct  string
	codeAct    string
	loss       string
	dropout    float64
	sparsity   string
	likelihood string
	beta       float64
	binarize   bool
	rebalance  float64
	val        float64
	checkpoint string
	resume     bool
	init       string
	noPlot     bool
	threshold  string
	score      string
	scoreTrim  float64
	window     int
	stride     int
	fit        train.Options
	batch      int
	seed       uint64
	// image tasks
	task, noise, preset, encoder, decoder, valData, valNoise string
	patch, steps                                             int
	residual, colour, reproducible                           bool
	cmd                                                      *cobra.Command
}

func newTrainCommand(g *globalOptions) *cobra.Command {
	o := &trainOptions{}
	cmd := &cobra.Command{
		Use:   "train --data PATH -o MODEL",
		Short: "Train an autoencoder on a data file and save it as a model file",
		Long: `Train an autoencoder on a data file. The preprocessing fitted on the data
(scaling, one-hot categories, label and dropped columns), the anomaly
score's statistics and a threshold are saved in the model file with the
weights, so later commands apply them by themselves.

Data in [0,1] (images, or NPY already scaled) gets a sigmoid output and
binary cross-entropy; standardised tables get a linear output and MSE.
A dense autoencoder on IDX images has its own defaults, measured on MNIST
(docs/RESULTS.md): --epochs 50 --lr 5e-3 --schedule cosine --activation
leakyrelu; a flag given wins. Tables (and VAEs) keep 20 epochs at a
constant 1e-3 with relu.
With --task, a convolutional image model is trained on patches instead
(denoise, upscale, colorize or reconstruct).

A checkpoint (MODEL.ckpt) is written after every epoch; Ctrl-C stops and
keeps it, and --resume continues from it. The loss history is written
beside the model as MODEL.history.json and drawn as MODEL.loss.png.

--init starts from a trained model's weights instead of random ones
(fine-tuning: another loss, learning rate or data); the architecture
flags must describe the same network, and the model file keeps the
record of the one it started from.`,
		Example: `  # MNIST, 784-256-64-32 dense autoencoder
  bottleneck train --data ../shared/data/mnist/train-images-idx3-ubyte.gz -o mnist.safetensors --hidden 256,64 --code 32

  # NSL-KDD without header, only normal traffic, label and difficulty columns kept out
  bottleneck train --data KDDTrain+.txt --no-header --columns kddcup.names,label,difficulty \
      --label label --drop difficulty --normal normal -o kdd.safetensors

  # a blind Gaussian denoiser on a folder of pictures
  bottleneck train --task denoise --data train-images/ --noise gaussian:0-55 -o denoiser.safetensors

  # refine the shipped x2 upscaler with an MSE loss at a low learning rate
  bottleneck train --task upscale --scale 2 --data ../shared/data/sr/t91 --init upscale-x2 --preset restore:10:64 \
      --loss mse --lr 1e-4 --epochs 5 -o upscale-x2-tuned.safetensors`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runTrain(cmd.Context(), o, g, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	o.cmd = cmd
	f := cmd.Flags()
	o.data.add(f)
	f.StringVarP(&o.output, "output", "o", "", "model file to write (required)")
	f.StringVar(&o.arch, "arch", "dense", "architecture: dense or vae (variational)")
	f.StringVar(&o.hidden, "hidden", "auto", "encoder hidden widths, input side first (the decoder mirrors them); auto: from the input width")
	f.IntVar(&o.code, "code", 0, "code (bottleneck) size (0: about √width, see --hidden auto)")
	f.StringVar(&o.activation, "activation", "relu", "hidden activation: relu, leakyrelu, sigmoid, tanh, gelu, identity (dense models on IDX images: "+anomaly.ImageActivation+")")
	f.StringVar(&o.outputAct, "output-activation", "", "output activation (default: sigmoid for [0,1] data, identity otherwise)")
	f.StringVar(&o.loss, "loss", "", "loss: bce, mse or l1 (default: bce with a sigmoid output, mse otherwise)")
	f.Float64Var(&o.dropout, "dropout", 0, "dropout after each hidden layer while training")
	f.StringVar(&o.codeAct, "code-activation", "", "activation of the code layer (default identity); sigmoid for --sparsity kl")
	f.StringVar(&o.sparsity, "sparsity", "", "activity penalty on the code: l1:λ (e.g. l1:1e-4) or kl:ρ:β (e.g. kl:0.05:1, needs --code-activation sigmoid)")
	f.StringVar(&o.likelihood, "likelihood", "", "VAE decoder likelihood: bernoulli (data in [0,1]) or gaussian (default: bernoulli for [0,1] data)")
	f.Float64Var(&o.beta, "beta", 1, "VAE: weight of the KL term (β-VAE)")
	f.Float64Var(&o.fit.KLWarmup, "kl-warmup", 0, "VAE: epochs over which the KL weight rises linearly from 0 to β")
	f.BoolVar(&o.binarize, "binarize", false, "VAE: train on Bernoulli samples of the [0,1] inputs, redrawn every step (dynamic binarisation)")
	f.IntVar(&o.fit.Epochs, "epochs", 20, "training epochs (dense models on IDX images: "+strconv.Itoa(anomaly.ImageEpochs)+"; tables filtered by --normal: "+strconv.Itoa(anomaly.NormalEpochs)+")")
	f.IntVar(&o.batch, "batch", 128, "mini-batch size (image tasks: 16)")
	f.Float64Var(&o.fit.LR, "lr", 1e-3, "learning rate (dense models on IDX images: "+strconv.FormatFloat(anomaly.ImageLR, 'g', -1, 64)+")")
	f.StringVar(&o.fit.Optimizer, "optimizer", "adam", "optimizer: adam, adamw or sgd")
	f.Float64Var(&o.fit.WeightDecay, "weight-decay", 0, "weight decay (0 = the optimizer's default)")
	f.StringVar(&o.fit.Schedule, "schedule", "constant", "learning-rate schedule: constant, step:EVERY:GAMMA, cosine[:WARMUP[:MIN]] (dense models on IDX images: "+anomaly.ImageSchedule+")")
	f.Float64Var(&o.fit.ClipNorm, "clip", 0, "clip the global gradient norm to this value (0 = off)")
	f.IntVar(&o.fit.Patience, "patience", 5, "early stopping: epochs without validation improvement (0 = off)")
	f.Float64Var(&o.fit.EMA, "ema", 0, "keep an exponential moving average of the weights with this decay per step (e.g. 0.998) and save it as the model")
	f.Uint64Var(&o.seed, "seed", 1, "random seed (weights, split, shuffling)")
	f.Float64Var(&o.val, "val", 0.1, "fraction of rows held out for validation")
	f.StringVar(&o.checkpoint, "checkpoint", "", "checkpoint file (default MODEL.ckpt; \"none\" disables)")
	f.BoolVar(&o.resume, "resume", false, "continue from the checkpoint if it exists")
	f.StringVar(&o.init, "init", "", "start from this model's weights (a file or a shipped model's name): fine-tuning; the architecture flags must describe its network")
	f.BoolVar(&o.noPlot, "no-plot", false, "do not write the loss curve PNG")
	f.BoolVar(&o.reproducible, "reproducible", false, "leave the wall-clock time, speed, date and command line out of the model file, so the same data, flags, seed and --threads give a byte-identical file")
	f.IntVar(&o.window, "window", 0, "time series: score sliding windows of this many consecutive rows (0 = rows on their own)")
	f.IntVar(&o.stride, "stride", 1, "time series: rows between the starts of consecutive windows")
	f.StringVar(&o.score, "score", "", "anomaly score stored with the threshold: mahal (Mahalanobis distances of code and residual), mse, nmse (per-feature normalised) or mae (default "+anomaly.DefaultMetric+" for tables, "+anomaly.DefaultImageMetric+" for images)")
	f.Float64Var(&o.scoreTrim, "score-trim", -1, "score mahal: fraction of the training rows farthest from a first fit left out of the covariances (-1: 0.25 when training on all rows, 0 with --normal)")
	f.StringVar(&o.threshold, "threshold", "", "anomaly threshold stored in the model: far:Q (flag a fraction Q of normal rows), contamination:P, sigma:K, mad:K, pot:Q, f1 or value:X (default "+anomaly.DefaultSpec+", fitted on the validation rows)")
	f.StringVar(&o.task, "task", "", "image task: reconstruct, denoise, upscale or colorize (trains a convolutional model on patches of --data, a folder of images, several joined by commas, or an IDX file)")
	f.StringVar(&o.noise, "noise", "", "corruption for denoising: "+noise.Syntax)
	f.IntVar(&o.patch, "patch", 48, "image tasks: training patch side in pixels")
	f.StringVar(&o.preset, "preset", "", "image tasks: architecture preset: restore[:DEPTH[:WIDTH]], colorize[:WIDTH], colorize-classes[:WIDTH[:T]], mnist-conv[:CODE], mnist-vae-conv[:CODE] (default by task)")
	f.StringVar(&o.encoder, "encoder", "", "image tasks: encoder layer specs, e.g. conv:32:3:s2,relu,conv:64:3:s2,relu (overrides --preset; see package nn)")
	f.StringVar(&o.decoder, "decoder", "", "image tasks: decoder layer specs, e.g. convt:32:3:s2,relu,convt:1:3:s2,sigmoid")
	f.Float64Var(&o.rebalance, "rebalance", 0, "colorize-classes: λ of the colour class rebalancing, w ∝ 1/((1−λ)·p + λ/Q) over the training pictures' colours (0: Zhang et al.'s 0.5; 1: none; lower: rarer, more saturated colours weigh more)")
	f.BoolVar(&o.residual, "residual", false, "image tasks with --encoder: add the input to the output (predict the residual)")
	f.IntVar(&o.steps, "steps", 500, "image tasks: training steps per epoch (data is drawn fresh every step)")
	f.StringVar(&o.valData, "val-data", "", "image tasks: images to report PSNR on after every epoch (not used for training decisions)")
	f.StringVar(&o.valNoise, "val-noise", "", "denoise: noise for --val-data (default: the middle of --noise)")
	f.BoolVar(&o.colour, "colour", false, "denoise/reconstruct: train on RGB instead of grey")
	return cmd
}

func parseWidths(s string) ([]int, error) {
	s = strings.TrimSpace(s)
	if s == "auto" {
		return nil, nil // DefaultArch picks them
	}
	if s == "" || s == "none" {
		return []int{}, nil
	}
	var out []int
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || v <= 0 {
			return nil, usagef("--hidden %q: %q is not a positive width; pass widths like 256,64", s, f)
		}
		out = append(out, v)
	}
	return out, nil
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

func splitSpecs(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// check refuses flag values that training would otherwise replace with
// defaults or fail on late.
func (o *trainOptions) check() error {
	if o.output == "" {
		return usagef("-o/--output is required: pass the model file to write")
	}
	bad := func(v float64) bool { return math.IsNaN(v) || math.IsInf(v, 0) }
	switch {
	case o.fit.Epochs < 1:
		return usagef("--epochs %d: train at least one epoch", o.fit.Epochs)
	case o.batch < 1:
		return usagef("--batch %d: want at least 1", o.batch)
	case !(o.fit.LR > 0) || bad(o.fit.LR):
		return usagef("--lr %v: want a positive learning rate", o.fit.LR)
	case o.fit.ClipNorm < 0 || bad(o.fit.ClipNorm):
		return usagef("--clip %v: want 0 (off) or a positive norm", o.fit.ClipNorm)
	case o.val < 0 || o.val >= 1:
		return usagef("--val %v must be in [0, 1)", o.val)
	case o.fit.Patience < 0 || o.steps < 1 || o.patch < 1:
		return usagef("--patience, --steps and --patch must be positive")
	case o.window < 0 || (o.window > 0 && o.stride < 1):
		return usagef("--window %d, --stride %d: want a window of 0 (off) or more and a stride of at least 1", o.window, o.stride)
	case o.beta <= 0 || bad(o.beta) || o.fit.KLWarmup < 0 || bad(o.fit.KLWarmup):
		return usagef("--beta must be positive and --kl-warmup 0 or more")
	case o.scoreTrim >= 0.9 || bad(o.scoreTrim):
		return usagef("--score-trim %v: leave out less than 0.9 of the rows", o.scoreTrim)
	}
	if o.threshold != "" {
		if _, err := anomaly.ParseSpec(o.threshold); err != nil {
			return usageError{fmt.Errorf("--threshold: %w", err)}
		}
	}
	// a missing folder or a directory for -o shows now, not after training
	if st, err := os.Stat(filepath.Dir(o.output)); err != nil || !st.IsDir() {
		return usagef("-o %s: the folder %s does not exist; create it first", o.output, filepath.Dir(o.output))
	}
	if st, err := os.Stat(o.output); err == nil && st.IsDir() {
		return usagef("-o %s is a folder; pass a file name such as %s", o.output, filepath.Join(o.output, "model.safetensors"))
	}
	return nil
}

func runTrain(ctx context.Context, o *trainOptions, g *globalOptions, stdout, stderr io.Writer) error {
	if err := o.check(); err != nil {
		return err
	}
	if err := refuseOverwrite(o.output, o.data.path, o.valData, o.init); err != nil {
		return err
	}
	var log io.Writer = stderr
	if g.quiet {
		log = nil
	}
	fit := o.fit
	fit.Checkpoint = o.checkpoint
	switch fit.Checkpoint {
	case "":
		fit.Checkpoint = o.output + ".ckpt"
	case "none":
		fit.Checkpoint = ""
	}
	fit.Resume = o.resume
	if o.init != "" {
		m, err := openModel(o.init)
		if err != nil {
			return fmt.Errorf("--init: %w", err)
		}
		fit.Init = m
	}
	fit.Log = log
	fit.Bar = log != nil && isTerminal(log)
	fit.Command = "bottleneck " + strings.Join(os.Args[1:], " ")
	if o.task != "" {
		return runImageTrain(ctx, o, fit, stdout, log)
	}
	if o.noise != "" || o.preset != "" || o.encoder != "" || o.decoder != "" {
		return usagef("--noise, --preset, --encoder and --decoder are for image tasks (--task)")
	}
	hidden, err := parseWidths(o.hidden)
	if err != nil {
		return err
	}
	if o.arch != "dense" && o.arch != "vae" {
		return usagef("--arch %q: want dense or vae", o.arch)
	}
	vae := o.arch == "vae"
	if !vae && (o.likelihood != "" || o.beta != 1 || o.fit.KLWarmup != 0 || o.binarize) {
		return usagef("--likelihood, --beta, --kl-warmup and --binarize are for --arch vae")
	}
	opt, err := o.data.options()
	if err != nil {
		return err
	}
	start := time.Now()
	ds, err := dataset.Load(o.data.path, opt)
	if err != nil {
		return err
	}
	if log != nil {
		fmt.Fprintf(log, "data: %s, %d rows × %d features (%s), read in %.1fs\n", o.data.path, ds.X.Rows(), ds.X.Cols(), ds.Pre.Describe(), time.Since(start).Seconds())
	}
	// A flag not given is left to the library, whose defaults depend on
	// the data (images: anomaly.ImageDefaults; rows filtered by --normal:
	// anomaly.NormalEpochs) and are the flags' defaults otherwise.
	given := o.cmd.Flags().Changed
	act := o.activation
	if !given("epochs") {
		fit.Epochs = 0
	}
	if !given("lr") {
		fit.LR = 0
	}
	if !given("schedule") {
		fit.Schedule = ""
	}
	if !given("activation") {
		act = ""
	}
	to := anomaly.TrainOptions{
		Hidden: hidden, Code: o.code, Variational: vae, Activation: act, CodeActivation: o.codeAct,
		OutputActivation: o.outputAct, Loss: o.loss, Dropout: o.dropout, Sparsity: o.sparsity,
		Likelihood: o.likelihood, Beta: o.beta, Binarize: o.binarize, Seed: o.seed, Batch: o.batch,
		Val: o.val, Window: o.window, Stride: o.stride, Fit: fit, Score: o.score, Threshold: o.threshold, Log: log,
	}
	if anomaly.ImageDefaults(ds, &to) && log != nil {
		fmt.Fprintf(log, "image defaults: %d epochs, lr %g, schedule %s, activation %s (--epochs, --lr, --schedule, --activation change them)\n", to.Fit.Epochs, to.Fit.LR, to.Fit.Schedule, to.Activation)
	}
	if o.val == 0 {
		to.Val = -1
	}
	switch {
	case o.scoreTrim < 0:
		to.ScoreTrim = 0
	case o.scoreTrim == 0:
		to.ScoreTrim = -1
	default:
		to.ScoreTrim = o.scoreTrim
	}
	if ds.Pre.Normal != "" {
		// rows --normal left out were never trained on: labelled anomalies
		// to measure the detector with (and to choose an f1 threshold)
		opt.Normal = ""
		full, err := dataset.LoadWith(o.data.path, ds.Pre, opt)
		if err != nil {
			return err
		}
		to.Anomalies = anomaly.LabelledAnomalies(full, ds.Pre.Normal)
	}
	det, err := anomaly.Train(ctx, ds, to)
	rec := (*train.Record)(nil)
	if det != nil {
		rec = det.Model().Training
	}
	if err != nil {
		if errors.Is(err, anomaly.ErrSpec) {
			return usageError{err}
		}
		return err
	}
	seconds := rec.Seconds
	if o.reproducible {
		train.StripTiming(rec)
	}
	if err := det.Save(o.output); err != nil {
		return err
	}
	if fit.Checkpoint != "" {
		// The finished model supersedes it; removed before the extras
		// below, so that a kill leaves both files only for an instant.
		_ = os.Remove(fit.Checkpoint)
	}
	stem := strings.TrimSuffix(o.output, filepath.Ext(o.output))
	if err := train.WriteHistory(stem+".history.json", rec); err != nil && log != nil {
		fmt.Fprintf(log, "warning: loss history not written: %v\n", err)
	}
	if !o.noPlot {
		if err := report.LossCurve(stem+".loss.png", rec.TrainLoss, rec.ValLoss, "training loss ("+rec.Loss+")"); err != nil && log != nil {
			fmt.Fprintf(log, "warning: loss curve not drawn: %v\n", err)
		}
	}
	best := rec.Epochs
	if rec.BestEpoch > 0 {
		best = rec.BestEpoch
	}
	line := fmt.Sprintf("saved %s: %d epochs (%s), best epoch %d, train loss %.5f", o.output, rec.Epochs, rec.Stopped, best, rec.TrainLoss[best-1])
	if len(rec.ValLoss) >= best {
		line += fmt.Sprintf(", val loss %.5f", rec.ValLoss[best-1])
	}
	fmt.Fprintf(stdout, "%s, %.1fs\n", line, seconds)
	if !vae && (o.sparsity != "" || o.codeAct != "") {
		mean, meanAbs, err := det.Model().MeanActivation(ds.X, 512)
		if err == nil {
			fmt.Fprintf(stdout, "code: mean activation %.4f, mean |activation| %.4f over %d training rows (sparsity %s)\n", mean, meanAbs, ds.X.Rows(), orNone(o.sparsity))
		}
	}
	return nil
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func runImageTrain(ctx context.Context, o *trainOptions, fit train.Options, stdout, log io.Writer) error {
	if o.data.path == "" {
		return usagef("--data is required: a folder of images (or several, comma-separated) or an IDX file")
	}
	to := imagetask.TrainOptions{
		Task: o.task, Data: strings.Split(o.data.path, ","), Noise: o.noise, Colour: o.colour,
		Preset: o.preset, Encoder: splitSpecs(o.encoder), Decoder: splitSpecs(o.decoder), Residual: o.residual,
		Loss: o.loss, Variational: o.arch == "vae", Likelihood: o.likelihood, Binarize: o.binarize, Rebalance: o.rebalance,
		Batch: o.batch, Steps: o.steps, Seed: o.seed, ValData: o.valData, ValNoise: o.valNoise,
		Output: o.output, Fit: fit, Log: log,
	}
	if o.beta != 1 {
		to.Beta = o.beta
	}
	if o.cmd.Flags().Changed("patch") {
		to.Patch = o.patch
	}
	if !o.cmd.Flags().Changed("batch") {
		to.Batch = 16
	}
	if o.task == "upscale" {
		// --scale is shared with the table data flags: for --task upscale it
		// names the scale factors ("auto": 2,3,4, one model for all three)
		if s := o.data.scale; s != "" && s != "auto" {
			sc, err := parseScales(s)
			if err != nil {
				return err
			}
			to.Scales = sc
		}
	}
	start := time.Now()
	m, err := imagetask.Train(ctx, to)
	if err != nil {
		return err
	}
	seconds := m.Training.Seconds
	if o.reproducible {
		train.StripTiming(m.Training)
	}
	if err := m.Save(o.output); err != nil {
		return err
	}
	if fit.Checkpoint != "" {
		_ = os.Remove(fit.Checkpoint)
	}
	if log != nil {
		fmt.Fprintf(log, "wrote %s (%d epochs, %.0f s training, %.0f s total)\n", o.output, m.Training.Epochs, seconds, time.Since(start).Seconds())
	}
	return nil
}

// parseScales reads "2", "2,3,4".
func parseScales(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || v < 2 || v > 8 {
			return nil, usagef("--scale %q: want integers from 2 to 8, e.g. 3 or 2,3,4", s)
		}
		out = append(out, v)
	}
	return out, nil
}
