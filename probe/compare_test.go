package probe

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"

	"github.com/bottleneck-ml/bottleneck/tensor"
)

// hidden draws n rows of 2 informative columns (4 classes at (±1, ±1),
// tight) and noise columns of large variance after them; the codes are
// the informative columns, what a perfect encoder would keep.
func hidden(rng *rand.Rand, n, noise int) Set {
	d := 2 + noise
	x := tensor.New(n, d)
	codes := tensor.New(n, 2)
	labels := make([]string, n)
	for i := range n {
		c := i % 4
		labels[i] = strconv.Itoa(c)
		row := x.Row(i)
		row[0] = float32(2*float64(c%2) - 1 + 0.1*rng.NormFloat64())
		row[1] = float32(2*float64(c/2) - 1 + 0.1*rng.NormFloat64())
		for j := 2; j < d; j++ {
			row[j] = float32(5 * rng.NormFloat64())
		}
		copy(codes.Row(i), row[:2])
	}
	return Set{X: x, Codes: codes, Labels: labels}
}

func TestCompare(t *testing.T) {
	in := CompareInput{Train: hidden(rand.New(rand.NewPCG(1, 2)), 400, 8), Test: hidden(rand.New(rand.NewPCG(3, 4)), 200, 8)}
	var seen []string
	rep, err := Compare(context.Background(), in, CompareOptions{Baselines: true, Progress: func(name string, s *Score) {
		seen = append(seen, name+":"+strconv.Itoa(s.Features))
	}})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"code:2", "pca:2", "raw:10"}; !slices.Equal(seen, want) {
		t.Errorf("Progress saw %v; want %v", seen, want)
	}
	if rep.Accuracy != rep.Code.Accuracy || rep.Code.Accuracy < 0.99 || rep.Classes != 4 || rep.TrainRows != 400 || rep.TestRows != 200 {
		t.Errorf("Compare = %+v; want the code's accuracy ≥ 0.99, 4 classes, 400 and 200 rows", rep)
	}
	if rep.PCA == nil || rep.Raw == nil || rep.PCA.Accuracy > 0.5 || rep.PCA.Explained <= 0 || rep.PCA.Explained >= 1 {
		t.Fatalf("PCA baseline %+v: want it to keep the noise (accuracy ≤ 0.5)", rep.PCA)
	}
	if rep.Raw.Accuracy < 0.95 || rep.Raw.TrainAcc < 0.95 {
		t.Errorf("raw baseline %+v: want accuracy ≥ 0.95", rep.Raw)
	}

	rep, err = Compare(context.Background(), in, CompareOptions{L2: 0.5})
	if err != nil || rep.PCA != nil || rep.Raw != nil || rep.L2 != 0.5 {
		t.Errorf("Compare without baselines = %+v, %v; want the code alone, L2 0.5", rep, err)
	}

	// Image-shaped inputs are read as rows.
	img := in
	img.Train.X = tensor.From(in.Train.X.Data, 400, 1, 2, 5)
	if rep, err := Compare(context.Background(), img, CompareOptions{Baselines: true}); err != nil || rep.Raw.Features != 10 {
		t.Errorf("Compare of [N 1 2 5] inputs: %v; want 10 raw features", err)
	}
}

func TestCompareErrors(t *testing.T) {
	good := hidden(rand.New(rand.NewPCG(1, 2)), 40, 1)
	short := good
	short.Codes = tensor.New(39, 2)
	if _, err := Compare(context.Background(), CompareInput{Train: short, Test: good}, CompareOptions{}); !errors.Is(err, ErrLabels) {
		t.Errorf("Compare with 39 codes for 40 rows: %v; want ErrLabels", err)
	}
	none := good
	none.Codes = nil
	if _, err := Compare(context.Background(), CompareInput{Train: good, Test: none}, CompareOptions{}); err == nil {
		t.Error("Compare without test codes: no error")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Compare(ctx, CompareInput{Train: good, Test: good}, CompareOptions{}); !errors.Is(err, context.Canceled) {
		t.Errorf("Compare with a cancelled context: %v; want context.Canceled", err)
	}
}
