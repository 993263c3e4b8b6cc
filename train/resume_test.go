package train

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/bottleneck-ml/bottleneck/ae"
	"github.com/bottleneck-ml/bottleneck/noise"
	"github.com/bottleneck-ml/bottleneck/tensor"
)

// resumeCase is a model kind with its sources and options, for the
// resume tests.
type resumeCase struct {
	name    string
	cfg     ae.Config
	tr, val func() Source // fresh sources for every run
	opt     Options
	// extend: the first part is a completed run of 1 epoch that the next
	// part extends (a constant schedule); otherwise the first part is the
	// full run interrupted after its first epoch.
	extend bool
}

func resumeCases(t *testing.T) []resumeCase {
	rowsData, rowsVal := toyData(96, 16, 1), toyData(32, 16, 2)
	mask, err := noise.Parse("mask:0.2")
	if err != nil {
		t.Fatal(err)
	}
	return []resumeCase{
		{
			// 96 rows in batches of 20: every epoch ends in a partial batch
			name:   "dense denoising dropout validation",
			cfg:    denseConfig(t, 12, 0.2),
			tr:     func() Source { return NewRows(rowsData, RowsOptions{Batch: 20, Seed: 1, Noise: &mask}) },
			val:    func() Source { return NewRows(rowsVal, RowsOptions{Batch: 16, Ordered: true}) },
			opt:    Options{LR: 1e-2, Seed: 7, Validate: probe(toyData(8, 16, 5).X)},
			extend: true,
		},
		{
			name: "dense vae warm-up binarize",
			cfg:  vaeConfig(t),
			tr:   func() Source { return NewRows(rowsData, RowsOptions{Batch: 16, Seed: 2}) },
			val:  func() Source { return NewRows(rowsVal, RowsOptions{Batch: 16, Ordered: true}) },
			opt:  Options{LR: 1e-2, Seed: 3, KLWarmup: 2, Schedule: "cosine"},
		},
		{
			name: "conv batchnorm patches ema",
			cfg:  convBNConfig(),
			tr:   func() Source { return patchTask(t, "denoise").Source(4, 5, 11) },
			val:  func() Source { return patchTask(t, "denoise").Source(4, 1, 99) },
			opt: Options{LR: 3e-3, Seed: 5, EMA: 0.9, Validate: func(m *ae.Model) string {
				return fmt.Sprintf("bn %.9g", m.Buffers[0].W[0])
			}},
			extend: true,
		},
		{
			name: "conv vae keep-last clip adamw",
			cfg:  convVAEConfig(),
			tr:   func() Source { return patchTask(t, "reconstruct").Source(4, 5, 12) },
			opt: Options{LR: 3e-3, Seed: 9, KLWarmup: 1.5, KeepLast: true, ClipNorm: 1, Optimizer: "adamw",
				Schedule: "cosine:3", Validate: probe(patchProbe())},
		},
	}
}

// probe is a Validate that reports the model's loss on the batch x: a
// deterministic report of the weights Validate sees.
func probe(x *tensor.Tensor) func(*ae.Model) string {
	return func(m *ae.Model) string {
		l, err := m.Loss(x, x)
		if err != nil {
			return err.Error()
		}
		return fmt.Sprintf("probe %.9g", l)
	}
}

// patchProbe is a fixed batch of two 8×8 patches.
func patchProbe() *tensor.Tensor {
	x := tensor.New(2, 1, 8, 8)
	for i := range x.Data {
		x.Data[i] = float32(i%7) / 7
	}
	return x
}

