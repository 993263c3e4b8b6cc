package tensor

import (
	"math"
	"math/rand/v2"
	"testing"
)

func random(rng *rand.Rand, shape ...int) *Tensor {
	t := New(shape...)
	for i := range t.Data {
		t.Data[i] = float32(rng.NormFloat64())
	}
	return t
}

// transpose returns the 2-D transpose of t.
func transpose(t *Tensor) *Tensor {
	r, c := t.Rows(), t.Cols()
	out := New(c, r)
	for i := 0; i < r; i++ {
		for j := 0; j < c; j++ {
			out.Data[j*r+i] = t.Data[i*c+j]
		}
	}
	return out
}

func TestMatMulTransposeProperty(t *testing.T) {
	// (AB)ᵀ = BᵀAᵀ, and every transpose flag agrees with an explicit
	// transpose.
	rng := rand.New(rand.NewPCG(1, 2))
	for _, s := range [][3]int{{1, 1, 1}, {3, 5, 7}, {17, 9, 33}, {64, 31, 2}} {
		m, k, n := s[0], s[1], s[2]
		a, b := random(rng, m, k), random(rng, k, n)
		ab := New(m, n)
		MatMul(ab, a, false, b, false)
		btat := New(n, m)
		MatMul(btat, transpose(b), false, transpose(a), false)
		abT := transpose(ab)
		for i := range abT.Data {
			if d := math.Abs(float64(abT.Data[i] - btat.Data[i])); d > 1e-4*float64(k) {
				t.Fatalf("%v: (AB)ᵀ[%d] = %v, BᵀAᵀ = %v", s, i, abT.Data[i], btat.Data[i])
			}
		}
		flags := New(m, n)
		MatMul(flags, transpose(a), true, transpose(b), true)
		for i := range ab.Data {
			if d := math.Abs(float64(ab.Data[i] - flags.Data[i])); d > 1e-4*float64(k) {
				t.Fatalf("%v: AᵀᵀBᵀᵀ[%d] = %v, AB = %v", s, i, flags.Data[i], ab.Data[i])
			}
		}
	}
}

func TestMatMulShapeMismatchPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("MatMul with mismatched shapes did not panic")
		}
	}()
	MatMul(New(2, 2), New(2, 3), false, New(2, 2), false)
}

func TestSetRows(t *testing.T) {
	x := New(8, 3)
	x.SetRows(5)
	if x.Rows() != 5 || x.Cols() != 3 || len(x.Data) != 15 {
		t.Errorf("SetRows(5): shape %v, len %d", x.Shape, len(x.Data))
	}
	x.SetRows(8)
	if len(x.Data) != 24 {
		t.Errorf("SetRows back to 8: len %d", len(x.Data))
	}
	defer func() {
		if recover() == nil {
			t.Error("SetRows beyond capacity did not panic")
		}
	}()
	x.SetRows(9)
}

func TestElementwise(t *testing.T) {
	a := From([]float32{1, 2, 3}, 3)
	b := From([]float32{4, 5, 6}, 3)
	d := New(3)
	Add(d, a, b)
	if d.Data[2] != 9 {
		t.Errorf("Add = %v", d.Data)
	}
	Sub(d, a, b)
	if d.Data[0] != -3 {
		t.Errorf("Sub = %v", d.Data)
	}
	Scale(d, 2, a)
	if d.Data[1] != 4 {
		t.Errorf("Scale = %v", d.Data)
	}
}
