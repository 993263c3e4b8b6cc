//go:build amd64 && !noasm

package f32

//go:noescape
func gatherAVX512(dst, src *float32, idx *int32, n int)

//go:noescape
func scatterAddAVX512(dst, src *float32, idx *int32, n int)

// useGatherAsm selects the AVX-512 gather and scatter; tests turn it off.
var useGatherAsm = hasAVX512

// gatherBulk gathers the first len(idx)/16*16 elements with AVX-512 and
// returns how many it did (the caller checked the bounds).
func gatherBulk(dst, src []float32, idx []int32) int {
	n := len(idx) &^ 15
	if !useGatherAsm || n == 0 {
		return 0
	}
	gatherAVX512(&dst[0], &src[0], &idx[0], n)
	return n
}

func scatterAddBulk(dst, src []float32, idx []int32) int {
	n := len(idx) &^ 15
	if !useGatherAsm || n == 0 {
		return 0
	}
	scatterAddAVX512(&dst[0], &src[0], &idx[0], n)
	return n
}

//go:noescape
func gatherRowsAVX512(dst, src *float32, off *int32, n, w int, tail uint16)

//go:noescape
func addRowsAVX512(dst, src *float32, off *int32, n, w int, tail uint16)

// gatherRows and addRows run the AVX-512 row loops (the caller checked
// the bounds) and report whether they could.
func gatherRows(dst, src []float32, off []int32, w int) bool {
	if !useGatherAsm {
		return false
	}
	gatherRowsAVX512(&dst[0], &src[0], &off[0], len(off), w, uint16(1)<<(w&15)-1)
	return true
}

func addRows(dst []float32, off []int32, src []float32, w int) bool {
	if !useGatherAsm {
		return false
	}
	addRowsAVX512(&dst[0], &src[0], &off[0], len(off), w, uint16(1)<<(w&15)-1)
	return true
}
