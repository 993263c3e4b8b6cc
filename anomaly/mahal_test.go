package anomaly

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/bottleneck-ml/bottleneck/ae"
	"github.com/bottleneck-ml/bottleneck/tensor"
)

func TestInvertSPD(t *testing.T) {
	a := []float64{4, 1, 0.5, 1, 3, 0.2, 0.5, 0.2, 2}
	inv := invertSPD(a, 3)
	for i := 0; i < 3; i++ {
		for j := 0; j < 3; j++ {
			var s float64
			for k := 0; k < 3; k++ {
				s += a[i*3+k] * inv[k*3+j]
			}
			want := 0.0
			if i == j {
				want = 1
			}
			if math.Abs(s-want) > 1e-12 {
				t.Fatalf("A·A⁻¹[%d][%d] = %v", i, j, s)
			}
		}
	}
}

// denseModel is an untrained dense autoencoder d → 4 → 2 → 4 → d.
func denseModel(t *testing.T, d int, seed uint64) *ae.Model {
	t.Helper()
	cfg, err := ae.DenseConfig([]int{d}, false, ae.Dense{Hidden: []int{4}, Code: 2})
	if err != nil {
		t.Fatal(err)
	}
	m, err := ae.New(cfg, seed)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// withSection stores a detector section in m's metadata, as Save does.
func withSection(t *testing.T, m *ae.Model, s section) *ae.Model {
	t.Helper()
	raw, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	m.Meta = map[string]json.RawMessage{metaKey: raw}
	return m
}

// The mahal score is deterministic, survives the model file's JSON, is
// the same in every batch size, and ranks an off-manifold row first — in
// both the full and the diagonal residual covariance.
func TestMahalScore(t *testing.T) {
	for _, d := range []int{6, MaxFullCov + 1} {
		m := denseModel(t, d, 3)
		rng := rand.New(rand.NewPCG(1, 2))
		n := 300
		x := tensor.New(n, d)
		for i := 0; i < n; i++ {
			a, b := rng.NormFloat64(), rng.NormFloat64()
			for j := 0; j < d; j++ {
				x.Data[i*d+j] = float32(a*math.Cos(float64(j)) + b*math.Sin(float64(j)) + 0.05*rng.NormFloat64())
			}
		}
		for j := 0; j < d; j++ { // row 0 breaks the two-factor structure
			x.Data[j] = float32(3 * math.Pow(-1, float64(j)))
		}
		sc := Scoring{Metric: MetricMahal}
		s, err := newScorer(m, &sc, 256, []int{d})
		if err != nil {
			t.Fatal(err)
		}
		if sc.Mahal, err = fitMahal(s, x, MahalTrim); err != nil {
			t.Fatal(err)
		}
		if (sc.Mahal.ErrInv == nil) != (d > MaxFullCov) {
			t.Fatalf("d=%d: full covariance %v", d, sc.Mahal.ErrInv != nil)
		}
		var want []float64
		if err := s.run(x, func(_ int, _ []float32, score, _ float64) { want = append(want, score) }); err != nil {
			t.Fatal(err)
		}
		th, err := Fit(Spec{Method: MethodMAD, Param: 3.5}, want, nil, "training rows")
		if err != nil {
			t.Fatal(err)
		}
		det, err := New(withSection(t, m, section{Scoring: sc, Threshold: th, Window: 1}))
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), "m.safetensors")
		if err := det.Save(path); err != nil {
			t.Fatal(err)
		}
		again, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := again.Scoring(); got.Metric != MetricMahal || got.Mahal == nil || got.Mahal.CodeMAD != sc.Mahal.CodeMAD {
			t.Fatalf("d=%d: scoring after the round trip = %+v", d, got)
		}
		res, err := again.ScoreWith(x, ScoreOptions{Batch: 7, Errors: true})
		if err != nil {
			t.Fatal(err)
		}
		got := Scores(res)
		for i := range want {
			if math.Abs(got[i]-want[i]) > 1e-9*math.Max(1, math.Abs(want[i])) {
				t.Fatalf("d=%d row %d: %v after the round trip, %v before", d, i, got[i], want[i])
			}
		}
		if len(res) != n || len(res[0].Errors) != d {
			t.Fatalf("d=%d: %d results with %d errors; want %d with %d", d, len(res), len(res[0].Errors), n, d)
		}
		for i := 1; i < n; i++ {
			if got[i] >= got[0] {
				t.Fatalf("d=%d: row %d scores %v ≥ the outlier's %v", d, i, got[i], got[0])
			}
		}
		if !res[0].Anomaly || !th.IsAnomaly(got[0]) {
			t.Errorf("d=%d: the outlier (%v) is under the threshold %v", d, got[0], th.Value)
		}
	}
}

// A damaged or mismatched detector record is refused.
func TestDamagedRecord(t *testing.T) {
	cases := map[string]string{
		"wrong mahal shape": `{"score":"mahal","mahal":{"code_mean":[0]}}`,
		"wrong nmse scales": `{"score":"nmse","feature_scale":[1]}`,
		"unknown metric":    `{"score":"cosine"}`,
		"not json":          `{"score":`,
	}
	for name, raw := range cases {
		m := denseModel(t, 3, 1)
		m.Meta = map[string]json.RawMessage{metaKey: json.RawMessage(raw)}
		if _, err := New(m); err == nil {
			t.Errorf("%s: New accepted %s", name, raw)
		}
	}
	if _, err := New(nil); err == nil {
		t.Error("New(nil) succeeded")
	}
}

// TestShrinkOAS checks the coefficient against the formula worked by hand
// (and by scikit-learn's OAS on the same covariance and row count), that
// the trace is kept, and the two limits: few rows shrink all the way to
// mv·I, many rows hardly at all.
func TestShrinkOAS(t *testing.T) {
	// cov [[2 1] [1 2]]: alpha = mean of squares = 2.5, mv = 2,
	// coefficient = (2.5+4) / ((n+1)(2.5-4/2)) = 6.5/50.5 for n = 100.
	cov := []float64{2, 1, 1, 2}
	got := shrinkOAS(cov, 2, 100, 2)
	want := 6.5 / 50.5
	if math.Abs(got-want) > 1e-12 {
		t.Fatalf("coefficient %v, want %v", got, want)
	}
	wantCov := []float64{(1-want)*2 + want*2, (1 - want) * 1, (1 - want) * 1, (1-want)*2 + want*2}
	for i := range cov {
		if math.Abs(cov[i]-wantCov[i]) > 1e-12 {
			t.Fatalf("shrunk covariance %v, want %v", cov, wantCov)
		}
	}
	if tr := cov[0] + cov[3]; math.Abs(tr-4) > 1e-12 {
		t.Fatalf("trace %v after shrinking, want 4", tr)
	}
	few := []float64{2, 1, 1, 2}
	if s := shrinkOAS(few, 2, 3, 2); s != 1 || few[1] != 0 || few[0] != 2 {
		t.Fatalf("3 rows: coefficient %v, covariance %v; want 1 and 2·I", s, few)
	}
	many := []float64{2, 1, 1, 2}
	if s := shrinkOAS(many, 2, 1e6, 2); s > 1e-4 {
		t.Fatalf("a million rows: coefficient %v, want near 0", s)
	}
	iso := []float64{3, 0, 0, 3}
	if s := shrinkOAS(iso, 2, 50, 3); s != 1 || iso[0] != 3 || iso[1] != 0 {
		t.Fatalf("isotropic covariance: coefficient %v, covariance %v; want it unchanged", s, iso)
	}
}
