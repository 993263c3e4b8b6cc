//go:build !amd64 || noasm

package f32

func axpy(alpha float32, x, y []float32) { axpyGeneric(alpha, x, y) }

func dot(x, y []float32) float32 { return dotGeneric(x, y) }
