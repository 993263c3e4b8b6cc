package anomaly

import (
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseSpec(t *testing.T) {
	good := map[string]Spec{
		"contamination:0.05": {MethodContamination, 0.05},
		"sigma:3":            {MethodSigma, 3},
		"mad:3.5":            {MethodMAD, 3.5},
		"MAD":                {MethodMAD, 3.5},
		"pot:0.001":          {MethodPOT, 0.001},
		"f1":                 {MethodF1, 0},
		"value:0.25":         {MethodValue, 0.25},
		" pot ":              {MethodPOT, 0.01},
	}
	for in, want := range good {
		got, err := ParseSpec(in)
		if err != nil || got != want {
			t.Errorf("ParseSpec(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "foo:1", "contamination:1.5", "pot:0", "sigma:-1", "value", "f1:2", "mad:x", "value:NaN"} {
		if _, err := ParseSpec(in); !errors.Is(err, ErrSpec) {
			t.Errorf("ParseSpec(%q) error = %v; want ErrSpec", in, err)
		}
	}
}

func normalScores(n int, seed uint64) []float64 {
	r := rand.New(rand.NewPCG(seed, 1))
	s := make([]float64, n)
	for i := range s {
		// Squared-error-like: positive and right-skewed.
		v := r.NormFloat64()
		s[i] = 0.1 + 0.05*v*v
	}
	return s
}

func TestFitMethods(t *testing.T) {
	s := normalScores(20000, 7)
	for _, spec := range []string{"contamination:0.05", "sigma:3", "mad:3.5", "pot:0.01", "pot:0.001"} {
		sp, _ := ParseSpec(spec)
		th, err := Fit(sp, s, nil, "test rows")
		if err != nil {
			t.Fatalf("Fit(%s): %v", spec, err)
		}
		flagged := 0
		for _, v := range s {
			if th.IsAnomaly(v) {
				flagged++
			}
		}
		rate := float64(flagged) / float64(len(s))
		// Normal data: never everything, and within the method's promise.
		want := map[string][2]float64{
			"contamination:0.05": {0.045, 0.055},
			"sigma:3":            {0.005, 0.04},
			"mad:3.5":            {0.01, 0.15},
			"pot:0.01":           {0.006, 0.015},
			"pot:0.001":          {0.0003, 0.002},
		}[spec]
		if rate < want[0] || rate > want[1] {
			t.Errorf("%s flags %.4f of normal rows; want [%v, %v] (threshold %s)", spec, rate, want[0], want[1], th.Describe())
		}
	}
}

func TestFitLabels(t *testing.T) {
	s := append(normalScores(500, 3), 5, 6, 7, 8)
	l := make([]bool, len(s))
	for i := 500; i < len(l); i++ {
		l[i] = true
	}
	th, err := Fit(Spec{Method: MethodF1}, s, l, "validation rows")
	if err != nil || th.F1 != 1 || th.Value >= 5 {
		t.Fatalf("Fit f1 = %+v, %v; want F1 1 below 5", th, err)
	}
	// Non-f1 methods leave the labelled anomalies out.
	th, err = Fit(Spec{MethodSigma, 3}, s, l, "validation rows")
	if err != nil || th.Rows != 500 {
		t.Fatalf("Fit sigma with labels: rows %d, %v; want 500", th.Rows, err)
	}
	if _, err := Fit(Spec{Method: MethodF1}, s, nil, ""); err == nil {
		t.Error("f1 without labels succeeded")
	}
	if _, err := Fit(Spec{Method: MethodF1}, s, make([]bool, len(s)), ""); err == nil {
		t.Error("f1 without anomalies succeeded")
	}
	th, _ = Fit(Spec{MethodValue, 0.7}, nil, nil, "")
	if th.Value != 0.7 {
		t.Errorf("value:0.7 gave %v", th.Value)
	}
}

// A threshold survives JSON (the model file's record) unchanged, and a
// NaN score is anomalous.
func TestThresholdRoundTrip(t *testing.T) {
	th, err := Fit(Spec{MethodPOT, 0.01}, normalScores(2000, 1), nil, "validation rows")
	if err != nil {
		t.Fatal(err)
	}
	th.Score = MetricMahal
	raw, err := json.Marshal(th)
	if err != nil {
		t.Fatal(err)
	}
	var got Threshold
	if err := json.Unmarshal(raw, &got); err != nil || got != *th {
		t.Fatalf("Unmarshal(Marshal(%+v)) = %+v, %v", th, got, err)
	}
	if err := json.Unmarshal([]byte(`{"value":"x"}`), &got); err == nil {
		t.Error("a damaged record decoded")
	}
	if !th.IsAnomaly(math.NaN()) || th.IsAnomaly(th.Value) || !th.IsAnomaly(math.Nextafter(th.Value, math.Inf(1))) {
		t.Error("IsAnomaly is not score > Value with NaN anomalous")
	}
	if d := th.Describe(); !strings.Contains(d, "mahal score > ") || !strings.Contains(d, "pot:0.01") || !strings.Contains(d, "2000 validation rows") {
		t.Errorf("Describe() = %q", d)
	}
}

// A detector's threshold survives Save and Open, WithThreshold replaces it
// without touching the original, and Rethreshold refits it on results.
func TestDetectorThreshold(t *testing.T) {
	d, ds := trainTable(t, smallOptions(1))
	th := d.Threshold()
	if th == nil || th.Score != MetricMahal || th.Method != MethodMAD || th.Param != 3.5 || th.FittedOn != "validation rows" || th.Rows != 20 {
		t.Fatalf("trained threshold = %+v; want mahal, mad:3.5 on the 20 validation rows", th)
	}
	path := filepath.Join(t.TempDir(), "d.safetensors")
	if err := d.Save(path); err != nil {
		t.Fatal(err)
	}
	o, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := o.Threshold(); got == nil || *got != *th {
		t.Errorf("threshold after Save and Open = %+v; want %+v", got, th)
	}
	th.Value = -1e9 // a copy: the detector keeps its own
	if d.Threshold().Value == -1e9 {
		t.Fatal("Threshold returned the detector's own record")
	}
	all := d.WithThreshold(&Threshold{Method: MethodValue, Value: -1e9, Score: MetricMSE})
	none := d.WithThreshold(nil)
	if all.Threshold().Score != MetricMahal || none.Threshold() != nil || d.Threshold().Value == -1e9 {
		t.Fatalf("WithThreshold: %+v, %+v, original %+v", all.Threshold(), none.Threshold(), d.Threshold())
	}
	if all.Version() == d.Version() || none.Version() == d.Version() || d.WithThreshold(d.Threshold()).Version() != d.Version() {
		t.Errorf("versions: %s with value:-1e9, %s without threshold, %s with its own; original %s",
			all.Version(), none.Version(), d.WithThreshold(d.Threshold()).Version(), d.Version())
	}
	ra, err := all.Score(ds.X)
	if err != nil {
		t.Fatal(err)
	}
	rn, err := none.Score(ds.X)
	if err != nil {
		t.Fatal(err)
	}
	for i := range ra {
		if !ra[i].Anomaly || rn[i].Anomaly || ra[i].Score != rn[i].Score {
			t.Fatalf("row %d: flagged %v under value:-1e9, %v without threshold (scores %v, %v)", i, ra[i].Anomaly, rn[i].Anomaly, ra[i].Score, rn[i].Score)
		}
	}
	rt, err := Rethreshold(rn, Spec{MethodContamination, 0.1}, MetricMahal, "scored rows")
	if err != nil {
		t.Fatal(err)
	}
	flagged := 0
	for _, r := range rn {
		if r.Anomaly {
			flagged++
		}
	}
	if rt.Score != MetricMahal || rt.Rows != len(rn) || flagged < 15 || flagged > 25 {
		t.Errorf("Rethreshold contamination:0.1 = %+v flagged %d of %d", rt, flagged, len(rn))
	}
}
