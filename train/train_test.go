package train

import (
	"bytes"
	"context"
	"errors"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/bottleneck-ml/bottleneck/ae"
	"github.com/bottleneck-ml/bottleneck/internal/parallel"
	"github.com/bottleneck-ml/bottleneck/optim"
	"github.com/bottleneck-ml/bottleneck/tensor"
)

// TestFitConverges trains a dense autoencoder on toy rows near a 2-D
// subspace: the validation loss must fall clearly, and the kept weights
// must be the best epoch's.
func TestFitConverges(t *testing.T) {
	if testing.Short() {
		t.Skip("convergence smoke test")
	}
	cfg, err := ae.DenseConfig([]int{16}, false, ae.Dense{Hidden: []int{12}, Code: 2})
	if err != nil {
		t.Fatal(err)
	}
	m := newModel(t, cfg, 1)
	tr := NewRows(toyData(400, 16, 1), RowsOptions{Batch: 32, Seed: 1})
	val := NewRows(toyData(100, 16, 2), RowsOptions{Batch: 64, Ordered: true})
	before, err := Evaluate(m, val)
	if err != nil {
		t.Fatal(err)
	}
	rec := fit(t, m, tr, val, Options{Epochs: 30, LR: 1e-2, Seed: 1})
	after, err := Evaluate(m, val)
	if err != nil {
		t.Fatal(err)
	}
	if !(after < 0.1*before) || !(after < 2e-3) {
		t.Errorf("validation loss %g → %g; want below a tenth and below 2e-3", before, after)
	}
	if rec.Epochs != 30 || len(rec.TrainLoss) != 30 || len(rec.ValLoss) != 30 || rec.Stopped != "completed" {
		t.Errorf("record: %d epochs, %d train, %d val losses, stopped %q", rec.Epochs, len(rec.TrainLoss), len(rec.ValLoss), rec.Stopped)
	}
	// the kept epoch is the minimum up to the relative improvement an
	// epoch needs to count
	best := rec.ValLoss[rec.BestEpoch-1]
	if lo := slices.Min(rec.ValLoss); best > lo*(1+2*minDelta) {
		t.Errorf("best epoch %d (val %g) is not within min-delta of the minimum %g", rec.BestEpoch, best, lo)
	}
	if after != best {
		t.Errorf("kept weights give val %g; best epoch %d recorded %g", after, rec.BestEpoch, best)
	}
}

// TestFitConvConverges trains a small BatchNorm denoiser on patches: the
// loss must fall below the noise's own.
func TestFitConvConverges(t *testing.T) {
	if testing.Short() {
		t.Skip("convergence smoke test")
	}
	tk := patchTask(t, "denoise")
	m := newModel(t, convBNConfig(), 1)
	val := tk.Source(16, 2, 99)
	// the loss of the identity: the noise power, (25/255)² ≈ 0.0096
	rec := fit(t, m, tk.Source(8, 40, 1), val, Options{Epochs: 4, LR: 3e-3, EMA: 0.95, Seed: 1})
	if v := rec.ValLoss[rec.BestEpoch-1]; !(v < 0.8*0.0096) {
		t.Errorf("validation losses %v; want below 0.8 × the noise power 0.0096", rec.ValLoss)
	}
}