// TestResumeBitIdentical trains each kind of model 3 epochs straight, and
// again in three sessions: 1 epoch (completed, or interrupted after it),
// then resumed and interrupted in the middle of epoch 3, then resumed to
// the end, each session on a model built from another seed so that all it
// continues from is the checkpoint. Weights, BatchNorm statistics and the
// record must be bit-identical.
func TestResumeBitIdentical(t *testing.T) {
	const epochs = 3
	for _, c := range resumeCases(t) {
		t.Run(c.name, func(t *testing.T) {
			opt := c.opt
			opt.Epochs = epochs
			val := func() Source {
				if c.val == nil {
					return nil
				}
				return c.val()
			}

			full := newModel(t, c.cfg, 1)
			want := fit(t, full, c.tr(), val(), opt)

			ckpt := filepath.Join(t.TempDir(), "m.ckpt")
			opt.Checkpoint, opt.Resume = ckpt, true

			// session 1
			m1 := newModel(t, c.cfg, 1)
			if c.extend {
				o := opt
				o.Epochs = 1
				if rec := fit(t, m1, c.tr(), val(), o); rec.Epochs != 1 || rec.Stopped != "completed" {
					t.Fatalf("session 1: %d epochs, stopped %q", rec.Epochs, rec.Stopped)
				}
			} else {
				o, ctx, cancel := interruptAfterEpoch(opt, 1)
				rec, err := Fit(ctx, m1, c.tr(), val(), o)
				cancel()
				if !errors.Is(err, ErrInterrupted) || rec.Epochs != 1 {
					t.Fatalf("session 1: err %v after %d epochs; want ErrInterrupted after 1", err, rec.Epochs)
				}
			}

			// session 2: interrupted after the second batch of epoch 3
			m2 := newModel(t, c.cfg, 2)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			tr := c.tr()
			perEpoch := tr.Epoch(0)
			calls := 0
			w := &wrapped{Source: tr, hook: func() {
				calls++
				if calls == perEpoch+2 {
					cancel()
				}
			}}
			rec, err := Fit(ctx, m2, w, val(), opt)
			if !errors.Is(err, ErrInterrupted) {
				t.Fatalf("session 2: err = %v; want ErrInterrupted", err)
			}
			if rec.Epochs != 2 || rec.Stopped != "interrupted" || !strings.Contains(err.Error(), "--resume") || !strings.Contains(err.Error(), ckpt) {
				t.Fatalf("session 2: %d epochs, stopped %q, err %q; want 2, interrupted, a hint to resume from %s", rec.Epochs, rec.Stopped, err, ckpt)
			}

			// session 3
			m3 := newModel(t, c.cfg, 3)
			got := fit(t, m3, c.tr(), val(), opt)
			if d := sameState(full, m3); d != "" {
				t.Errorf("resumed run: %s from the uninterrupted run", d)
			}
			if got.Epochs != epochs || !slices.Equal(got.TrainLoss, want.TrainLoss) || !slices.Equal(got.ValLoss, want.ValLoss) ||
				!slices.Equal(got.Val, want.Val) || got.BestEpoch != want.BestEpoch || got.Stopped != "completed" {
				t.Errorf("resumed record: epochs %d, train %v, val %v %q, best %d, stopped %q\nuninterrupted: epochs %d, train %v, val %v %q, best %d",
					got.Epochs, got.TrainLoss, got.ValLoss, got.Val, got.BestEpoch, got.Stopped,
					want.Epochs, want.TrainLoss, want.ValLoss, want.Val, want.BestEpoch)
			}
			if m3.Training != got {
				t.Error("record not stored in the model")
			}
		})
	}
}

// TestInterruptBeforeFirstEpoch: a context cancelled before the first
// epoch completes says so; with a checkpoint it leaves the state before
// the first epoch, and resuming from it is an uninterrupted run.
func TestInterruptBeforeFirstEpoch(t *testing.T) {
	data := toyData(40, 16, 1)
	src := func() Source { return NewRows(data, RowsOptions{Batch: 8, Seed: 4}) }
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	rec, err := Fit(ctx, newModel(t, denseConfig(t, 8, 0.1), 1), src(), nil, Options{Epochs: 2})
	if !errors.Is(err, ErrInterrupted) || !strings.Contains(err.Error(), "before any epoch") {
		t.Fatalf("err = %v; want ErrInterrupted before any epoch", err)
	}
	if rec.Stopped != "interrupted" || rec.Epochs != 0 {
		t.Errorf("record: stopped %q after %d epochs", rec.Stopped, rec.Epochs)
	}

	ckpt := filepath.Join(t.TempDir(), "m.ckpt")
	o := Options{Epochs: 2, Seed: 3, Checkpoint: ckpt, Resume: true}
	if _, err := Fit(ctx, newModel(t, denseConfig(t, 8, 0.1), 1), src(), nil, o); !errors.Is(err, ErrInterrupted) {
		t.Fatalf("err = %v; want ErrInterrupted", err)
	}
	if _, err := os.Stat(ckpt); err != nil {
		t.Fatalf("no checkpoint of the state before the first epoch: %v", err)
	}
	resumed := newModel(t, denseConfig(t, 8, 0.1), 2)
	fit(t, resumed, src(), nil, o)
	straight := newModel(t, denseConfig(t, 8, 0.1), 1)
	o.Checkpoint, o.Resume = "", false
	fit(t, straight, src(), nil, o)
	if d := sameState(straight, resumed); d != "" {
		t.Errorf("resumed after an interruption before epoch 1: %s from the uninterrupted run", d)
	}
}

