package anomaly

import (
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestParseSpec(t *testing.T) {
	good := map[string]Spec{
		"far:0.01":           {MethodFAR, 0.01},
		"far":                {MethodFAR, 0.01},
		" FAR:0.005 ":        {MethodFAR, 0.005},
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
	for _, in := range []string{"", "foo:1", "contamination:1.5", "pot:0", "far:0", "far:1", "far:-0.01", "sigma:-1", "value", "f1:2", "mad:x", "value:NaN"} {
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
	for _, spec := range []string{"far:0.01", "far:0.001", "contamination:0.05", "sigma:3", "mad:3.5", "pot:0.01", "pot:0.001"} {
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
			"far:0.01":           {0.009, 0.011},
			"far:0.001":          {0.0008, 0.0012},
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

// exceeding is the fraction of n fresh rows from draw above z.
func exceeding(z float64, n int, draw func() float64) float64 {
	above := 0
	for range n {
		if draw() > z {
			above++
		}
	}
	return float64(above) / float64(n)
}

// far:q keeps its promise on new rows from the distribution it was fitted
// on: heavy-tailed scores, negative (mahal-like) scores, and scores with a
// few gross anomalies among them, where the plain quantile
// (contamination:q) flags almost no normal row.
func TestFARQuantile(t *testing.T) {
	const q, fresh = 0.01, 200000
	for _, c := range []struct {
		name  string
		draw  func(r *rand.Rand) float64
		anoms int     // gross anomalies added to the 1,000 fitting rows
		noted string  // in the note
		plain float64 // the plain quantile flags less than this (0: not checked)
	}{
		{"lognormal σ=1", func(r *rand.Rand) float64 { return math.Exp(r.NormFloat64()) }, 0, "", 0},
		{"lognormal σ=2, shifted to -5", func(r *rand.Rand) float64 { return math.Exp(2*r.NormFloat64()) - 5 }, 0, "", 0},
		{"squared error", func(r *rand.Rand) float64 { v := r.NormFloat64(); return 0.1 + 0.05*v*v }, 0, "", 0},
		{"lognormal + 15 anomalies", func(r *rand.Rand) float64 { return math.Exp(r.NormFloat64()) }, 15, "15 outlying rows set aside", 0.003},
		{"mahal-like + 20 anomalies", func(r *rand.Rand) float64 { return math.Exp(0.7*r.NormFloat64()) - 3 }, 20, "20 outlying rows set aside", 0.003},
	} {
		var sum, plain float64
		for seed := range uint64(5) {
			r := rand.New(rand.NewPCG(seed, 18))
			draw := func() float64 { return c.draw(r) }
			fit := make([]float64, 0, 1000+c.anoms)
			for range 1000 {
				fit = append(fit, draw())
			}
			for range c.anoms {
				fit = append(fit, 1e3*(1+r.Float64())) // far out, e.g. frauds the model tells apart
			}
			z, note := FARQuantile(fit, q, false)
			if c.noted != "" && !strings.Contains(note, c.noted) {
				t.Errorf("%s, seed %d: note %q; want %q", c.name, seed, note, c.noted)
			}
			rate := exceeding(z, fresh, draw)
			if rate < 0.005 || rate > 0.02 {
				t.Errorf("%s, seed %d: far:%v flags %.4f of new normal rows; want 0.005–0.02", c.name, seed, q, rate)
			}
			sum += rate
			plain += exceeding(Quantile(fit, 1-q), fresh, draw) / 5
		}
		if mean := sum / 5; mean < 0.007 || mean > 0.014 {
			t.Errorf("%s: far:%v flags %.4f of new normal rows over 5 fits; want 0.007–0.014", c.name, q, mean)
		}
		if c.plain > 0 && plain >= c.plain {
			t.Errorf("%s: the plain quantile flags %.4f of new normal rows; the test expects it dragged up, below %v", c.name, plain, c.plain)
		}
	}
}

// The rule itself, pinned: values from a NumPy transcription of
// FARQuantile (the study script behind docs/RESULTS.md, "The default
// threshold: what it promises") on fixed scores: z-quantiles of the normal
// distribution, exp'd. A change to the rule changes these.
func TestFARQuantileGolden(t *testing.T) {
	z := func(i, n int) float64 { return math.Sqrt2 * math.Erfinv(2*(float64(i)+0.5)/float64(n)-1) }
	var bulk, small, modes []float64
	for i := range 196 {
		bulk = append(bulk, -3+math.Exp(0.8*z(i, 196)))
	}
	stray := append(slices.Clone(bulk), 40)                     // beyond 4 MADs, not 4.5
	many := append(slices.Clone(bulk), 400, 500, 600, 700, 800) // 2.5 %: kept
	bulk = append(bulk, 400, 500, 600, 700)                     // 2 %: set aside
	for i := range 30 {
		small = append(small, math.Exp(z(i, 30))) // under 50 rows: extrapolated
	}
	for i := range 360 {
		modes = append(modes, math.Exp(0.3*z(i, 360)))
	}
	for i := range 40 {
		modes = append(modes, 100*math.Exp(0.3*z(i, 40))) // 10 % far out: a second mode, kept
	}
	for _, c := range []struct {
		name     string
		scores   []float64
		q        float64
		labelled bool
		want     float64
		note     string
	}{
		{"bulk + 4 outliers", bulk, 0.01, false, 3.48527801028957, "4 outlying rows set aside"},
		{"bulk + 4 outliers labelled normal", bulk, 0.01, true, 547.7345257403683, ""},
		{"bulk + 4 outliers, q 0.05", bulk, 0.05, false, 0.7292539084430221, "4 outlying rows set aside"},
		{"bulk + 1 stray", stray, 0.01, false, 3.485278010289524, "1 outlying rows set aside"},
		{"bulk + 5 outliers", many, 0.01, false, 647.0843774622846, ""},
		{"30 rows", small, 0.01, false, 11.33349731745873, "extrapolated above the top of 30 rows"},
		{"two modes", modes, 0.01, false, 147.02714826473806, ""},
	} {
		got, note := FARQuantile(c.scores, c.q, c.labelled)
		if math.Abs(got-c.want) > 1e-9*math.Abs(c.want) || !strings.Contains(note, c.note) || (c.note == "" && note != "") {
			t.Errorf("FARQuantile(%s, %v) = %v, %q; want %v, %q", c.name, c.q, got, note, c.want, c.note)
		}
	}
	// Fit with labels (rows chosen by their normal label) sets none aside.
	if th, err := Fit(Spec{MethodFAR, 0.01}, bulk, make([]bool, len(bulk)), ""); err != nil || math.Abs(th.Value-547.7345257403683) > 1e-6 || th.Note != "" {
		t.Errorf("Fit(far:0.01, labelled normal rows) = %+v, %v; want 547.7345257403683 with no note", th, err)
	}
	if th, err := Fit(Spec{MethodFAR, 0.01}, bulk, nil, ""); err != nil || math.Abs(th.Value-3.48527801028957) > 1e-9 || !strings.Contains(th.Note, "4 outlying rows set aside") {
		t.Errorf("Fit(far:0.01, unlabelled rows) = %+v, %v; want 3.48527801028957 with 4 rows set aside", th, err)
	}
	if got, _ := FARQuantile([]float64{2, 2, 2}, 0.01, false); got != 2 {
		t.Errorf("FARQuantile(equal scores) = %v; want 2", got)
	}
	if got, _ := FARQuantile(nil, 0.01, false); !math.IsNaN(got) {
		t.Errorf("FARQuantile(nil) = %v; want NaN", got)
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
	if th == nil || th.Score != MetricMahal || th.Method != MethodFAR || th.Param != 0.01 || th.FittedOn != "validation rows" || th.Rows != 20 {
		t.Fatalf("trained threshold = %+v; want mahal, far:0.01 on the 20 validation rows", th)
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
