package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/bottleneck-ml/bottleneck/ae"
	"github.com/bottleneck-ml/bottleneck/dataset"
	"github.com/bottleneck-ml/bottleneck/internal/demodata"
	"github.com/bottleneck-ml/bottleneck/internal/report"
	"github.com/bottleneck-ml/bottleneck/train"
)

type demoOptions struct {
	out    string
	epochs int
	seed   uint64
}

func newDemoCommand(g *globalOptions) *cobra.Command {
	o := &demoOptions{}
	cmd := &cobra.Command{
		Use:   "demo [--out DIR]",
		Short: "Train a small autoencoder on MNIST digits embedded in the binary and draw what it learned",
		Long: `Train a dense autoencoder (784 → 256 → 64 → 32 → 64 → 256 → 784) on 5,000
MNIST digits embedded in the binary, test it on 1,000 others, and write into
DIR: the model, a grid of test digits above their reconstructions, and the
loss curve. Then two anomaly detectors: one trained on the digits other
than 0 that flags the 0s among the test digits, and one trained without
labels on a synthetic card-transaction table (internal/synth) that finds
its injected frauds and names the features behind each. Needs no network
and no arguments; about half a minute on two cores.`,
		Example: `  bottleneck demo
  bottleneck demo --out /tmp/demo --epochs 30`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDemo(cmd.Context(), o, g, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	cmd.Flags().StringVar(&o.out, "out", "demo-out", "folder for the model and pictures")
	cmd.Flags().IntVar(&o.epochs, "epochs", 30, "training epochs")
	cmd.Flags().Uint64Var(&o.seed, "seed", 1, "random seed")
	return cmd
}

func runDemo(ctx context.Context, o *demoOptions, g *globalOptions, stdout, stderr io.Writer) error {
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return fmt.Errorf("demo: cannot create the output folder: %w", err)
	}
	start := time.Now()
	trainDS, err := dataset.LoadFS(demodata.FS, demodata.TrainImages, dataset.LoadOptions{Format: dataset.FormatIDX})
	if err != nil {
		return fmt.Errorf("demo: embedded data: %w", err)
	}
	testDS, err := dataset.LoadWithFS(demodata.FS, demodata.TestImages, trainDS.Pre, dataset.LoadOptions{Format: dataset.FormatIDX})
	if err != nil {
		return fmt.Errorf("demo: embedded data: %w", err)
	}
	fmt.Fprintf(stdout, "demo: %d MNIST training digits and %d test digits (embedded)\n", trainDS.X.Rows(), testDS.X.Rows())
	cfg := ae.Config{InputShape: trainDS.Shape, Hidden: []int{256, 64}, Code: 32}
	cfg.Defaults(true)
	m, err := ae.New(cfg, o.seed)
	if err != nil {
		return err
	}
	m.Preprocess, _ = json.Marshal(trainDS.Pre)
	fmt.Fprintf(stdout, "model: %s, %d parameters, %s output, %s loss\n",
		archLine(cfg),
		m.NumParams(), cfg.Output, cfg.Loss)
	trn, val := dataset.Split(trainDS, 0.1, o.seed)
	var log io.Writer = stderr
	if g.quiet {
		log = nil
	}
	rec, err := train.Fit(ctx, m, trn, val, train.Options{
		Epochs: o.epochs, Batch: 64, LR: 2e-3, Seed: o.seed, Patience: 3,
		Log: log, Bar: log != nil && isTerminal(log),
	})
	if err != nil {
		return err
	}
	modelPath := filepath.Join(o.out, "demo.safetensors")
	if err := m.Save(modelPath); err != nil {
		return err
	}
	res := evaluate(m, testDS.X, 256)
	gridPath := filepath.Join(o.out, "reconstructions.png")
	if err := writeReconstructionGrid(gridPath, m, testDS, 16); err != nil {
		return err
	}
	lossPath := filepath.Join(o.out, "loss.png")
	if err := report.LossCurve(lossPath, rec.TrainLoss, rec.ValLoss, "demo: MNIST dense autoencoder (BCE)"); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "trained %d epochs in %.1fs (%.0f samples/s)\n", rec.Epochs, rec.Seconds, rec.SamplesPerSec)
	fmt.Fprintf(stdout, "test reconstruction error per pixel: BCE %.4f, MSE %.4f (%d digits)\n", *res.BCE, res.MSE, res.Rows)
	fmt.Fprintf(stdout, "wrote %s (top: test digits, bottom: reconstructions)\n", gridPath)
	fmt.Fprintf(stdout, "wrote %s\n", lossPath)
	fmt.Fprintf(stdout, "wrote %s (try: bottleneck inspect %s)\n", modelPath, modelPath)
	if err := demoDenoise(o.out, testDS, stdout); err != nil {
		return err
	}
	if err := demoAnomaly(ctx, o, trainDS, testDS, stdout); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "done in %.1fs\n", time.Since(start).Seconds())
	return nil
}
