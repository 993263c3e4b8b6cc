package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"
)

// Totals of ../shared/bench/MODELS.md (ae_bench.py --describe).
var want = map[string]struct{ params, flops int }{
	"dense-mnist":   {1_100_112, 2_195_456},
	"conv-mnist":    {442_177, 4_641_280},
	"dense-tabular": {20_546, 40_448},
	"srcnn":         {8_129, 17_493_696},
}

func TestSpecCounts(t *testing.T) {
	for _, s := range Specs {
		w, ok := want[s.Name]
		if !ok {
			t.Fatalf("no expected counts for %s", s.Name)
		}
		flops, out, err := s.FLOPs()
		if err != nil {
			t.Fatal(err)
		}
		if flops != w.flops {
			t.Errorf("%s: FLOPs() = %d; want %d", s.Name, flops, w.flops)
		}
		if fmt.Sprint(out) != fmt.Sprint(s.Input) {
			t.Errorf("%s: output shape %v; want the input shape %v", s.Name, out, s.Input)
		}
	}
}

func TestBuildParams(t *testing.T) {
	for _, s := range Specs {
		t.Run(s.Name, func(t *testing.T) {
			net, ps, err := Build(s, 0)
			if err != nil {
				t.Fatal(err)
			}
			if got := ps.Len(); got != want[s.Name].params {
				t.Errorf("params = %d; want %d", got, want[s.Name].params)
			}
			n := 0
			for _, p := range net.Params() {
				n += p.Size()
			}
			if n != ps.Len() {
				t.Errorf("layers hold %d parameters, ParamSet %d", n, ps.Len())
			}
		})
	}
}

func TestLookup(t *testing.T) {
	if _, err := Lookup("nope"); err == nil || !strings.Contains(err.Error(), "dense-mnist") {
		t.Errorf("Lookup(nope) = %v; want an error listing the models", err)
	}
}

// TestTrainLearns checks that steps run and the loss goes down.
func TestTrainLearns(t *testing.T) {
	for _, s := range Specs {
		t.Run(s.Name, func(t *testing.T) {
			m, err := New(s, 8, 1, 1)
			if err != nil {
				t.Fatal(err)
			}
			const steps = 30
			first := m.TrainStep(0)
			last := first
			for i := 1; i < steps; i++ {
				last = m.TrainStep(i)
			}
			if math.IsNaN(last) || !(last < first) {
				t.Errorf("loss after %d steps %g; first %g", steps, last, first)
			}
			out := m.Infer(0)
			if got, want := out.Len(), len(m.xs[0].Data); got != want {
				t.Errorf("Infer output has %d values; want %d", got, want)
			}
		})
	}
}

func TestRunJSON(t *testing.T) {
	r, err := Run(context.Background(), "dense-tabular", Options{Batch: 16, Steps: 3, Warmup: 1, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	// the fields ae_bench.py --json prints
	for _, k := range []string{"bench", "model", "batch", "threads", "steps", "warmup", "params",
		"fwd_flops_per_sample", "train_steps", "train_samples_per_s", "train_step_ms_median",
		"train_gflops_approx", "train_final_loss", "train_cpu", "infer_steps", "infer_samples_per_s",
		"infer_batch_ms_median", "infer_gflops", "infer_cpu", "env", "time"} {
		if _, ok := got[k]; !ok {
			t.Errorf("JSON lacks %q: %s", k, b)
		}
	}
	if r.Batch != 16 || r.Threads != 1 || r.TrainSteps != 3 || r.InferSteps != 3 || r.Params != 20546 {
		t.Errorf("Run = %+v", r)
	}
	if r.TrainSamplesPerS <= 0 || r.InferSamplesPerS <= 0 {
		t.Errorf("samples/s train %g infer %g; want > 0", r.TrainSamplesPerS, r.InferSamplesPerS)
	}
}

func TestRunModesAndMinTime(t *testing.T) {
	ctx := context.Background()
	r, err := Run(ctx, "dense-tabular", Options{Batch: 4, Steps: 1, Warmup: -1, Mode: ModeInfer, MinTime: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if r.TrainSteps != 0 || r.TrainCPU != nil || r.Warmup != 0 {
		t.Errorf("infer-only run has train fields or warm-up: %+v", r)
	}
	if r.InferSteps < 2 {
		t.Errorf("MinTime 20ms ran %d steps; want more than Steps=1", r.InferSteps)
	}
	if _, err := Run(ctx, "dense-tabular", Options{Mode: "fast"}); err == nil {
		t.Error("Run with mode fast: no error")
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := Run(cctx, "dense-tabular", Options{Batch: 4}); err != context.Canceled {
		t.Errorf("Run on a cancelled context = %v; want context.Canceled", err)
	}
}

func TestDescribe(t *testing.T) {
	rows, err := Describe()
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if w := want[r.Model]; r.Params != w.params || r.FwdFLOPsPerSample != w.flops {
			t.Errorf("%s: params %d FLOPs %d; want %d %d", r.Model, r.Params, r.FwdFLOPsPerSample, w.params, w.flops)
		}
	}
}
