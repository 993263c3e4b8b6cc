//go:build amd64 && !noasm

package f32

import "golang.org/x/sys/cpu"

// The int8 kernels of gemm_amd64.s (asmgen/q8.go): AVX512_VNNI for the
// product, AVX-512F for quantising a row.

//go:noescape
func kernQ8AVX512(k4 int, a *int8, lda int, b *uint8, c *float32, ldc int, sx *float32, comp *int32, sw *float32, bias *float32)

//go:noescape
func absMaxAVX512(x []float32) float32

//go:noescape
func quantQ8AVX512(x []float32, inv float32, dst []int8) int32

//go:noescape
func quantRowsAVX512(x *float32, ldx, n, k int, dst *int8, ldd int, scale *float32, comp *int32, tail, dtail uint16)

// hasVNNI reports AVX512_VNNI (with AVX-512F, which the kernel's other
// instructions need).
var hasVNNI = hasAVX512 && cpu.X86.HasAVX512VNNI

// useQ8Asm selects the assembly int8 kernels; tests turn it off to compare.
var useQ8Asm = hasVNNI

// HasInt8 reports whether GemmQ8 runs on the AVX512_VNNI kernel (else on
// its Go twin, which gives the same bits far more slowly).
func HasInt8() bool { return hasVNNI }

func kernQ8(k4 int, a []int8, lda int, b []uint8, c []float32, ldc int, sx []float32, comp []int32, sw, bias []float32) {
	if !useQ8Asm {
		kernQ8Generic(k4, a, lda, b, c, ldc, sx, comp, sw, bias)
		return
	}
	_, _, _, _ = c[13*ldc+31], sx[13], comp[13], sw[31]
	var pb *float32
	if bias != nil {
		_ = bias[31]
		pb = &bias[0]
	}
	if k4 == 0 {
		kernQ8AVX512(0, nil, lda, nil, &c[0], ldc, &sx[0], &comp[0], &sw[0], pb)
		return
	}
	_, _ = a[13*lda+4*k4-1], b[k4*q8NR*4-1]
	kernQ8AVX512(k4, &a[0], lda, &b[0], &c[0], ldc, &sx[0], &comp[0], &sw[0], pb)
}

func absMax(x []float32) float32 {
	n := 0
	var m float32
	if useQ8Asm {
		n = len(x) &^ 15
		if n > 0 {
			m = absMaxAVX512(x[:n])
		}
	}
	return absMaxGeneric(m, x[n:])
}

func quantQ8(x []float32, inv float32, dst []int8) int32 {
	n := 0
	var s int32
	if useQ8Asm {
		n = len(x) &^ 15
		if n > 0 {
			s = quantQ8AVX512(x[:n], inv, dst[:n])
		}
	}
	return s + quantQ8Generic(x[n:], inv, dst[n:])
}

// quantRows is quantRow over the n rows of k floats of x (row stride ldx)
// into dst (row stride ldd ≥ k rounded up to 4), sx and comp.
func quantRows(x []float32, ldx, n, k int, dst []int8, ldd int, sx []float32, comp []int32) {
	if !useQ8Asm || n == 0 || k == 0 || ldd-(k&^15) > 16 {
		quantRowsGeneric(x, ldx, n, k, dst, ldd, sx, comp)
		return
	}
	_, _, _, _ = x[(n-1)*ldx+k-1], dst[(n-1)*ldd+ldd-1], sx[n-1], comp[n-1]
	tail := uint16(1)<<(k&15) - 1
	dtail := uint16(0)
	if k&15 != 0 {
		dtail = uint16(1)<<(ldd-k&^15) - 1
	} else if ldd > k {
		quantRowsGeneric(x, ldx, n, k, dst, ldd, sx, comp)
		return
	}
	quantRowsAVX512(&x[0], ldx, n, k, &dst[0], ldd, &sx[0], &comp[0], tail, dtail)
}
