package train

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/bottleneck-ml/bottleneck/ae"
)

// TestInitFineTunes trains a BatchNorm denoiser, then fine-tunes it with
// another loss from a model built with another seed and Init: the result
// must be bit-identical to fine-tuning a clone of the trained model
// itself (so every weight and statistic came from Init, and EMA started
// from them), and the new record must keep the first one as its Init.
func TestInitFineTunes(t *testing.T) {
	first := newModel(t, convBNConfig(), 1)
	opt := Options{LR: 3e-3, Seed: 5, Epochs: 1, EMA: 0.9}
	fit(t, first, patchTask(t, "denoise").Source(4, 5, 11), nil, opt)

	cfg := convBNConfig()
	cfg.Loss = ae.LossL1
	opt.Epochs, opt.Command = 2, "second"

	tuned := newModel(t, cfg, 2)
	withInit := opt
	withInit.Init = first
	rec := fit(t, tuned, patchTask(t, "denoise").Source(4, 5, 12), nil, withInit)

	want, err := ae.New(cfg, 3)
	if err != nil {
		t.Fatal(err)
	}
	if err := want.CopyWeights(first); err != nil {
		t.Fatal(err)
	}
	fit(t, want, patchTask(t, "denoise").Source(4, 5, 12), nil, opt)
	if d := sameState(tuned, want); d != "" {
		t.Fatalf("fine-tuned with Init and from copied weights: %s", d)
	}
	if d := sameState(tuned, first); d == "" {
		t.Fatal("fine-tuning left the weights as they were")
	}
	if rec.Init == nil || rec.Init != first.Training || rec.Init.Epochs != 1 || rec.Epochs != 2 {
		t.Fatalf("record: Init %+v, epochs %d; want the first model's record (1 epoch) and 2 epochs", rec.Init, rec.Epochs)
	}
}

// TestInitRefusesOtherLayers: a model with another width, or other
// BatchNorm layers, cannot be the start, and the error says what differs.
func TestInitRefusesOtherLayers(t *testing.T) {
	wide := convBNConfig()
	wide.Encoder = []string{"conv:8:3", "bn", "relu"}
	noBN := ae.Config{Channels: 1, Encoder: []string{"conv:4:3", "relu"},
		Decoder: []string{"conv:4:3", "relu", "conv:1:3"}, Residual: true, Loss: ae.LossMSE}
	for _, c := range []struct {
		name string
		cfg  ae.Config
		want string
	}{
		{"width", wide, "shape [8 1 3 3], want [4 1 3 3]"},
		{"batchnorm", noBN, "weight tensors"},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := newModel(t, convBNConfig(), 1)
			before := modelState(m)
			_, err := Fit(context.Background(), m, patchTask(t, "denoise").Source(4, 2, 1), nil,
				Options{Epochs: 1, Init: newModel(t, c.cfg, 1)})
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "same network") {
				t.Fatalf("error %v, want one naming %q and what to do", err, c.want)
			}
			if !slices.Equal(before, modelState(m)) {
				t.Fatal("a refused Init changed the weights")
			}
		})
	}
}

// TestInitResumes: a fine-tune interrupted after its first epoch resumes
// from its checkpoint, whatever Init the resumed call passes (the
// checkpoint holds the weights; here a model of other layers, which would
// be refused for a fresh start), to the weights and record of the
// uninterrupted fine-tune, Init record included.
func TestInitResumes(t *testing.T) {
	first := newModel(t, convBNConfig(), 1)
	fit(t, first, patchTask(t, "denoise").Source(4, 5, 11), nil, Options{LR: 3e-3, Seed: 5, Epochs: 1})
	wide := convBNConfig()
	wide.Encoder = []string{"conv:8:3", "bn", "relu"}
	other := newModel(t, wide, 9)
	opt := Options{LR: 1e-3, Seed: 6, Epochs: 3, EMA: 0.9, Init: first}

	full := newModel(t, convBNConfig(), 2)
	want := fit(t, full, patchTask(t, "denoise").Source(4, 5, 12), nil, opt)

	opt.Checkpoint, opt.Resume = filepath.Join(t.TempDir(), "m.ckpt"), true
	o, ctx, cancel := interruptAfterEpoch(opt, 1)
	if _, err := Fit(ctx, newModel(t, convBNConfig(), 3), patchTask(t, "denoise").Source(4, 5, 12), nil, o); !errors.Is(err, ErrInterrupted) {
		t.Fatalf("first session: %v; want ErrInterrupted", err)
	}
	cancel()
	opt.Init = other
	resumed := newModel(t, convBNConfig(), 4)
	got := fit(t, resumed, patchTask(t, "denoise").Source(4, 5, 12), nil, opt)
	if d := sameState(full, resumed); d != "" {
		t.Fatalf("resumed fine-tune: %s from the uninterrupted one", d)
	}
	if got.Init == nil || got.Init.Epochs != first.Training.Epochs || got.Init.Seed != first.Training.Seed ||
		!slices.Equal(got.TrainLoss, want.TrainLoss) {
		t.Fatalf("resumed record: Init %+v, train %v; want the first model's record and %v", got.Init, got.TrainLoss, want.TrainLoss)
	}
}
