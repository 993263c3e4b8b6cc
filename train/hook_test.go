package train

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/bottleneck-ml/bottleneck/ae"
)

// TestBeforeStep checks the per-step hook: called once per step with the
// global step (continuing after a resume) and the steps per epoch.
func TestBeforeStep(t *testing.T) {
	ds := toyData(100, 16, 1)
	var steps []int
	per := 0
	opt := Options{Epochs: 2, Batch: 32, Seed: 1, BeforeStep: func(step, perEpoch int) {
		steps = append(steps, step)
		per = perEpoch
	}}
	if _, err := Fit(context.Background(), toyModel(t, 1), ds, nil, opt); err != nil {
		t.Fatal(err)
	}
	if per != 4 || len(steps) != 8 {
		t.Fatalf("hook saw %d steps, %d per epoch; want 8 and 4", len(steps), per)
	}
	for i, s := range steps {
		if s != i {
			t.Fatalf("step %d reported as %d", i, s)
		}
	}
	// Resumed: the count continues.
	ckpt := filepath.Join(t.TempDir(), "m.ckpt")
	opt.Checkpoint = ckpt
	opt.Epochs = 1
	steps = nil
	if _, err := Fit(context.Background(), toyModel(t, 1), ds, nil, opt); err != nil {
		t.Fatal(err)
	}
	opt.Epochs, opt.Resume = 2, true
	steps = nil
	if _, err := Fit(context.Background(), toyModel(t, 1), ds, nil, opt); err != nil {
		t.Fatal(err)
	}
	if len(steps) != 4 || steps[0] != 4 {
		t.Errorf("after resume the hook saw steps %v; want 4..7", steps)
	}
}

// TestFitVAE trains a VAE through Fit with a KL warm-up hook.
func TestFitVAE(t *testing.T) {
	ds := toyData(128, 8, 2)
	c := ae.Config{Arch: ae.ArchVAE, InputShape: []int{8}, Hidden: []int{8}, Code: 2}
	c.Defaults(true)
	m, err := ae.New(c, 1)
	if err != nil {
		t.Fatal(err)
	}
	var weights []float64
	opt := Options{Epochs: 3, Batch: 32, Seed: 1, BeforeStep: func(step, per int) {
		m.SeedNoise(1, uint64(step))
		m.SetKLWeight(min(1, float64(step+1)/float64(2*per)))
		weights = append(weights, m.KLWeight())
	}}
	rec, err := Fit(context.Background(), m, ds, nil, opt)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Loss != ae.LossELBO || rec.TrainLoss[2] >= rec.TrainLoss[0] {
		t.Errorf("record %+v; want the elbo loss falling", rec)
	}
	if weights[0] >= weights[len(weights)-1] || weights[len(weights)-1] != 1 {
		t.Errorf("KL weights %v; want a warm-up to 1", weights)
	}
}
