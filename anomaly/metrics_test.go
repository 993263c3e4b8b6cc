package anomaly

import (
	"encoding/json"
	"math"
	"os"
	"testing"
)

type sklearnCase struct {
	Name             string    `json:"name"`
	Scores           []float64 `json:"scores"`
	Labels           []int     `json:"labels"`
	Threshold        float64   `json:"threshold"`
	ROCAUC           float64   `json:"roc_auc"`
	AveragePrecision float64   `json:"average_precision"`
	Precision        float64   `json:"precision"`
	Recall           float64   `json:"recall"`
	F1               float64   `json:"f1"`
	PrecisionAtN     float64   `json:"precision_at_n"`
	Quantile95       float64   `json:"quantile_95"`
}

// TestMetricsSklearn checks every metric against scikit-learn's values on
// the cases written by testdata/sklearn/make_metrics.py.
func TestMetricsSklearn(t *testing.T) {
	raw, err := os.ReadFile("../testdata/sklearn/metrics.json")
	if err != nil {
		t.Fatal(err)
	}
	var fx struct {
		Sklearn string        `json:"sklearn"`
		Cases   []sklearnCase `json:"cases"`
	}
	if err := json.Unmarshal(raw, &fx); err != nil {
		t.Fatal(err)
	}
	if len(fx.Cases) < 5 {
		t.Fatalf("fixture has %d cases", len(fx.Cases))
	}
	for _, c := range fx.Cases {
		labels := make([]bool, len(c.Labels))
		for i, l := range c.Labels {
			labels[i] = l == 1
		}
		conf := AtThreshold(c.Scores, labels, c.Threshold)
		checks := []struct {
			what      string
			got, want float64
		}{
			{"ROCAUC", ROCAUC(c.Scores, labels), c.ROCAUC},
			{"AveragePrecision", AveragePrecision(c.Scores, labels), c.AveragePrecision},
			{"Precision", conf.Precision(), c.Precision},
			{"Recall", conf.Recall(), c.Recall},
			{"F1", conf.F1(), c.F1},
			{"PrecisionAtN", PrecisionAtN(c.Scores, labels, 0), c.PrecisionAtN},
			{"Quantile(0.95)", Quantile(c.Scores, 0.95), c.Quantile95},
		}
		for _, ck := range checks {
			if math.Abs(ck.got-ck.want) > 1e-12 {
				t.Errorf("%s %s = %.15g; sklearn %s says %.15g", c.Name, ck.what, ck.got, fx.Sklearn, ck.want)
			}
		}
	}
}

func TestMetricsEdgeCases(t *testing.T) {
	if v := ROCAUC([]float64{1, 2}, []bool{true, true}); !math.IsNaN(v) {
		t.Errorf("ROCAUC one class = %v; want NaN", v)
	}
	if v := AveragePrecision([]float64{1, 2}, []bool{false, false}); !math.IsNaN(v) {
		t.Errorf("AveragePrecision no anomalies = %v; want NaN", v)
	}
	// NaN scores rank as the most anomalous.
	if v := ROCAUC([]float64{0.1, math.NaN(), 0.2}, []bool{false, true, false}); v != 1 {
		t.Errorf("ROCAUC with NaN anomaly = %v; want 1", v)
	}
	// Separated scores give AUC 1 and AP 1 at any size.
	for n := 2; n < 40; n += 7 {
		s := make([]float64, n)
		l := make([]bool, n)
		for i := range s {
			s[i] = float64(i)
			l[i] = i >= n/2
		}
		if v := ROCAUC(s, l); v != 1 {
			t.Errorf("ROCAUC separated n=%d = %v; want 1", n, v)
		}
		if v := AveragePrecision(s, l); v != 1 {
			t.Errorf("AveragePrecision separated n=%d = %v; want 1", n, v)
		}
	}
	c := AtThreshold([]float64{1, 2, 3}, []bool{false, false, false}, 10)
	if c.F1() != 0 || c.Precision() != 0 || c.FAR() != 0 {
		t.Errorf("nothing flagged: %+v gives nonzero rates", c)
	}
}

func TestBestF1(t *testing.T) {
	s := []float64{0.1, 0.2, 0.3, 0.9, 1.0, 0.25}
	l := []bool{false, false, false, true, true, false}
	thr, f1, ok := BestF1(s, l)
	if !ok || f1 != 1 || thr <= 0.3 || thr >= 0.9 {
		t.Fatalf("BestF1 = %v, %v, %v; want a threshold in (0.3, 0.9) with F1 1", thr, f1, ok)
	}
	if got := AtThreshold(s, l, thr).F1(); got != 1 {
		t.Errorf("F1 at the best threshold = %v; want 1", got)
	}
	if _, _, ok := BestF1(s, make([]bool, len(s))); ok {
		t.Error("BestF1 without anomalies reported ok")
	}
}
