package train

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/bottleneck-ml/bottleneck/ae"
	"github.com/bottleneck-ml/bottleneck/dataset"
	"github.com/bottleneck-ml/bottleneck/internal/parallel"
	"github.com/bottleneck-ml/bottleneck/tensor"
)

// toyData is n rows of d features lying near a 2-D subspace in [0,1], so a
// code of 2 can reconstruct them.
func toyData(n, d int, seed uint64) *dataset.Dataset {
	rng := rand.New(rand.NewPCG(seed, 9))
	x := tensor.New(n, d)
	for i := 0; i < n; i++ {
		a, b := rng.Float64(), rng.Float64()
		for j := 0; j < d; j++ {
			v := 0.5 + 0.4*(a*math.Sin(float64(j))+b*math.Cos(float64(j)))/1.5 + 0.01*rng.NormFloat64()
			x.Data[i*d+j] = float32(min(1, max(0, v)))
		}
	}
	return &dataset.Dataset{X: x, Shape: []int{d}}
}

func toyModel(t *testing.T, seed uint64) *ae.Model {
	t.Helper()
	c := ae.Config{InputShape: []int{16}, Hidden: []int{12}, Code: 2}
	c.Defaults(true)
	m, err := ae.New(c, seed)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestFitConverges(t *testing.T) {
	x := toyData(400, 16, 1)
	val := toyData(100, 16, 2)
	m := toyModel(t, 1)
	before := Evaluate(m, val.X, 64)
	rec, err := Fit(context.Background(), m, x, val, Options{Epochs: 30, Batch: 32, LR: 1e-2, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	after := Evaluate(m, val.X, 64)
	if !(after < before*0.97) {
		t.Errorf("validation loss %g → %g; want a clear decrease", before, after)
	}
	if rec.Epochs != 30 || len(rec.TrainLoss) != 30 || len(rec.ValLoss) != 30 || rec.Stopped != "completed" {
		t.Errorf("record = %+v", rec)
	}
	// The kept epoch is the minimum up to the relative min-delta that an
	// improvement needs.
	bestVal := rec.ValLoss[rec.BestEpoch-1]
	if lo := slices.Min(rec.ValLoss); bestVal > lo*(1+2*minDelta) {
		t.Errorf("best epoch %d (val %g) is not within min-delta of the minimum %g", rec.BestEpoch, bestVal, lo)
	}
	if math.Abs(after-bestVal) > 1e-6 {
		t.Errorf("kept weights give val %g, best epoch recorded %g", after, bestVal)
	}
	if len(m.Training) == 0 {
		t.Error("record not stored in the model")
	}
}

func TestDeterministic(t *testing.T) {
	x := toyData(300, 16, 1)
	for _, threads := range []int{1, 2} {
		old := parallel.SetThreads(threads)
		var weights [][]float32
		for range 2 {
			m := toyModel(t, 5)
			if _, err := Fit(context.Background(), m, x, nil, Options{Epochs: 3, Batch: 32, Seed: 5}); err != nil {
				t.Fatal(err)
			}
			weights = append(weights, slices.Clone(m.Params.W))
		}
		parallel.SetThreads(old)
		if !slices.Equal(weights[0], weights[1]) {
			t.Errorf("threads=%d: two runs with the same seed gave different weights", threads)
		}
	}
}

func TestResumeMatchesUninterrupted(t *testing.T) {
	x := toyData(300, 16, 1)
	val := toyData(60, 16, 2)
	opt := Options{Epochs: 4, Batch: 32, Seed: 3}
	full := toyModel(t, 3)
	if _, err := Fit(context.Background(), full, x, val, opt); err != nil {
		t.Fatal(err)
	}

	ckpt := filepath.Join(t.TempDir(), "m.ckpt")
	part := toyModel(t, 3)
	o2 := opt
	o2.Epochs, o2.Checkpoint = 2, ckpt
	if _, err := Fit(context.Background(), part, x, val, o2); err != nil {
		t.Fatal(err)
	}
	resumed := toyModel(t, 99) // different init: everything must come from the checkpoint
	o3 := opt
	o3.Checkpoint, o3.Resume = ckpt, true
	rec, err := Fit(context.Background(), resumed, x, val, o3)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Epochs != 4 || len(rec.TrainLoss) != 4 {
		t.Fatalf("resumed record has %d epochs, %d losses; want 4", rec.Epochs, len(rec.TrainLoss))
	}
	if !slices.Equal(full.Params.W, resumed.Params.W) {
		t.Error("2 epochs + resume for 2 more differs from 4 epochs straight")
	}
}

func TestInterruptSavesCheckpoint(t *testing.T) {
	x := toyData(200, 16, 1)
	ckpt := filepath.Join(t.TempDir(), "m.ckpt")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	m := toyModel(t, 1)
	_, err := Fit(ctx, m, x, nil, Options{Epochs: 2, Checkpoint: ckpt})
	if !errors.Is(err, ErrInterrupted) {
		t.Fatalf("err = %v; want ErrInterrupted", err)
	}
	if !strings.Contains(err.Error(), "--resume") {
		t.Errorf("error %q does not say how to resume", err)
	}
	if _, err := os.Stat(ckpt); err != nil {
		t.Errorf("no checkpoint after interruption: %v", err)
	}
}

func TestNaNGuard(t *testing.T) {
	x := toyData(100, 16, 1)
	for i := range x.X.Data {
		x.X.Data[i] *= 1e30 // absurd scaling with an identity output and MSE
	}
	c := ae.Config{InputShape: []int{16}, Hidden: []int{8}, Code: 2}
	c.Defaults(false)
	m, err := ae.New(c, 1)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Fit(context.Background(), m, x, nil, Options{Epochs: 3, LR: 10})
	if !errors.Is(err, ErrDiverged) {
		t.Fatalf("err = %v; want ErrDiverged", err)
	}
	if !strings.Contains(err.Error(), "--lr") {
		t.Errorf("error %q does not say what to change", err)
	}
}

func TestEarlyStopping(t *testing.T) {
	x := toyData(200, 16, 1)
	val := toyData(50, 16, 7)
	m := toyModel(t, 1)
	// A learning rate this small cannot improve validation loss by enough
	// to matter... but any improvement counts, so use lr 0: nothing changes
	// after the first epoch.
	rec, err := Fit(context.Background(), m, x, val, Options{Epochs: 20, LR: 1e-12, Patience: 2, Optimizer: "sgd"})
	if err != nil {
		t.Fatal(err)
	}
	if rec.Stopped != "early-stopping" || rec.Epochs >= 20 {
		t.Errorf("stopped %q after %d epochs; want early stopping", rec.Stopped, rec.Epochs)
	}
}

func TestResumeRejectsOtherData(t *testing.T) {
	ckpt := filepath.Join(t.TempDir(), "m.ckpt")
	m := toyModel(t, 1)
	if _, err := Fit(context.Background(), m, toyData(100, 16, 1), nil, Options{Epochs: 1, Batch: 16, Checkpoint: ckpt}); err != nil {
		t.Fatal(err)
	}
	_, err := Fit(context.Background(), toyModel(t, 1), toyData(50, 16, 1), nil, Options{Epochs: 2, Batch: 16, Checkpoint: ckpt, Resume: true})
	if err == nil || !strings.Contains(err.Error(), "rows") {
		t.Errorf("resume on other data: err = %v; want a refusal naming the rows", err)
	}
}

func TestFitRejectsWrongWidth(t *testing.T) {
	_, err := Fit(context.Background(), toyModel(t, 1), toyData(10, 8, 1), nil, Options{})
	if err == nil || !strings.Contains(err.Error(), "features") {
		t.Errorf("err = %v", err)
	}
}
