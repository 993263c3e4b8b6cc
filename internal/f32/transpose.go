package f32

// Transpose sets dst[j*ldd+i] = src[i*lds+j] for i < rows, j < cols: dst
// [cols, rows] (row stride ldd) is the transpose of src [rows, cols] (row
// stride lds). The convolutions' int8 path moves images between NCHW and
// NHWC with it. Blocks of 16×16 go through the AVX-512 register transpose
// of the GEMM's packing (packBT16) where the CPU has it, the edges through
// transposeGeneric; a copy either way, so the bits do not depend on which.
func Transpose(dst []float32, ldd int, src []float32, lds, rows, cols int) {
	switch {
	case rows < 0 || cols < 0:
		panic(errPrefix + "Transpose: negative dimension")
	case rows == 0 || cols == 0:
		return
	case lds < cols || ldd < rows:
		panic(errPrefix + "Transpose: bad leading dimension")
	case len(src) < (rows-1)*lds+cols:
		panic(errPrefix + "Transpose: insufficient length of src")
	case len(dst) < (cols-1)*ldd+rows:
		panic(errPrefix + "Transpose: insufficient length of dst")
	}
	if rows == 1 && ldd == 1 {
		copy(dst[:cols], src[:cols])
		return
	}
	r16, c16 := 0, 0
	if useTransposeAsm {
		r16, c16 = rows&^15, cols&^15
	}
	switch {
	case c16 == 0:
		r16 = 0
	case ldd > lds:
		// dst has the longer rows: fill 16 of them at a time, left to
		// right, so that the stores stream into 16 rows rather than
		// spreading over all of them (twice as fast into a large
		// NCHW output).
		for j := 0; j < c16; j += 16 {
			for i := 0; i < r16; i += 16 {
				packBT16(dst[j*ldd+i:], src[i*lds+j:], lds, 1, ldd)
			}
		}
	default:
		for i := 0; i < r16; i += 16 {
			// 16 rows of src, c16 columns: dst rows [0, c16), columns [i, i+16).
			packBT16(dst[i:], src[i*lds:], lds, c16/16, ldd)
		}
	}
	// The edges: columns [c16, cols) of rows [0, r16), then rows [r16, rows).
	if r16 > 0 && c16 < cols {
		transposeGeneric(dst[c16*ldd:], ldd, src[c16:], lds, r16, cols-c16)
	}
	if r16 < rows {
		transposeGeneric(dst[r16:], ldd, src[r16*lds:], lds, rows-r16, cols)
	}
}

// transposeGeneric is Transpose in Go, in 8×8 tiles (rows of dst written
// in runs of 8, not one element per row).
func transposeGeneric(dst []float32, ldd int, src []float32, lds, rows, cols int) {
	const t = 8
	for i0 := 0; i0 < rows; i0 += t {
		i1 := min(i0+t, rows)
		for j0 := 0; j0 < cols; j0 += t {
			j1 := min(j0+t, cols)
			for j := j0; j < j1; j++ {
				d := dst[j*ldd+i0 : j*ldd+i1]
				for i := range d {
					d[i] = src[(i0+i)*lds+j]
				}
			}
		}
	}
}