// TestDeterministic trains twice with the same seed at 1 and at 2 threads;
// the weights and statistics must be bit-identical.
func TestDeterministic(t *testing.T) {
	data := toyData(96, 16, 1)
	for _, c := range []struct {
		name string
		cfg  ae.Config
		src  func() Source
	}{
		{"dense dropout", denseConfig(t, 12, 0.3), func() Source { return NewRows(data, RowsOptions{Batch: 16, Seed: 2}) }},
		{"vae", vaeConfig(t), func() Source { return NewRows(data, RowsOptions{Batch: 16, Seed: 2}) }},
		{"conv batchnorm", convBNConfig(), func() Source { return patchTask(t, "denoise").Source(4, 6, 3) }},
	} {
		var first *ae.Model
		for _, threads := range []int{1, 2} {
			old := parallel.SetThreads(threads)
			var runs []*ae.Model
			for range 2 {
				m := newModel(t, c.cfg, 5)
				fit(t, m, c.src(), nil, Options{Epochs: 2, Seed: 5, EMA: 0.9, KLWarmup: 1})
				runs = append(runs, m)
			}
			parallel.SetThreads(old)
			if d := sameState(runs[0], runs[1]); d != "" {
				t.Errorf("%s, %d threads: two runs with the same seed: %s", c.name, threads, d)
			}
			if first == nil {
				first = runs[0]
			} else if d := sameState(first, runs[0]); d != "" {
				// Fit promises determinism per thread count only
				t.Logf("%s: 1 vs 2 threads: %s", c.name, d)
			}
		}
	}
}

// TestFitIsTheLoop replays what Fit documents for a VAE step by step — the
// noise reseeded from (Seed, step), the KL weight warmed up linearly over
// KLWarmup epochs, Adam — and compares the weights bit for bit.
func TestFitIsTheLoop(t *testing.T) {
	data := toyData(64, 16, 1)
	const (
		epochs = 2
		warmup = 1.5
		lr     = 1e-2
		seed   = 7
	)
	got := newModel(t, vaeConfig(t), 1)
	fit(t, got, NewRows(data, RowsOptions{Batch: 16, Seed: 3}), nil, Options{Epochs: epochs, LR: lr, Seed: seed, KLWarmup: warmup, KeepLast: true})

	for _, w := range []float64{warmup, 0} {
		want := newModel(t, vaeConfig(t), 1)
		src := NewRows(data, RowsOptions{Batch: 16, Seed: 3})
		o := optim.NewAdam(lr, 0.9, 0.999, 1e-8, 0)
		step := 0
		for e := range epochs {
			n := src.Epoch(e)
			for range n {
				x, y, err := src.Next()
				if err != nil {
					t.Fatal(err)
				}
				want.SeedNoise(seed, uint64(step))
				kl := 1.0
				if w > 0 {
					kl = min(1, float64(step+1)/(w*float64(n)))
				}
				want.SetKLWeight(kl)
				want.Params.ZeroGrad()
				if _, err := want.TrainStep(x, y); err != nil {
					t.Fatal(err)
				}
				o.Step(want.Params.W, want.Params.G)
				step++
			}
		}
		same := slices.Equal(got.Params.W, want.Params.W)
		if w > 0 && !same {
			t.Error("Fit with a KL warm-up differs from the documented loop")
		}
		if w == 0 && same {
			t.Error("the loop without warm-up gives Fit's weights: the warm-up had no effect")
		}
	}
}

// TestVAEKLWeightRestored: after Fit the KL weight of training steps is β
// again (Beta 0 in a config means 1), whatever the warm-up left.
func TestVAEKLWeightRestored(t *testing.T) {
	cfg := vaeConfig(t)
	cfg.Beta = 0
	m := newModel(t, cfg, 1)
	data := toyData(32, 16, 1)
	fit(t, m, NewRows(data, RowsOptions{Batch: 16}), nil, Options{Epochs: 1, KLWarmup: 5})
	c := m.Clone() // a fresh build: KL weight β
	x := data.X
	m.SeedNoise(1, 1)
	c.SeedNoise(1, 1)
	lm, err := m.TrainStep(x, x)
	if err != nil {
		t.Fatal(err)
	}
	lc, err := c.TrainStep(x, x)
	if err != nil {
		t.Fatal(err)
	}
	if lm != lc {
		t.Errorf("training loss after Fit %v, of a fresh copy %v: the KL weight was not set back to β", lm, lc)
	}
}

