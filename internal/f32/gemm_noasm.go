//go:build !amd64 || noasm

package f32

// bestKernel is the microkernel Gemm uses: the portable one on this build.
var bestKernel = &genericKernel

// kernels lists the microkernels this machine can run, best first.
func kernels() []*kernel { return []*kernel{&genericKernel} }

// useTransposeAsm is false: there is no register transpose on this build.
var useTransposeAsm = false

func packBT16(dst, b []float32, ldb, kb, nr int) { panic(errPrefix + "no packBT16 on this build") }

func copyRows(dst, src []float32, lds, rows, w int) bool { return false }
