//go:build !noasm

package golden_test

// tolerance is the largest difference (relative above 1) a golden output
// may show: the files were made with the assembly kernels of this build.
const tolerance = 1e-6
