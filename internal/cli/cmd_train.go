package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/bottleneck-ml/bottleneck/ae"
	"github.com/bottleneck-ml/bottleneck/anomaly"
	"github.com/bottleneck-ml/bottleneck/dataset"
	"github.com/bottleneck-ml/bottleneck/internal/atomicfile"
	"github.com/bottleneck-ml/bottleneck/internal/report"
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
	loss       string
	dropout    float64
	val        float64
	checkpoint string
	resume     bool
	noPlot     bool
	threshold  string      // anomaly threshold spec (anomaly_train.go)
	score      string      // anomaly score metric (anomaly_train.go)
	scoreTrim  float64     // mahal: fraction trimmed from the covariance refit (anomaly_train.go)
	window     windowFlags // time-series windows (anomaly_window.go)
	fit        train.Options
	latent     latentTrainFlags // VAE and sparsity flags (cmd_train_latent.go)
	image      imageTrainFlags  // --task for image models (cmd_train_image.go)
}

func newTrainCommand(g *globalOptions) *cobra.Command {
	o := &trainOptions{}
	cmd := &cobra.Command{
		Use:   "train --data PATH -o MODEL",
		Short: "Train an autoencoder on a data file and save it as a model file",
		Long: `Train an autoencoder on a data file. The preprocessing fitted on the data
(scaling, one-hot categories, label and dropped columns) is saved in the
model file with the weights, so later commands apply it by themselves.

Data in [0,1] (images, or NPY already scaled) gets a sigmoid output and
binary cross-entropy; standardised tables get a linear output and MSE.

A checkpoint (MODEL.ckpt) is written after every epoch; Ctrl-C saves it and
stops, and --resume continues from it. The loss history is written beside
the model as MODEL.history.json and drawn as MODEL.loss.png.`,
		Example: `  # MNIST, 784-256-64-32 dense autoencoder
  bottleneck train --data ../shared/data/mnist/train-images-idx3-ubyte.gz -o mnist.safetensors --hidden 256,64 --code 32 --epochs 20

  # NSL-KDD without header, only normal traffic, label and difficulty columns kept out
  bottleneck train --data KDDTrain+.txt --no-header --columns kddcup.names,label,difficulty \
      --label label --drop difficulty --normal normal -o kdd.safetensors`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runTrain(cmd.Context(), o, g, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	o.data.add(f)
	f.StringVarP(&o.output, "output", "o", "", "model file to write (required)")
	f.StringVar(&o.arch, "arch", "dense", "architecture: dense or vae (variational)")
	f.StringVar(&o.hidden, "hidden", "auto", "encoder hidden widths, input side first (the decoder mirrors them); auto: from the input width")
	f.IntVar(&o.code, "code", 0, "code (bottleneck) size (0: about √width, see --hidden auto)")
	f.StringVar(&o.activation, "activation", "relu", "hidden activation: relu, leakyrelu, sigmoid, tanh, gelu, identity")
	f.StringVar(&o.outputAct, "output-activation", "", "output activation (default: sigmoid for [0,1] data, identity otherwise)")
	f.StringVar(&o.loss, "loss", "", "loss: bce, mse or l1 (default: bce with a sigmoid output, mse otherwise)")
	f.Float64Var(&o.dropout, "dropout", 0, "dropout after each hidden layer while training")
	f.IntVar(&o.fit.Epochs, "epochs", 20, "training epochs")
	f.IntVar(&o.fit.Batch, "batch", 128, "mini-batch size")
	f.Float64Var(&o.fit.LR, "lr", 1e-3, "learning rate")
	f.StringVar(&o.fit.Optimizer, "optimizer", "adam", "optimizer: adam, adamw or sgd")
	f.Float64Var(&o.fit.WeightDecay, "weight-decay", 0, "weight decay (0 = the optimizer's default)")
	f.StringVar(&o.fit.Schedule, "schedule", "constant", "learning-rate schedule: constant, step:EVERY:GAMMA, cosine[:WARMUP[:MIN]]")
	f.Float64Var(&o.fit.ClipNorm, "clip", 0, "clip the global gradient norm to this value (0 = off)")
	f.IntVar(&o.fit.Patience, "patience", 5, "early stopping: epochs without validation improvement (0 = off)")
	f.Uint64Var(&o.fit.Seed, "seed", 1, "random seed (weights, split, shuffling)")
	f.Float64Var(&o.val, "val", 0.1, "fraction of rows held out for validation")
	f.StringVar(&o.checkpoint, "checkpoint", "", "checkpoint file (default MODEL.ckpt; \"none\" disables)")
	f.BoolVar(&o.resume, "resume", false, "continue from the checkpoint if it exists")
	f.BoolVar(&o.noPlot, "no-plot", false, "do not write the loss curve PNG")
	o.window.add(f)
	f.StringVar(&o.score, "score", "", "anomaly score stored with the threshold: mahal (Mahalanobis distances of code and residual), mse, nmse (per-feature normalised) or mae (default "+anomaly.DefaultMetric+" for tables, "+anomaly.DefaultImageMetric+" for images)")
	f.Float64Var(&o.scoreTrim, "score-trim", -1, "score mahal: fraction of the training rows farthest from a first fit left out of the covariances (-1: 0.2 when training on all rows, 0 with --normal)")
	f.StringVar(&o.threshold, "threshold", "", "anomaly threshold stored in the model: contamination:P, sigma:K, mad:K, pot:Q, f1 or value:X (default "+anomaly.DefaultSpec+", fitted on the validation rows)")
	o.latent.add(f)
	o.image.add(f)
	return cmd
}

// modelStem is the model path without its extension, for side files.
func modelStem(path string) string {
	return strings.TrimSuffix(path, filepath.Ext(path))
}

func parseWidths(s string) ([]int, error) {
	s = strings.TrimSpace(s)
	if s == "auto" {
		return nil, nil // autoArch picks them
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

func runTrain(ctx context.Context, o *trainOptions, g *globalOptions, stdout, stderr io.Writer) error {
	if o.image.task != "" {
		return runImageTrain(ctx, o, g, stderr)
	}
	if o.output == "" {
		return usagef("-o/--output is required: pass the model file to write")
	}
	if o.val < 0 || o.val >= 1 {
		return usagef("--val %v must be in [0, 1)", o.val)
	}
	hidden, err := parseWidths(o.hidden)
	if err != nil {
		return err
	}
	if _, err := thresholdSpec(o.threshold); err != nil {
		return err
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
	log := stderr
	if g.quiet {
		log = nil
	}
	logf := func(format string, args ...any) {
		if log != nil {
			fmt.Fprintf(log, format, args...)
		}
	}
	logf("data: %s, %d rows × %d features (%s), read in %.1fs\n", o.data.path, ds.X.Rows(), ds.X.Cols(), preSummary(ds.Pre), time.Since(start).Seconds())
	if ds, err = trainWindows(o, ds, logf); err != nil {
		return err
	}

	hidden, code := autoArch(o, hidden, ds.Dim())
	cfg := ae.Config{
		Arch: o.arch, InputShape: ds.Shape, Hidden: hidden, Code: code,
		Activation: o.activation, Output: o.outputAct, Loss: o.loss, Dropout: o.dropout,
	}
	if err := o.latent.apply(&cfg); err != nil {
		return err
	}
	cfg.Defaults(ds.Pre.OutputInUnitRange())
	m, err := ae.New(cfg, o.fit.Seed)
	if err != nil {
		return usageError{err}
	}
	pre, err := json.Marshal(ds.Pre)
	if err != nil {
		return err
	}
	m.Preprocess = pre

	trainDS, valDS := ds, (*dataset.Dataset)(nil)
	if o.val > 0 {
		trainDS, valDS = dataset.Split(ds, o.val, o.fit.Seed)
	}
	fit := o.fit
	fit.Checkpoint = o.checkpoint
	if fit.Checkpoint == "" {
		fit.Checkpoint = o.output + ".ckpt"
	} else if fit.Checkpoint == "none" {
		fit.Checkpoint = ""
	}
	fit.Resume = o.resume
	fit.Log = log
	fit.Bar = log != nil && isTerminal(log)
	fit.BeforeStep = o.latent.schedule(m, fit.Seed)
	logf("model: %s %s, %s output, %s loss, %d parameters\n", cfg.Arch, archLine(cfg), cfg.Output, cfg.Loss, m.NumParams())
	rec, err := train.Fit(ctx, m, trainDS, valDS, fit)
	if err != nil {
		if rec != nil && len(rec.TrainLoss) > 0 && !errors.Is(err, train.ErrDiverged) {
			writeHistory(o, rec, logf)
		}
		return err
	}
	if err := fitThreshold(o, m, ds, trainDS, valDS, logf); err != nil {
		return err
	}
	if err := m.Save(o.output); err != nil {
		return err
	}
	writeHistory(o, rec, logf)
	if fit.Checkpoint != "" {
		// The finished model supersedes the checkpoint.
		_ = os.Remove(fit.Checkpoint)
	}
	best := rec.TrainLoss[rec.BestEpoch-1]
	line := fmt.Sprintf("saved %s: %d epochs (%s), best epoch %d, train loss %.5f", o.output, rec.Epochs, rec.Stopped, rec.BestEpoch, best)
	if len(rec.ValLoss) > 0 {
		line += fmt.Sprintf(", val loss %.5f", rec.ValLoss[rec.BestEpoch-1])
	}
	fmt.Fprintf(stdout, "%s, %.1fs\n", line, rec.Seconds)
	o.latent.report(m, trainDS, stdout)
	return nil
}

func writeHistory(o *trainOptions, rec *train.Record, logf func(string, ...any)) {
	stem := modelStem(o.output)
	hist := struct {
		TrainLoss []float64 `json:"train_loss"`
		ValLoss   []float64 `json:"val_loss"`
		BestEpoch int       `json:"best_epoch"`
		Loss      string    `json:"loss"`
	}{rec.TrainLoss, rec.ValLoss, rec.BestEpoch, rec.Loss}
	if hist.ValLoss == nil {
		hist.ValLoss = []float64{}
	}
	raw, _ := json.MarshalIndent(hist, "", "  ")
	if err := atomicfile.WriteFile(stem+".history.json", func(w io.Writer) error {
		_, err := w.Write(append(raw, '\n'))
		return err
	}, 0o644); err != nil {
		logf("warning: loss history not written: %v\n", err)
	}
	if o.noPlot {
		return
	}
	if err := report.LossCurve(stem+".loss.png", rec.TrainLoss, rec.ValLoss, "training loss ("+rec.Loss+")"); err != nil {
		logf("warning: loss curve not drawn: %v\n", err)
	}
}
