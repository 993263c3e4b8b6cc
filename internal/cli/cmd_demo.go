package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/bottleneck-ml/bottleneck/internal/demo"
)

type demoOptions struct {
	out    string
	epochs int
	seed   uint64
	serve  bool
	addr   string
}

func newDemoCommand(g *globalOptions) *cobra.Command {
	o := &demoOptions{}
	cmd := &cobra.Command{
		Use:   "demo [-o DIR]",
		Short: "Train a small autoencoder on MNIST digits embedded in the binary and draw what it learned",
		Long: `Train a dense autoencoder (784 → 256 → 64 → 32 → 64 → 256 → 784) on 5,000
MNIST digits embedded in the binary, test it on 1,000 others, and write into
DIR: the model, a grid of test digits above their reconstructions, and the
loss curve. Then two anomaly detectors: one trained on the digits other
than 0 that flags the 0s among the test digits, and one trained without
labels on a synthetic card-transaction table (internal/synth) that finds
its injected frauds and names the features behind each. Needs no network
and no arguments; about half a minute on two cores.

With --serve it then serves the web page on 127.0.0.1:8080 with the demo's
card-transaction detector and the shipped image and latent models, and
prints the page's URL (the demo is not rerun when DIR already holds its
detector; Ctrl-C stops).`,
		Example: `  bottleneck demo
  bottleneck demo --serve          # then open http://127.0.0.1:8080/
  bottleneck demo -o /tmp/demo --epochs 30`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDemo(cmd.Context(), o, g, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	cmd.Flags().StringVarP(&o.out, "output", "o", "demo-out", "folder for the model and pictures")
	cmd.Flags().StringVar(&o.out, "out", "demo-out", "the same as -o")
	cmd.Flags().IntVar(&o.epochs, "epochs", 30, "training epochs")
	cmd.Flags().Uint64Var(&o.seed, "seed", 1, "random seed")
	cmd.Flags().BoolVar(&o.serve, "serve", false, "then serve the web page with the demo's models (on --addr)")
	cmd.Flags().StringVar(&o.addr, "addr", "127.0.0.1:8080", "with --serve: the address to listen on")
	return cmd
}

func runDemo(ctx context.Context, o *demoOptions, g *globalOptions, stdout, stderr io.Writer) error {
	var log io.Writer = stderr
	if g.quiet {
		log = nil
	}
	model := filepath.Join(o.out, demo.FraudModel)
	if _, err := os.Stat(model); !o.serve || err != nil {
		if err := demo.Run(ctx, demo.Options{Dir: o.out, Epochs: o.epochs, Seed: o.seed, Log: log, Bar: log != nil && isTerminal(log)}, stdout); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(stdout, "serving the demo's detector %s (delete it, or pass another -o, to rerun the demo)\n", model)
	}
	if !o.serve {
		return nil
	}
	ready := make(chan string, 1)
	go func() {
		if addr, ok := <-ready; ok {
			fmt.Fprintf(stdout, "\nthe page: http://%s/  (Ctrl-C stops)\n", addr)
		}
	}()
	return runServe(ctx, &serveOptions{model: model, addr: o.addr, maxRows: 10000, top: 3, logFormat: "text", ready: ready}, io.Discard)
}
