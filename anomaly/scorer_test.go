package anomaly

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/bottleneck-ml/bottleneck/dataset"
	"github.com/bottleneck-ml/bottleneck/tensor"
)

// Scores are the mean squared reconstruction error of the model (and the
// mean absolute one for mae), whatever the batch size.
func TestScoresMatchReconstruction(t *testing.T) {
	m := denseModel(t, 5, 3)
	x := tensor.New(7, 5)
	for i := range x.Data {
		x.Data[i] = float32(math.Sin(float64(i)))
	}
	out, err := m.Reconstruct(nil, x)
	if err != nil {
		t.Fatal(err)
	}
	mse := make([]float64, 7)
	mae := make([]float64, 7)
	for i := range mse {
		for j := 0; j < 5; j++ {
			d := float64(out.Row(i)[j] - x.Row(i)[j])
			mse[i] += d * d / 5
			mae[i] += math.Abs(d) / 5
		}
	}
	det, err := New(m.Clone()) // no detector section: mse, no threshold
	if err != nil {
		t.Fatal(err)
	}
	if det.Scoring().Metric != MetricMSE || det.Threshold() != nil || det.Window() != 1 {
		t.Fatalf("a bare model's detector: %+v, threshold %v, window %d", det.Scoring(), det.Threshold(), det.Window())
	}
	maeDet, err := New(withSection(t, m.Clone(), section{Scoring: Scoring{Metric: MetricMAE}}))
	if err != nil {
		t.Fatal(err)
	}
	for _, batch := range []int{1, 3, 256} {
		res, err := det.ScoreWith(x, ScoreOptions{Batch: batch, Errors: true})
		if err != nil {
			t.Fatal(err)
		}
		again, err := det.ScoreWith(x, ScoreOptions{Batch: batch})
		if err != nil {
			t.Fatal(err)
		}
		if len(res) != 7 {
			t.Fatalf("batch %d: %d results; want 7", batch, len(res))
		}
		for i, r := range res {
			if math.Abs(r.Score-mse[i]) > 1e-6 || r.Score != again[i].Score || r.MSE != r.Score || r.Anomaly {
				t.Errorf("batch %d row %d: score %v (again %v, mse %v, anomaly %v); want %v", batch, i, r.Score, again[i].Score, r.MSE, r.Anomaly, mse[i])
			}
			var sum float64
			for _, e := range r.Errors {
				sum += float64(e)
			}
			if len(r.Errors) != 5 || math.Abs(sum/5-r.Score) > 1e-6 {
				t.Errorf("batch %d row %d: errors %v do not average to the score %v", batch, i, r.Errors, r.Score)
			}
			if again[i].Errors != nil {
				t.Errorf("batch %d row %d: errors kept without ScoreOptions.Errors", batch, i)
			}
		}
		ma, err := maeDet.ScoreWith(x, ScoreOptions{Batch: batch})
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range ma {
			if math.Abs(r.Score-mae[i]) > 1e-6 || math.Abs(r.MSE-mse[i]) > 1e-6 {
				t.Errorf("mae batch %d row %d: score %v, mse %v; want %v, %v", batch, i, r.Score, r.MSE, mae[i], mse[i])
			}
		}
	}
	if _, err := det.Score(tensor.New(2, 4)); err == nil {
		t.Error("Score of rows of the wrong width succeeded")
	}
	if _, err := det.ScoreRecords([]string{"a"}, [][]string{{"1"}}); err == nil {
		t.Error("ScoreRecords on a model without a table preprocessor succeeded")
	}
}

func TestAttribute(t *testing.T) {
	pre := &dataset.Preprocessor{Kind: dataset.KindTable, Columns: []dataset.ColumnSpec{
		{Name: "amount", Role: dataset.RoleFeature, Type: dataset.TypeNumeric},
		{Name: "label", Role: dataset.RoleLabel},
		{Name: "country", Role: dataset.RoleFeature, Type: dataset.TypeCategorical, Categories: []string{"de", "fr", "us"}},
		{Name: "hour", Role: dataset.RoleFeature, Type: dataset.TypeNumeric},
	}}
	g := Groups(pre, 5)
	if len(g) != 3 || g[0] != (Group{"amount", 0, 1}) || g[1] != (Group{"country", 1, 4}) || g[2] != (Group{"hour", 4, 5}) {
		t.Fatalf("Groups = %+v", g)
	}
	if px := Groups(nil, 3); len(px) != 3 || px[2] != (Group{"pixel2", 2, 3}) {
		t.Errorf("Groups(nil, 3) = %+v", px)
	}
	errs := []float32{1, 2, 3, 1, 3} // amount 1, country 6, hour 3 → total 10
	top := Attribute(errs, g, 2)
	if len(top) != 2 || top[0].Feature != "country" || math.Abs(top[0].Share-0.6) > 1e-9 || top[1].Feature != "hour" || math.Abs(top[1].Share-0.3) > 1e-9 {
		t.Errorf("Attribute = %+v; want country 0.6, hour 0.3", top)
	}
	all := Attribute(make([]float32, 5), g, 0)
	if len(all) != 3 || all[0].Share != 0 || all[0].Feature != "amount" {
		t.Errorf("zero error attribution = %+v; want three zero shares in column order", all)
	}
	inf := float32(math.Inf(1))
	nan := float32(math.NaN())
	top = Attribute([]float32{inf, 1, 0, 0, nan}, g, 0)
	if top[0].Share != 0.5 || top[1].Share != 0.5 || top[2].Share != 0 || top[2].Feature != "country" {
		t.Errorf("Attribute with Inf and NaN errors = %+v; want amount and hour 0.5 each", top)
	}
}

// Attribute never returns NaN or infinite shares: they are in [0, 1] and
// sum to 1 (or are all 0 for a row without error), whatever the errors.
func TestAttributeNeverNaN(t *testing.T) {
	g := []Group{{"a", 0, 1}, {"b", 1, 3}, {"c", 3, 4}}
	specials := []float32{0, 1e-30, 3e38, float32(math.Inf(1)), float32(math.NaN()), float32(math.Inf(-1))}
	rng := rand.New(rand.NewPCG(4, 4))
	for trial := 0; trial < 2000; trial++ {
		errs := make([]float32, 4)
		for j := range errs {
			if rng.IntN(2) == 0 {
				errs[j] = specials[rng.IntN(len(specials))]
			} else {
				errs[j] = float32(rng.ExpFloat64())
			}
		}
		var sum float64
		for _, c := range Attribute(errs, g, 0) {
			if math.IsNaN(c.Share) || c.Share < 0 || c.Share > 1 {
				t.Fatalf("Attribute(%v) share of %s = %v", errs, c.Feature, c.Share)
			}
			sum += c.Share
		}
		if sum != 0 && math.Abs(sum-1) > 1e-9 {
			t.Fatalf("Attribute(%v) shares sum to %v", errs, sum)
		}
	}
}
