// Package tensor is a float32 tensor: a shape and a contiguous row-major
// slice. Operations write into a destination the caller owns (dst first), so
// training code can preallocate every buffer once and reuse it per step.
//
// Programmer errors (shape mismatches) panic with a "tensor: " prefix; user
// input is validated long before it reaches this package.
package tensor

import (
	"fmt"
	"slices"

	"github.com/bottleneck-ml/bottleneck/internal/f32"
)

// Tensor is a dense row-major float32 array. The first dimension is the
// batch dimension wherever a batch is meant.
type Tensor struct {
	Shape []int
	Data  []float32
}

// New returns a zeroed tensor of the given shape.
func New(shape ...int) *Tensor {
	n := Size(shape)
	return &Tensor{Shape: slices.Clone(shape), Data: make([]float32, n)}
}

// From wraps data (not copied) in a tensor of the given shape.
func From(data []float32, shape ...int) *Tensor {
	if Size(shape) != len(data) {
		panic(fmt.Sprintf("tensor: From: shape %v needs %d values, have %d", shape, Size(shape), len(data)))
	}
	return &Tensor{Shape: slices.Clone(shape), Data: data}
}

// Size is the number of elements of a shape.
func Size(shape []int) int {
	n := 1
	for _, d := range shape {
		if d < 0 {
			panic(fmt.Sprintf("tensor: negative dimension in %v", shape))
		}
		n *= d
	}
	return n
}

// Len is the number of elements.
func (t *Tensor) Len() int { return len(t.Data) }

// Rows is the first dimension (the batch size).
func (t *Tensor) Rows() int { return t.Shape[0] }

// Cols is the number of elements per row (the product of all but the first
// dimension).
func (t *Tensor) Cols() int {
	if len(t.Shape) == 0 || t.Shape[0] == 0 {
		return Size(t.Shape[min(1, len(t.Shape)):])
	}
	return len(t.Data) / t.Shape[0]
}

// Row returns row i as a slice sharing memory with t.
func (t *Tensor) Row(i int) []float32 {
	c := t.Cols()
	return t.Data[i*c : (i+1)*c]
}

// SetRows changes the batch dimension in place to n rows, reslicing Data
// within its capacity. It is how a buffer allocated for the largest batch
// serves a smaller last batch without allocating.
func (t *Tensor) SetRows(n int) {
	c := t.Cols()
	if n*c > cap(t.Data) {
		panic(fmt.Sprintf("tensor: SetRows(%d): capacity %d rows of %d", n, cap(t.Data)/max(c, 1), c))
	}
	t.Data = t.Data[:n*c]
	t.Shape[0] = n
}

// Clone returns a deep copy.
func (t *Tensor) Clone() *Tensor {
	return &Tensor{Shape: slices.Clone(t.Shape), Data: slices.Clone(t.Data)}
}

// String prints the shape (not the data).
func (t *Tensor) String() string { return fmt.Sprintf("Tensor%v", t.Shape) }

// SameShape reports whether a and b have equal shapes.
func SameShape(a, b *Tensor) bool { return slices.Equal(a.Shape, b.Shape) }

func mustLen(op string, a, b *Tensor) {
	if len(a.Data) != len(b.Data) {
		panic(fmt.Sprintf("tensor: %s: sizes %v and %v differ", op, a.Shape, b.Shape))
	}
}

// Copy copies src into dst (same number of elements).
func Copy(dst, src *Tensor) {
	mustLen("Copy", dst, src)
	copy(dst.Data, src.Data)
}

// Add sets dst = a + b elementwise.
func Add(dst, a, b *Tensor) {
	mustLen("Add", dst, a)
	mustLen("Add", a, b)
	bd := b.Data[:len(a.Data)]
	dd := dst.Data[:len(a.Data)]
	for i, v := range a.Data {
		dd[i] = v + bd[i]
	}
}

// Sub sets dst = a - b elementwise.
func Sub(dst, a, b *Tensor) {
	mustLen("Sub", dst, a)
	mustLen("Sub", a, b)
	bd := b.Data[:len(a.Data)]
	dd := dst.Data[:len(a.Data)]
	for i, v := range a.Data {
		dd[i] = v - bd[i]
	}
}

// Scale sets dst = alpha * a.
func Scale(dst *Tensor, alpha float32, a *Tensor) {
	mustLen("Scale", dst, a)
	dd := dst.Data[:len(a.Data)]
	for i, v := range a.Data {
		dd[i] = alpha * v
	}
}

// MatMul sets dst = op(a) · op(b) for 2-D views of a and b (rows × Cols),
// where op transposes when the flag is set.
func MatMul(dst, a *Tensor, transA bool, b *Tensor, transB bool) {
	ar, ac := a.Rows(), a.Cols()
	br, bc := b.Rows(), b.Cols()
	m, k := ar, ac
	if transA {
		m, k = ac, ar
	}
	k2, n := br, bc
	if transB {
		k2, n = bc, br
	}
	if k != k2 || dst.Rows() != m || dst.Cols() != n {
		panic(fmt.Sprintf("tensor: MatMul: %v%s × %v%s into %v", a.Shape, tflag(transA), b.Shape, tflag(transB), dst.Shape))
	}
	f32.Gemm(transA, transB, m, n, k, 1, a.Data, ac, b.Data, bc, 0, dst.Data, n)
}

func tflag(t bool) string {
	if t {
		return "ᵀ"
	}
	return ""
}
