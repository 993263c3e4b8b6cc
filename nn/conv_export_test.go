package nn

// SetConvColBudget sets how many col elements one convolution GEMM may
// cover (0: one sample per GEMM) and returns the previous budget. Tests and
// benchmarks use it to run every grouping.
func SetConvColBudget(n int) int {
	old := convColBudget
	convColBudget = n
	return old
}

// SetConvTaps enables or disables the taps algorithm for Conv2D layers set
// up afterwards and returns the previous setting.
func SetConvTaps(on bool) bool {
	old := !convTapsOff
	convTapsOff = !on
	return old
}

// SetConvBatchCols sets the output size from which samples get GEMMs of
// their own (0: always) for layers set up afterwards, and returns the
// previous value.
func SetConvBatchCols(n int) int {
	old := convBatchCols
	convBatchCols = n
	return old
}

// SetInt8Every makes every Dense and convolution layer prepared for INT8
// afterwards take the int8 path, whatever its size, and returns the
// previous setting.
func SetInt8Every(on bool) bool {
	old := int8Every
	int8Every = on
	return old
}

// SetConvRows enables or disables the row path of float32 forward passes
// for convolutions set up afterwards and returns the previous setting.
func SetConvRows(on bool) bool {
	old := convRowsFP32
	convRowsFP32 = on
	return old
}

// SetConvRowsEvery makes every convolution set up afterwards take the row
// path in float32 (with SetConvRows on), whatever its geometry, and
// returns the previous setting.
func SetConvRowsEvery(on bool) bool {
	old := convRowsEvery
	convRowsEvery = on
	return old
}
