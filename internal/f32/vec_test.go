package f32

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestAxpyDot compares Axpy and Dot (assembly where available) with the
// portable loops on lengths 0…130, unaligned starts and a y longer than x
// whose tail must stay untouched.
func TestAxpyDot(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	for n := 0; n <= 130; n++ {
		for _, off := range []int{0, 1, 3} {
			x := make([]float32, n+off)
			y := make([]float32, n+off+pad)
			for i := range x {
				x[i] = float32(rng.NormFloat64())
			}
			for i := range y {
				y[i] = float32(rng.NormFloat64())
			}
			for i := n + off; i < len(y); i++ {
				y[i] = float32(math.NaN())
			}
			xs, ys := x[off:], y[off:]

			want := append([]float32(nil), ys...)
			axpyGeneric(0.7, xs, want[:n])
			got := append([]float32(nil), ys...)
			Axpy(0.7, xs, got)
			for i := range got {
				if i >= n {
					if !math.IsNaN(float64(got[i])) {
						t.Fatalf("Axpy n=%d: y[%d] beyond len(x) written: %v", n, i, got[i])
					}
					continue
				}
				if d := math.Abs(float64(got[i] - want[i])); d > 1e-6*math.Max(1, math.Abs(float64(want[i]))) {
					t.Fatalf("Axpy n=%d off=%d: y[%d] = %v; want %v", n, off, i, got[i], want[i])
				}
			}

			var ref float64
			for i := range xs {
				ref += float64(xs[i]) * float64(ys[i])
			}
			for _, d := range []struct {
				name string
				v    float32
			}{{"Dot", Dot(xs, ys)}, {"dotGeneric", dotGeneric(xs, ys[:n])}} {
				if diff := math.Abs(float64(d.v) - ref); diff > 1e-5*float64(n+1) {
					t.Fatalf("%s n=%d off=%d = %v; want %v", d.name, n, off, d.v, ref)
				}
			}
		}
	}
}

func BenchmarkAxpy(b *testing.B) {
	x := make([]float32, 4096)
	y := make([]float32, 4096)
	b.ReportAllocs()
	b.SetBytes(4 * 4096 * 3)
	for b.Loop() {
		Axpy(0.5, x, y)
	}
}

func BenchmarkDot(b *testing.B) {
	x := make([]float32, 4096)
	y := make([]float32, 4096)
	b.ReportAllocs()
	b.SetBytes(4 * 4096 * 2)
	var s float32
	for b.Loop() {
		s += Dot(x, y)
	}
	_ = s
}
