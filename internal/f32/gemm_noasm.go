//go:build !amd64 || noasm

package f32

// bestKernel is the microkernel Gemm uses: the portable one on this build.
var bestKernel = &genericKernel

// kernels lists the microkernels this machine can run, best first.
func kernels() []*kernel { return []*kernel{&genericKernel} }