// TestInterruptKeepsCheckpoint: the checkpoint of the last completed epoch
// stays when training is interrupted, and holds that epoch's record.
func TestInterruptKeepsCheckpoint(t *testing.T) {
	ckpt := filepath.Join(t.TempDir(), "m.ckpt")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	o := Options{Epochs: 5, Checkpoint: ckpt, OnEpoch: func(_ *ae.Model, rec *Record) error {
		if rec.Epochs == 2 {
			cancel()
		}
		return nil
	}}
	_, err := Fit(ctx, newModel(t, denseConfig(t, 8, 0), 1), NewRows(toyData(40, 16, 1), RowsOptions{Batch: 8}), nil, o)
	if !errors.Is(err, ErrInterrupted) {
		t.Fatalf("err = %v; want ErrInterrupted", err)
	}
	if msg := err.Error(); !strings.Contains(msg, "epoch 3") || !strings.Contains(msg, "epoch 2") || !strings.Contains(msg, "--resume") {
		t.Errorf("err %q; want it to name epoch 3 as interrupted and epoch 2 as kept", err)
	}
	m, extra, err := ae.OpenWith(ckpt)
	if err != nil {
		t.Fatal(err)
	}
	if m.Training == nil || m.Training.Epochs != 2 || len(m.Training.TrainLoss) != 2 {
		t.Errorf("checkpoint record %+v; want 2 epochs", m.Training)
	}
	if _, ok := extra.Meta[metaCheckpoint]; !ok {
		t.Errorf("checkpoint has no %q metadata", metaCheckpoint)
	}
}

// TestOnEpochErrorStops: an error from OnEpoch ends training with it.
func TestOnEpochErrorStops(t *testing.T) {
	stop := errors.New("disk full")
	rec, err := Fit(context.Background(), newModel(t, denseConfig(t, 8, 0), 1), NewRows(toyData(40, 16, 1), RowsOptions{Batch: 8}), nil,
		Options{Epochs: 5, OnEpoch: func(_ *ae.Model, rec *Record) error { return stop }})
	if !errors.Is(err, stop) || rec.Epochs != 1 {
		t.Errorf("err %v after %d epochs; want the hook's error after 1", err, rec.Epochs)
	}
}

