package anomaly

import (
	"errors"
	"math"
	"testing"
)

// FuzzParseSpec parses mutated --threshold values (seed corpus in
// testdata/fuzz/FuzzParseSpec). Errors wrap ErrSpec; a parsed Spec's
// String() parses back to the same Spec (model files and reports print
// it); and Fit with it on 40 scores, 4 of them labelled anomalies, gives a
// finite threshold that means what the method says: value:X is X, and a
// contamination:p threshold has at most about p of the normal rows above
// it.
func FuzzParseSpec(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string, seed uint64) {
		sp, err := ParseSpec(s)
		if err != nil {
			if !errors.Is(err, ErrSpec) {
				t.Fatalf("ParseSpec(%q) = %v; want an error wrapping ErrSpec", s, err)
			}
			return
		}
		back, err := ParseSpec(sp.String())
		if err != nil || back != sp {
			t.Fatalf("ParseSpec(%q) = %v; its String() %q parses to %v, %v", s, sp, sp.String(), back, err)
		}
		scores := normalScores(40, seed)
		labels := make([]bool, len(scores))
		for i := 0; i < len(scores); i += 10 {
			labels[i] = true
			scores[i] += 1
		}
		th, err := Fit(sp, scores, labels, "fuzz rows")
		if err != nil && sp.Param > 1e300 && (sp.Method == MethodSigma || sp.Method == MethodMAD) {
			return // k·σ overflows: an error saying so is right
		}
		if err != nil {
			t.Fatalf("Fit(%v) on 40 scores: %v", sp, err)
		}
		if math.IsNaN(th.Value) || math.IsInf(th.Value, 0) || th.Method != sp.Method {
			t.Fatalf("Fit(%v) = %+v", sp, th)
		}
		if th.Describe() == "" {
			t.Fatalf("Fit(%v).Describe() is empty", sp)
		}
		switch sp.Method {
		case MethodValue:
			if th.Value != sp.Param || th.IsAnomaly(sp.Param) || !th.IsAnomaly(math.Nextafter(sp.Param, math.Inf(1))) {
				t.Fatalf("%v: threshold %v", sp, th.Value)
			}
		case MethodContamination:
			above, normal := 0, 0
			for i, v := range scores {
				if !labels[i] {
					normal++
					if th.IsAnomaly(v) {
						above++
					}
				}
			}
			if float64(above) > sp.Param*float64(normal-1)+1 {
				t.Fatalf("%v: %d of %d normal rows above %v", sp, above, normal, th.Value)
			}
		}
	})
}
