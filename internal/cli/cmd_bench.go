package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/bottleneck-ml/bottleneck/internal/bench"
	"github.com/bottleneck-ml/bottleneck/nn"
)

type benchOptions struct {
	model       string
	batch       int
	steps       int
	warmup      int
	minTime     float64
	mode        string
	dataBatches int
	seed        uint64
	json        bool
	describe    bool
	precision   string
}

func newBenchCommand(g *globalOptions) *cobra.Command {
	o := &benchOptions{}
	cmd := &cobra.Command{
		Use:   "bench --model NAME",
		Short: "Measure training and inference speed of the reference models",
		Long: `Measure training and inference throughput (samples/s) of the four reference
models of the PyTorch comparison (dense-mnist, conv-mnist, dense-tabular,
srcnn) on synthetic uniform [0,1) data, the way ../shared/bench/torch/ae_bench.py
does: --warmup untimed steps, then --steps timed steps (or more, until
--min-time seconds); samples/s = batch x timed steps / wall time of the timed
loop. A training step is zero grads + forward + MSE + backward + Adam; an
inference step is a forward pass without gradients.

--precision int8 runs the inference phase with int8 weights (per output
channel) and activations (per row), exact int32 sums and float32 between
layers (AVX512_VNNI; elsewhere fp32 runs); training stays float32.

--json prints one JSON line per model with ae_bench.py's field names.
--threads sets the math kernel threads (default: all CPUs).`,
		Example: `  bottleneck bench --model dense-mnist --threads 2
  bottleneck bench --model all --json
  bottleneck bench --model srcnn --batch 16 --mode train --min-time 5
  bottleneck bench --model dense-mnist --mode infer --precision int8
  bottleneck bench --describe`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runBench(cmd.Context(), o, g.threads, cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.model, "model", "", "model: "+strings.Join(bench.Names, ", ")+" or all")
	f.IntVar(&o.batch, "batch", 0, "batch size (0 = the model's default)")
	f.IntVar(&o.steps, "steps", bench.DefaultSteps, "timed steps (train) / batches (infer)")
	f.IntVar(&o.warmup, "warmup", bench.DefaultWarmup, "untimed warm-up steps before timing")
	f.Float64Var(&o.minTime, "min-time", 0, "keep timing beyond --steps until this many seconds have passed")
	f.StringVar(&o.mode, "mode", bench.ModeBoth, "what to measure: both, train or infer")
	f.IntVar(&o.dataBatches, "data-batches", bench.DefaultDataBatches, "distinct synthetic batches held in memory and cycled")
	f.Uint64Var(&o.seed, "seed", 0, "seed of the initial weights and the data")
	f.BoolVar(&o.json, "json", false, "print one JSON line per model (ae_bench.py's fields)")
	f.BoolVar(&o.describe, "describe", false, "print parameters and FLOPs of every model and exit")
	f.StringVar(&o.precision, "precision", "fp32", "inference precision: "+strings.Join(nn.Precisions, ", "))
	return cmd
}

func (o *benchOptions) check() ([]string, error) {
	if o.describe {
		return nil, nil
	}
	var models []string
	switch o.model {
	case "":
		return nil, usagef("--model is required (%s or all)", strings.Join(bench.Names, ", "))
	case "all":
		models = bench.Names
	default:
		if _, err := bench.Lookup(o.model); err != nil {
			return nil, usagef("--model %q: want one of %s or all", o.model, strings.Join(bench.Names, ", "))
		}
		models = []string{o.model}
	}
	switch {
	case o.batch < 0:
		return nil, usagef("--batch %d must be 0 (model default) or more", o.batch)
	case o.steps < 1:
		return nil, usagef("--steps %d must be 1 or more", o.steps)
	case o.warmup < 0:
		return nil, usagef("--warmup %d must be 0 or more", o.warmup)
	case o.minTime < 0 || math.IsNaN(o.minTime) || math.IsInf(o.minTime, 0):
		return nil, usagef("--min-time %g must be 0 or more seconds", o.minTime)
	case o.dataBatches < 1:
		return nil, usagef("--data-batches %d must be 1 or more", o.dataBatches)
	}
	switch o.mode {
	case bench.ModeBoth, bench.ModeTrain, bench.ModeInfer:
	default:
		return nil, usagef("--mode %q: want both, train or infer", o.mode)
	}
	if _, err := nn.ParsePrecision(o.precision); err != nil {
		return nil, usagef("--precision: %v", err)
	}
	return models, nil
}

func runBench(ctx context.Context, o *benchOptions, threads int, stdout io.Writer) error {
	models, err := o.check()
	if err != nil {
		return err
	}
	if o.describe {
		return describeBench(o.json, stdout)
	}
	prec, _ := nn.ParsePrecision(o.precision) // checked
	opts := bench.Options{
		Batch: o.batch, Steps: o.steps, Warmup: o.warmup, Threads: threads, Mode: o.mode, Precision: prec,
		MinTime: time.Duration(o.minTime * float64(time.Second)), DataBatches: o.dataBatches, Seed: o.seed,
	}
	if o.warmup == 0 {
		opts.Warmup = -1 // bench.Options: 0 means the default
	}
	if !o.json {
		if err := bench.WriteHeader(stdout); err != nil {
			return err
		}
	}
	for _, name := range models {
		r, err := bench.Run(ctx, name, opts)
		if err != nil {
			return err
		}
		if !o.json {
			if err := r.WriteRow(stdout); err != nil {
				return err
			}
			continue
		}
		b, err := json.Marshal(r)
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, string(b))
	}
	return nil
}

func describeBench(asJSON bool, stdout io.Writer) error {
	rows, err := bench.Describe()
	if err != nil || !asJSON {
		if err == nil {
			err = bench.WriteDescription(stdout, rows)
		}
		return err
	}
	b, err := json.Marshal(rows)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, string(b))
	return nil
}
