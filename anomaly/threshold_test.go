package anomaly

import (
	"errors"
	"math"
	"math/rand/v2"
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

func TestThresholdRoundTrip(t *testing.T) {
	th, _ := Fit(Spec{MethodMAD, 3.5}, normalScores(100, 1), nil, "validation rows")
	got, err := Decode(th.Marshal())
	if err != nil || got.Value != th.Value || got.Stats != th.Stats || got.Method != th.Method || got.FittedOn != th.FittedOn {
		t.Fatalf("Decode(Marshal) = %+v, %v; want %+v", got, err, th)
	}
	if got, err := Decode(nil); got != nil || err != nil {
		t.Errorf("Decode(nil) = %v, %v", got, err)
	}
	if _, err := Decode([]byte(`{"value":"x"}`)); err == nil {
		t.Error("Decode of a damaged record succeeded")
	}
	if !th.IsAnomaly(math.NaN()) {
		t.Error("NaN score is not anomalous")
	}
}