// TestResumeRefuses checks that resume refuses checkpoints it cannot
// continue, with a message saying what to do.
func TestResumeRefuses(t *testing.T) {
	dir := t.TempDir()
	data := toyData(64, 16, 1)
	ckpt := filepath.Join(dir, "m.ckpt")
	fit(t, newModel(t, denseConfig(t, 8, 0), 1), NewRows(data, RowsOptions{Batch: 16}), nil, Options{Epochs: 1, Checkpoint: ckpt})

	model := filepath.Join(dir, "model.safetensors")
	if err := newModel(t, denseConfig(t, 8, 0), 1).Save(model); err != nil {
		t.Fatal(err)
	}
	old := func(key string) string {
		p := filepath.Join(dir, key+".ckpt")
		m := newModel(t, denseConfig(t, 8, 0), 1)
		if err := m.SaveWith(p, &ae.Extra{Meta: map[string]string{key: `{"epochs":1}`}}); err != nil {
			t.Fatal(err)
		}
		return p
	}
	damaged := filepath.Join(dir, "damaged.ckpt")
	if err := newModel(t, denseConfig(t, 8, 0), 1).SaveWith(damaged, &ae.Extra{Meta: map[string]string{metaCheckpoint: "{"}}); err != nil {
		t.Fatal(err)
	}

	for _, c := range []struct {
		name string
		path string
		cfg  ae.Config
		data Source
		opt  Options
		want []string
	}{
		{"other data", ckpt, denseConfig(t, 8, 0), NewRows(toyData(48, 16, 1), RowsOptions{Batch: 16}), Options{}, []string{"other data", "48 rows", "64 rows", "delete it"}},
		{"other batch", ckpt, denseConfig(t, 8, 0), NewRows(data, RowsOptions{Batch: 32}), Options{}, []string{"batch size", "batch 32", "batch 16"}},
		{"other values", ckpt, denseConfig(t, 8, 0), NewRows(toyData(64, 16, 2), RowsOptions{Batch: 16}), Options{}, []string{"other data", "sha256"}},
		{"other architecture", ckpt, denseConfig(t, 12, 0), NewRows(data, RowsOptions{Batch: 16}), Options{}, []string{"different architecture", "16 → 8 → 2", "16 → 12 → 2", "same flags or delete it"}},
		{"other optimizer", ckpt, denseConfig(t, 8, 0), NewRows(data, RowsOptions{Batch: 16}), Options{Optimizer: "sgd"}, []string{"optimizer adam", "--optimizer adam"}},
		{"ema state missing", ckpt, denseConfig(t, 8, 0), NewRows(data, RowsOptions{Batch: 16}), Options{EMA: 0.9}, []string{"train.ema", "flags it was made with"}},
		{"previous release", old("checkpoint"), denseConfig(t, 8, 0), NewRows(data, RowsOptions{Batch: 16}), Options{}, []string{"earlier release", "delete it and train from the start"}},
		{"previous release conv", old("conv_checkpoint"), denseConfig(t, 8, 0), NewRows(data, RowsOptions{Batch: 16}), Options{}, []string{"earlier release", "delete it and train from the start"}},
		{"a model", model, denseConfig(t, 8, 0), NewRows(data, RowsOptions{Batch: 16}), Options{}, []string{"is a model, not a checkpoint"}},
		{"damaged", damaged, denseConfig(t, 8, 0), NewRows(data, RowsOptions{Batch: 16}), Options{}, []string{"damaged", "delete it"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			o := c.opt
			o.Epochs, o.Checkpoint, o.Resume = 2, c.path, true
			m := newModel(t, c.cfg, 1)
			before := modelState(m)
			_, err := Fit(context.Background(), m, c.data, nil, o)
			if err == nil {
				t.Fatal("resumed; want a refusal")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("err %q; want it to contain %q", err, w)
				}
			}
			if !strings.HasPrefix(err.Error(), "train: resume: ") {
				t.Errorf("err %q; want the prefix %q", err, "train: resume: ")
			}
			if !slices.Equal(before, modelState(m)) {
				t.Error("a refused resume changed the model")
			}
		})
	}
}

// TestResumeMissingCheckpointStartsFresh: Resume without a checkpoint file
// trains from the start, as a run without Resume does.
func TestResumeMissingCheckpointStartsFresh(t *testing.T) {
	data := toyData(48, 16, 1)
	a := newModel(t, denseConfig(t, 8, 0), 1)
	fit(t, a, NewRows(data, RowsOptions{Batch: 16}), nil, Options{Epochs: 2})
	b := newModel(t, denseConfig(t, 8, 0), 1)
	fit(t, b, NewRows(data, RowsOptions{Batch: 16}), nil, Options{Epochs: 2, Checkpoint: filepath.Join(t.TempDir(), "new.ckpt"), Resume: true})
	if d := sameState(a, b); d != "" {
		t.Errorf("resume without a checkpoint: %s from a fresh run", d)
	}
}