// TestNaNGuard: a loss that becomes Inf stops training with ErrDiverged and
// a hint.
func TestNaNGuard(t *testing.T) {
	data := toyData(64, 16, 1)
	for i := range data.X.Data {
		data.X.Data[i] *= 1e30 // absurd scaling with an identity output and MSE
	}
	cfg, err := ae.DenseConfig([]int{16}, false, ae.Dense{Hidden: []int{8}, Code: 2})
	if err != nil {
		t.Fatal(err)
	}
	rec, err := Fit(context.Background(), newModel(t, cfg, 1), NewRows(data, RowsOptions{Batch: 16}), nil, Options{Epochs: 3, LR: 10})
	if !errors.Is(err, ErrDiverged) {
		t.Fatalf("err = %v; want ErrDiverged", err)
	}
	if !strings.Contains(err.Error(), "--lr") || !strings.Contains(err.Error(), "--clip") {
		t.Errorf("error %q does not say what to change", err)
	}
	if rec == nil {
		t.Error("no record with the error")
	}
}

// TestFitRejects checks the errors Fit returns before training.
func TestFitRejects(t *testing.T) {
	m := newModel(t, denseConfig(t, 8, 0), 1)
	rows := NewRows(toyData(16, 16, 1), RowsOptions{Batch: 8})
	for _, c := range []struct {
		name string
		src  Source
		opt  Options
		want string
	}{
		{"no source", nil, Options{}, "no training samples"},
		{"nan lr", rows, Options{LR: math.NaN()}, "not a number"},
		{"bad optimizer", rows, Options{Optimizer: "lbfgs"}, "lbfgs"},
		{"bad schedule", rows, Options{Schedule: "zigzag"}, "zigzag"},
		{"wrong width", NewRows(toyData(16, 8, 1), RowsOptions{Batch: 8}), Options{Epochs: 1}, "8 values per sample"},
	} {
		_, err := Fit(context.Background(), m, c.src, nil, c.opt)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "train: ") {
			t.Errorf("%s: err = %v; want a train: error containing %q", c.name, err, c.want)
		}
	}
}

// TestEarlyStopping: with a learning rate too small to change anything
// the validation loss stops improving after the first epoch.
func TestEarlyStopping(t *testing.T) {
	data, val := toyData(64, 16, 1), toyData(32, 16, 7)
	var log bytes.Buffer
	o := Options{Epochs: 20, LR: 1e-12, Optimizer: "sgd", Patience: 2, Log: &log}
	rec := fit(t, newModel(t, denseConfig(t, 8, 0), 1), NewRows(data, RowsOptions{Batch: 16}), NewRows(val, RowsOptions{Ordered: true}), o)
	if rec.Stopped != "early-stopping" || rec.Epochs != 3 || rec.BestEpoch != 1 {
		t.Errorf("stopped %q after %d epochs, best %d; want early-stopping after 3, best 1", rec.Stopped, rec.Epochs, rec.BestEpoch)
	}
	if !strings.Contains(log.String(), "early stopping") {
		t.Errorf("log %q does not say it stopped early", log.String())
	}
	// without validation, patience has nothing to watch
	rec = fit(t, newModel(t, denseConfig(t, 8, 0), 1), NewRows(data, RowsOptions{Batch: 16}), nil, Options{Epochs: 5, LR: 1e-12, Optimizer: "sgd", Patience: 2})
	if rec.Stopped != "completed" || rec.Epochs != 5 {
		t.Errorf("without validation: stopped %q after %d epochs; want all 5", rec.Stopped, rec.Epochs)
	}
}

