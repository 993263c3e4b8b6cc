// Package cli is the bottleneck command line: one file per command, each
// with a newXCommand constructor and a plain runX function that tests call.
// Commands only parse flags, call the library and print.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/bottleneck-ml/bottleneck/internal/parallel"
	"github.com/bottleneck-ml/bottleneck/train"
)

// Exit codes.
const (
	exitOK          = 0
	exitError       = 1
	exitUsage       = 2
	exitInterrupted = 130
)

// Main runs the command line with os.Args and returns the exit code.
func Main() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return Run(ctx, os.Args[1:], os.Stdout, os.Stderr)
}

// Run executes one command line in process, writing to stdout and stderr.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := newRootCommand(stdout, stderr)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	cleanupTemp()
	if err == nil {
		return exitOK
	}
	fmt.Fprintf(stderr, "bottleneck: %v\n", err)
	var ue usageError
	switch {
	case errors.Is(err, train.ErrInterrupted):
		return exitInterrupted
	case errors.As(err, &ue):
		return exitUsage
	}
	return exitError
}

// usageError marks a bad flag or argument.
type usageError struct{ error }

func (u usageError) Unwrap() error { return u.error }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

type globalOptions struct {
	threads int
	quiet   bool
}

// info is where a command's summary lines go ("wrote …"): w, or nowhere
// with -q, or standard error when the command's output itself goes to
// standard output (-o -).
func (g *globalOptions) info(cmd *cobra.Command, output string) io.Writer {
	switch {
	case g.quiet:
		return io.Discard
	case output == "-":
		return cmd.ErrOrStderr()
	}
	return cmd.OutOrStdout()
}

func newRootCommand(stdout, stderr io.Writer) *cobra.Command {
	g := &globalOptions{}
	root := &cobra.Command{
		Use:   "bottleneck",
		Short: "Autoencoders in Go: train, encode, reconstruct, score",
		Long: `bottleneck trains autoencoders on your data (CSV, IDX, NPY/NPZ), exports
their codes, reconstructs inputs and measures reconstruction error.

Start with 'bottleneck demo': it trains a small model on MNIST digits
embedded in the binary and writes pictures of what it learned.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			if g.threads < 0 {
				return usagef("--threads %d must be 0 (all cores) or more", g.threads)
			}
			if g.threads > 0 {
				parallel.SetThreads(g.threads)
			}
			return nil
		},
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usageError{fmt.Errorf("%w (see '%s --help')", err, c.CommandPath())}
	})
	root.PersistentFlags().IntVar(&g.threads, "threads", 0, "worker threads for the math kernels (0 = all cores)")
	root.PersistentFlags().BoolVarP(&g.quiet, "quiet", "q", false, "print only results and errors")
	root.AddCommand(
		newTrainCommand(g),
		newEvalCommand(g),
		newScoreCommand(g),
		newServeCommand(g),
		newStreamCommand(g),
		newHealthcheckCommand(g),
		newEncodeCommand(g),
		newReconstructCommand(g),
		newInspectCommand(g),
		newDemoCommand(g),
		newBenchCommand(g),
		newDenoiseCommand(g),
		newUpscaleCommand(g),
		newColorizeCommand(g),
		newExportCommand(g), newImportCommand(g),
	)
	root.AddCommand(latentCommands(g)...) // probe, generate, interpolate, latent-map, models
	return root
}
