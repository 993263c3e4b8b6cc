package anomaly

import (
	"math"
	"math/rand/v2"
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

// The mahal score is deterministic, survives the model file's JSON, is
// the same in every batch size, and ranks an off-manifold row first — in
// both the full and the diagonal residual covariance.
func TestMahalScore(t *testing.T) {
	for _, d := range []int{6, MaxFullCov + 1} {
		cfg := ae.Config{InputShape: []int{d}, Hidden: []int{4}, Code: 2}
		cfg.Defaults(false)
		m, err := ae.New(cfg, 3)
		if err != nil {
			t.Fatal(err)
		}
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
		sc := &Scorer{Model: m}
		sc.FitMahal(x, MahalTrim)
		if (sc.Mahal.ErrInv == nil) != (d > MaxFullCov) {
			t.Fatalf("d=%d: full covariance %v", d, sc.Mahal.ErrInv != nil)
		}
		want := sc.Score(x)
		th, err := Fit(Spec{Method: MethodMAD, Param: 3.5}, want, nil, "training rows")
		if err != nil {
			t.Fatal(err)
		}
		th.Score, th.Mahal = MetricMahal, sc.Mahal
		m.Threshold = th.Marshal()
		again, err := NewScorer(m)
		if err != nil {
			t.Fatal(err)
		}
		again.Batch = 7
		got, errs := again.Errors(x)
		for i := range want {
			if math.Abs(got[i]-want[i]) > 1e-9*math.Max(1, math.Abs(want[i])) {
				t.Fatalf("d=%d row %d: %v after the round trip, %v before", d, i, got[i], want[i])
			}
		}
		if errs.Rows() != n {
			t.Fatalf("errors: %d rows", errs.Rows())
		}
		for i := 1; i < n; i++ {
			if got[i] >= got[0] {
				t.Fatalf("d=%d: row %d scores %v ≥ the outlier's %v", d, i, got[i], got[0])
			}
		}
		if !th.IsAnomaly(got[0]) {
			t.Errorf("d=%d: the outlier (%v) is under the threshold %v", d, got[0], th.Value)
		}
	}
	// A damaged record is refused.
	cfg := ae.Config{InputShape: []int{3}, Hidden: []int{2}, Code: 1}
	cfg.Defaults(false)
	m, _ := ae.New(cfg, 1)
	m.Threshold = (&Threshold{Score: MetricMahal, Method: MethodValue, Mahal: &MahalStats{CodeMean: []float64{0}}}).Marshal()
	if _, err := NewScorer(m); err == nil {
		t.Error("NewScorer accepted mahal statistics of the wrong shape")
	}
}