// TestKeptWeights runs a validation set whose loss is low only after
// epoch 2: the best epoch's weights are kept, or the last with KeepLast,
// with and without EMA (whose averaged weights are the ones kept).
func TestKeptWeights(t *testing.T) {
	cfg, err := ae.DenseConfig([]int{16}, false, ae.Dense{Hidden: []int{8}, Code: 2})
	if err != nil {
		t.Fatal(err)
	}
	data := toyData(64, 16, 1)
	x := toyData(16, 16, 2).X
	far := tensor.New(x.Shape...)
	for i, v := range x.Data {
		far.Data[i] = v + 5
	}
	for _, c := range []struct {
		keepLast bool
		ema      float64
	}{{false, 0}, {true, 0}, {false, 0.9}, {true, 0.9}} {
		val := &fixed{x: x, target: func(call int) *tensor.Tensor {
			if call == 2 {
				return x
			}
			return far
		}}
		var seen [][]float32
		o := Options{Epochs: 4, LR: 1e-2, KeepLast: c.keepLast, EMA: c.ema, OnEpoch: func(m *ae.Model, _ *Record) error {
			seen = append(seen, modelState(m))
			return nil
		}}
		m := newModel(t, cfg, 1)
		rec := fit(t, m, NewRows(data, RowsOptions{Batch: 16, Seed: 1}), val, o)
		wantEpoch, wantBest := 2, 2
		if c.keepLast {
			wantEpoch, wantBest = 4, 0
		}
		if rec.BestEpoch != wantBest {
			t.Errorf("KeepLast %v, EMA %v: best epoch %d; want %d", c.keepLast, c.ema, rec.BestEpoch, wantBest)
		}
		if !slices.Equal(modelState(m), seen[wantEpoch-1]) {
			t.Errorf("KeepLast %v, EMA %v: the model does not hold epoch %d's weights", c.keepLast, c.ema, wantEpoch)
		}
		if slices.Equal(seen[1], seen[3]) {
			t.Fatal("epochs 2 and 4 have the same weights: the test shows nothing")
		}
	}
}

// TestEMA checks the moving average: training steps see the raw weights
// (the run matches one without EMA), the model ends with the average of
// the weights and BatchNorm statistics after every step, and the
// checkpoint keeps both.
func TestEMA(t *testing.T) {
	const decay = 0.8
	src := func() Source { return patchTask(t, "denoise").Source(4, 4, 1) }
	ckpt := filepath.Join(t.TempDir(), "m.ckpt")
	m := newModel(t, convBNConfig(), 1)
	ema := modelState(m)
	step := 0
	w := &wrapped{Source: src()}
	w.hook = func() {
		// the state after the previous step: fold it in
		if step > 0 {
			average(ema, modelState(m), step-1, decay)
		}
		step++
	}
	rec := fit(t, m, w, nil, Options{Epochs: 2, LR: 1e-2, EMA: decay, KeepLast: true, Checkpoint: ckpt})
	if rec.EMA != decay {
		t.Errorf("record EMA %v; want %v", rec.EMA, decay)
	}
	cm, extra, err := ae.OpenWith(ckpt)
	if err != nil {
		t.Fatal(err)
	}
	raw := modelState(cm) // the checkpoint's model: the raw weights
	average(ema, raw, step-1, decay)
	got := modelState(m)
	for i := range ema {
		if d := math.Abs(float64(got[i] - ema[i])); d > 1e-6*(1+math.Abs(float64(ema[i]))) {
			t.Fatalf("state[%d] = %v; the moving average is %v", i, got[i], ema[i])
		}
	}
	if !slices.Equal(extra.Tensors[tensorEMA], got) {
		t.Error("the checkpoint's average differs from the model's final weights")
	}
	if slices.Equal(raw, got) {
		t.Error("the model ends with the raw weights; want their average")
	}
	for i, b := range m.Buffers {
		if slices.Equal(b.W, cm.Buffers[i].W) {
			t.Errorf("%s: the model has the raw running statistics; want their average", b.Name)
		}
	}

	// the raw trajectory is the one without EMA
	plain := newModel(t, convBNConfig(), 1)
	fit(t, plain, src(), nil, Options{Epochs: 2, LR: 1e-2, KeepLast: true})
	if d := sameState(plain, cm); d != "" {
		t.Errorf("raw weights with EMA vs a run without: %s", d)
	}
}

