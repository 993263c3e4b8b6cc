package nn

// swap sets *p to v and returns its previous value: the setters below,
// which tests and benchmarks defer back, are each one.
func swap[T any](p *T, v T) T {
	old := *p
	*p = v
	return old
}

// SetConvColBudget sets how many col elements one convolution GEMM may
// cover (0: one sample per GEMM) and returns the previous budget. Tests and
// benchmarks use it to run every grouping.
func SetConvColBudget(n int) int { return swap(&convColBudget, n) }

// SetConvTaps enables or disables the taps algorithm for Conv2D layers set
// up afterwards and returns the previous setting.
func SetConvTaps(on bool) bool { return !swap(&convTapsOff, !on) }

// SetConvBatchCols sets the output size from which samples get GEMMs of
// their own (0: always) for layers set up afterwards, and returns the
// previous value.
func SetConvBatchCols(n int) int { return swap(&convBatchCols, n) }

// SetInt8Every makes every Dense and convolution layer prepared for INT8
// afterwards take the int8 path, whatever its size, and returns the
// previous setting.
func SetInt8Every(on bool) bool { return swap(&int8Every, on) }

// SetConvRows enables or disables the float32 row path (forward and
// backward) for convolutions set up afterwards and returns the previous
// setting.
func SetConvRows(on bool) bool { return swap(&convRowsFP32, on) }

// SetConvRowsEvery makes every convolution set up afterwards take the row
// path in float32 (with SetConvRows on), whatever its geometry, and
// returns the previous setting.
func SetConvRowsEvery(on bool) bool { return swap(&convRowsEvery, on) }
