package latent

import (
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLerpEnds(t *testing.T) {
	a, b := []float32{0, 2}, []float32{4, -2}
	p := Lerp(a, b, 5)
	if len(p) != 5 || p[0][0] != 0 || p[4][0] != 4 || p[2][0] != 2 || p[2][1] != 0 {
		t.Errorf("Lerp = %v", p)
	}
}

func TestSlerpKeepsNorm(t *testing.T) {
	a, b := []float32{3, 0, 0}, []float32{0, 3, 0}
	p := Slerp(a, b, 7)
	for i, z := range p {
		if n := norm(z); math.Abs(n-3) > 1e-5 {
			t.Errorf("step %d: norm %g; want 3 (on the great circle)", i, n)
		}
	}
	if math.Abs(float64(p[6][1])-3) > 1e-5 || math.Abs(float64(p[0][0])-3) > 1e-5 {
		t.Errorf("ends %v %v; want a and b", p[0], p[6])
	}
	// Parallel codes fall back to the line.
	q := Slerp([]float32{1, 1}, []float32{2, 2}, 3)
	if q[1][0] != 1.5 {
		t.Errorf("Slerp of parallel codes = %v; want the line", q)
	}
}

func TestMap(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "map.png")
	xs := []float64{0, 1, 2, 3}
	ys := []float64{1, 0, 1, 0}
	if err := Map(p, xs, ys, []string{"10", "2", "2", "10"}, "t", "x", "y"); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := png.Decode(f); err != nil {
		t.Fatalf("map is not a PNG: %v", err)
	}
	labels := make([]string, 30)
	for i := range labels {
		labels[i] = string(rune('a' + i))
	}
	if err := Map(p, make([]float64, 30), make([]float64, 30), labels, "", "", ""); err == nil || !strings.Contains(err.Error(), "distinct labels") {
		t.Errorf("Map with 30 labels: %v; want an error about labels", err)
	}
	if err := Map(p, xs, ys[:2], nil, "", "", ""); err == nil {
		t.Error("Map with mismatched lengths: no error")
	}
	if compareLabels("2", "10") >= 0 || compareLabels("b", "a") <= 0 {
		t.Error("compareLabels orders numbers as text")
	}
}