// average folds state into ema as Fit documents: decay min(d, (1+t)/(10+t))
// at step t.
func average(ema, state []float32, t int, d float64) {
	dt := float32(min(d, float64(1+t)/float64(10+t)))
	for i, v := range state {
		ema[i] = dt*ema[i] + (1-dt)*v
	}
}

// TestRecord checks what Fit records and that the model carries it.
func TestRecord(t *testing.T) {
	data, val := toyData(50, 16, 1), toyData(20, 16, 2)
	tr := NewRows(data, RowsOptions{Batch: 16, Seed: 1})
	var log bytes.Buffer
	calls := 0
	m := newModel(t, vaeConfig(t), 1)
	rec := fit(t, m, tr, NewRows(val, RowsOptions{Ordered: true}), Options{
		Epochs: 2, Seed: 4, KLWarmup: 1, Optimizer: "adamw", Schedule: "cosine", Command: "bottleneck train x.csv", Log: &log,
		Validate: func(*ae.Model) string { calls++; return "extra" },
	})
	if m.Training != rec {
		t.Error("m.Training is not the returned record")
	}
	want := Record{Epochs: 2, MaxEpochs: 2, Steps: 4, Loss: ae.LossELBO, Batch: 16, LR: 1e-3, Optimizer: "adamw", Schedule: "cosine",
		Seed: 4, KLWarmup: 1, TrainRows: 50, ValRows: 20, Data: tr.Fingerprint(), Stopped: "completed", Command: "bottleneck train x.csv"}
	got := *rec
	got.TrainLoss, got.ValLoss, got.Val, got.BestEpoch, got.Seconds, got.SamplesPerSec, got.Finished = nil, nil, nil, 0, 0, 0, want.Finished
	if !equalRecords(got, want) {
		t.Errorf("record\n%+v\nwant\n%+v", got, want)
	}
	if len(rec.TrainLoss) != 2 || len(rec.ValLoss) != 2 || !slices.Equal(rec.Val, []string{"extra", "extra"}) || calls != 2 {
		t.Errorf("losses %v, %v, val %q, %d Validate calls", rec.TrainLoss, rec.ValLoss, rec.Val, calls)
	}
	if rec.BestEpoch < 1 || rec.Seconds <= 0 || rec.SamplesPerSec <= 0 || rec.Finished.IsZero() {
		t.Errorf("best %d, %v s, %v samples/s, finished %v", rec.BestEpoch, rec.Seconds, rec.SamplesPerSec, rec.Finished)
	}
	if !strings.Contains(log.String(), "epoch 2/2") || !strings.Contains(log.String(), "val ") {
		t.Errorf("log %q; want a line per epoch with the validation loss", log.String())
	}

	// the record survives Save and Open
	path := filepath.Join(t.TempDir(), "m.safetensors")
	if err := m.Save(path); err != nil {
		t.Fatal(err)
	}
	l, err := ae.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if l.Training == nil || !slices.Equal(l.Training.TrainLoss, rec.TrainLoss) || l.Training.Data != rec.Data {
		t.Errorf("saved record %+v", l.Training)
	}

	// a resumed run keeps the provenance of both sessions
	ckpt := filepath.Join(t.TempDir(), "m.ckpt")
	o := Options{Epochs: 1, Checkpoint: ckpt, Resume: true, Command: "first"}
	fit(t, newModel(t, denseConfig(t, 8, 0), 1), tr, nil, o)
	o.Epochs, o.Command = 2, "second"
	rec = fit(t, newModel(t, denseConfig(t, 8, 0), 1), tr, nil, o)
	if !strings.Contains(rec.Command, "first") || !strings.Contains(rec.Command, "second") || rec.MaxEpochs != 2 {
		t.Errorf("resumed record: command %q, max epochs %d", rec.Command, rec.MaxEpochs)
	}
}

