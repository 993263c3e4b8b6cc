//go:build !amd64 || noasm

package f32

// HasInt8 reports whether GemmQ8 runs on an assembly kernel: not on this
// build (its Go twin gives the same bits, far more slowly).
func HasInt8() bool { return false }

var useQ8Asm = false

func kernQ8(k4 int, a []int8, lda int, b []uint8, c []float32, ldc int, sx []float32, comp []int32, sw, bias []float32) {
	kernQ8Generic(k4, a, lda, b, c, ldc, sx, comp, sw, bias)
}

func absMax(x []float32) float32 { return absMaxGeneric(0, x) }

func quantQ8(x []float32, inv float32, dst []int8) int32 { return quantQ8Generic(x, inv, dst) }

func quantRows(x []float32, ldx, n, k int, dst []int8, ldd int, sx []float32, comp []int32) {
	quantRowsGeneric(x, ldx, n, k, dst, ldd, sx, comp)
}
