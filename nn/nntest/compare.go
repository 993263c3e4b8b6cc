package nntest

import (
	"math"
	"testing"
)

// MaxDiff returns the largest scaled difference
// |got-want| / max(|got|, |want|, floor) over the elements and its index
// (-1 when empty). A NaN on either side (but not both) counts as +Inf.
func MaxDiff(got, want []float32, floor float64) (worst float64, at int) {
	at = -1
	for i := range min(len(got), len(want)) {
		a, b := float64(got[i]), float64(want[i])
		var d float64
		switch {
		case math.IsNaN(a) && math.IsNaN(b), a == b:
			d = 0
		case math.IsNaN(a) || math.IsNaN(b):
			d = math.Inf(1)
		default:
			d = math.Abs(a-b) / max(math.Abs(a), math.Abs(b), floor)
		}
		if d > worst || at < 0 {
			worst, at = d, i
		}
	}
	return worst, at
}

// Compare fails t when got and want differ in length or when any element's
// difference exceeds tol·max(|got|, |want|, 1e-3). It logs the largest
// scaled difference of every tensor (visible with -v) and returns it.
func Compare(t testing.TB, name string, got, want []float32, tol float64) float64 {
	t.Helper()
	return CompareFloor(t, name, got, want, tol, 1e-3)
}

// CompareFloor is Compare with the scale floored at floor instead of 1e-3,
// for tensors whose values are all small (gradients of a mean loss): pass a
// fraction of the tensor's largest magnitude.
func CompareFloor(t testing.TB, name string, got, want []float32, tol, floor float64) float64 {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d values; want %d", name, len(got), len(want))
		return math.Inf(1)
	}
	worst, at := MaxDiff(got, want, floor)
	if at < 0 {
		return 0
	}
	if worst > tol {
		t.Errorf("%s: max scaled diff %.3g at [%d] (got %.8g, want %.8g); tolerance %.3g", name, worst, at, got[at], want[at], tol)
	} else {
		t.Logf("%s: max scaled diff %.3g (tolerance %.3g)", name, worst, tol)
	}
	return worst
}

// CompareScalar is Compare for one value.
func CompareScalar(t testing.TB, name string, got, want float64, tol float64) float64 {
	t.Helper()
	d := math.Abs(got-want) / max(math.Abs(got), math.Abs(want), 1e-3)
	if d > tol || math.IsNaN(d) {
		t.Errorf("%s = %.10g; want %.10g (scaled diff %.3g, tolerance %.3g)", name, got, want, d, tol)
	} else {
		t.Logf("%s: scaled diff %.3g (tolerance %.3g)", name, d, tol)
	}
	return d
}