func equalRecords(a, b Record) bool {
	return a.Epochs == b.Epochs && a.MaxEpochs == b.MaxEpochs && a.Steps == b.Steps && a.Loss == b.Loss && a.Batch == b.Batch &&
		a.LR == b.LR && a.Optimizer == b.Optimizer && a.Schedule == b.Schedule && a.Seed == b.Seed && a.EMA == b.EMA &&
		a.KLWarmup == b.KLWarmup && a.TrainRows == b.TrainRows && a.ValRows == b.ValRows && a.Data == b.Data &&
		a.Stopped == b.Stopped && a.Command == b.Command
}

// TestProgressBar: a terminal bar writes to Log without disturbing
// training.
func TestProgressBar(t *testing.T) {
	data := toyData(64, 16, 1)
	var bar bytes.Buffer
	a := newModel(t, denseConfig(t, 8, 0), 1)
	fit(t, a, NewRows(data, RowsOptions{Batch: 16}), nil, Options{Epochs: 2, Log: &bar, Bar: true})
	b := newModel(t, denseConfig(t, 8, 0), 1)
	fit(t, b, NewRows(data, RowsOptions{Batch: 16}), nil, Options{Epochs: 2})
	if bar.Len() == 0 {
		t.Error("nothing logged")
	}
	if d := sameState(a, b); d != "" {
		t.Errorf("with a progress bar: %s", d)
	}
}

// TestFitStepAllocs: once the model's buffers have grown, a training step
// allocates nothing: a run of twice the steps allocates as much.
func TestFitStepAllocs(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("allocation count")
	}
	for _, c := range []struct {
		name string
		cfg  ae.Config
		src  func(steps int) Source
		opt  Options
	}{
		{"dense dropout", denseConfig(t, 12, 0.2), func(n int) Source { return NewRows(toyData(16*n, 16, 1), RowsOptions{Batch: 16}) }, Options{ClipNorm: 1}},
		{"vae", vaeConfig(t), func(n int) Source { return NewRows(toyData(16*n, 16, 1), RowsOptions{Batch: 16}) }, Options{KLWarmup: 1}},
		{"conv ema", convBNConfig(), func(n int) Source { return patchTask(t, "denoise").Source(4, n, 1) }, Options{EMA: 0.9}},
	} {
		m := newModel(t, c.cfg, 1)
		o := c.opt
		o.Epochs = 1
		allocs := func(steps int) float64 {
			src := c.src(steps)
			fit(t, m, src, nil, o) // warm
			return testing.AllocsPerRun(2, func() {
				if _, err := Fit(context.Background(), m, src, nil, o); err != nil {
					t.Fatal(err)
				}
			})
		}
		if a, b := allocs(3), allocs(6); b != a {
			t.Errorf("%s: %v allocations for 3 steps, %v for 6: a step allocates", c.name, a, b)
		}
	}
}

// TestClipNorm: with SGD at learning rate 1 no step moves the weights
// further than the clipping norm.
func TestClipNorm(t *testing.T) {
	const clip = 1e-3
	for _, c := range []float64{clip, 0} {
		m := newModel(t, denseConfig(t, 8, 0), 1)
		prev := modelState(m)
		largest := 0.0
		move := func() {
			cur := modelState(m)
			var s float64
			for i, v := range cur {
				d := float64(v - prev[i])
				s += d * d
			}
			largest = max(largest, math.Sqrt(s))
			prev = cur
		}
		tr := &wrapped{Source: NewRows(toyData(64, 16, 1), RowsOptions{Batch: 16}), hook: move}
		fit(t, m, tr, nil, Options{Epochs: 1, LR: 1, Optimizer: "sgd", ClipNorm: c, KeepLast: true})
		move()
		if c > 0 && largest > clip*(1+1e-3) {
			t.Errorf("clip %g: a step moved the weights by %g", c, largest)
		}
		if c == 0 && largest <= clip {
			t.Errorf("without clipping the largest step is %g: the test shows nothing", largest)
		}
	}
}