// TestResumeEarlyStopped: a checkpoint of a run that stopped early is not
// trained further.
func TestResumeEarlyStopped(t *testing.T) {
	ckpt := filepath.Join(t.TempDir(), "m.ckpt")
	data, val := toyData(32, 16, 1), toyData(16, 16, 2)
	o := Options{Epochs: 20, LR: 1e-12, Optimizer: "sgd", Patience: 2, Checkpoint: ckpt}
	rec := fit(t, newModel(t, denseConfig(t, 8, 0), 1), NewRows(data, RowsOptions{Batch: 16}), NewRows(val, RowsOptions{Ordered: true}), o)
	if rec.Stopped != "early-stopping" {
		t.Fatalf("stopped %q; want early-stopping", rec.Stopped)
	}
	o.Resume = true
	m := newModel(t, denseConfig(t, 8, 0), 2)
	again := fit(t, m, NewRows(data, RowsOptions{Batch: 16}), NewRows(val, RowsOptions{Ordered: true}), o)
	if again.Epochs != rec.Epochs || again.Stopped != "early-stopping" {
		t.Errorf("resumed an early-stopped run: %d epochs, stopped %q; want %d, early-stopping", again.Epochs, again.Stopped, rec.Epochs)
	}
}

// TestResumeKeepsBest: the best epoch's weights and the early-stopping
// count come through a resume. The validation loss is low only after
// epoch 1, so an uninterrupted run keeps epoch 1 and stops after epoch 3;
// so must a run resumed after epoch 2 from a model of another seed.
func TestResumeKeepsBest(t *testing.T) {
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
	run := func(m *ae.Model, o Options) *Record {
		last := -1 // the last training epoch started
		tr := &wrapped{Source: NewRows(data, RowsOptions{Batch: 16, Seed: 1}), epoch: func(e int) { last = e }}
		val := &fixed{x: x, target: func(int) *tensor.Tensor {
			if last == 0 {
				return x
			}
			return far
		}}
		return fit(t, m, tr, val, o)
	}
	o := Options{Epochs: 6, LR: 1e-2, Patience: 2}
	full := newModel(t, cfg, 1)
	want := run(full, o)
	if want.Epochs != 3 || want.BestEpoch != 1 || want.Stopped != "early-stopping" {
		t.Fatalf("uninterrupted: %d epochs, best %d, stopped %q; want 3, 1, early-stopping", want.Epochs, want.BestEpoch, want.Stopped)
	}

	o.Checkpoint, o.Resume = filepath.Join(t.TempDir(), "m.ckpt"), true
	first := o
	first.Epochs = 2
	run(newModel(t, cfg, 1), first)
	m := newModel(t, cfg, 2)
	got := run(m, o)
	if got.Epochs != 3 || got.BestEpoch != 1 || got.Stopped != "early-stopping" {
		t.Errorf("resumed: %d epochs, best %d, stopped %q; want 3, 1, early-stopping", got.Epochs, got.BestEpoch, got.Stopped)
	}
	if d := sameState(full, m); d != "" {
		t.Errorf("resumed: %s from the uninterrupted run", d)
	}
}

// TestResumeCompleted: resuming a finished run for no more epochs gives
// the model it ended with, whichever weights it keeps.
func TestResumeCompleted(t *testing.T) {
	data, val := toyData(48, 16, 1), toyData(16, 16, 2)
	for _, keepLast := range []bool{false, true} {
		for _, ema := range []float64{0, 0.9} {
			o := Options{Epochs: 2, LR: 1e-2, KeepLast: keepLast, EMA: ema, Checkpoint: filepath.Join(t.TempDir(), "m.ckpt"), Resume: true}
			done := newModel(t, denseConfig(t, 8, 0), 1)
			want := fit(t, done, NewRows(data, RowsOptions{Batch: 16}), NewRows(val, RowsOptions{Ordered: true}), o)
			again := newModel(t, denseConfig(t, 8, 0), 2)
			got := fit(t, again, NewRows(data, RowsOptions{Batch: 16}), NewRows(val, RowsOptions{Ordered: true}), o)
			if d := sameState(done, again); d != "" {
				t.Errorf("KeepLast %v, EMA %v: %s from the finished run", keepLast, ema, d)
			}
			if got.Epochs != 2 || got.Stopped != "completed" || got.BestEpoch != want.BestEpoch {
				t.Errorf("KeepLast %v, EMA %v: %d epochs, stopped %q, best %d; want 2, completed, %d", keepLast, ema, got.Epochs, got.Stopped, got.BestEpoch, want.BestEpoch)
			}
		}
	}
}
