package f32

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// TestTranspose checks Transpose against the definition on shapes 1–130
// (the AVX-512 blocks and every kind of edge) with row strides wider than
// the rows, on both paths where there are two, and that nothing outside
// the transposed elements is written (guard values).
func TestTranspose(t *testing.T) {
	defer func(a bool) { useTransposeAsm = a }(useTransposeAsm)
	paths := []bool{false}
	if useTransposeAsm {
		paths = append(paths, true)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	guard := float32(math.Inf(-1))
	sizes := []int{1, 2, 7, 15, 16, 17, 31, 32, 33, 49, 64, 100, 130}
	for _, asm := range paths {
		useTransposeAsm = asm
		for _, rows := range sizes {
			for _, cols := range sizes {
				lds, ldd := cols+rng.IntN(3), rows+rng.IntN(3)
				src := make([]float32, rows*lds)
				for i := range src {
					src[i] = rng.Float32()
				}
				dst := make([]float32, cols*ldd+5)
				for i := range dst {
					dst[i] = guard
				}
				Transpose(dst, ldd, src, lds, rows, cols)
				for j := 0; j < cols; j++ {
					for i := 0; i < ldd; i++ {
						got, want := dst[j*ldd+i], guard
						if i < rows {
							want = src[i*lds+j]
						}
						if got != want {
							t.Fatalf("asm %v: Transpose %d×%d (lds %d, ldd %d): dst[%d][%d] = %v; want %v", asm, rows, cols, lds, ldd, j, i, got, want)
						}
					}
				}
				for _, v := range dst[cols*ldd:] {
					if v != guard {
						t.Fatalf("asm %v: Transpose %d×%d wrote past the end of dst", asm, rows, cols)
					}
				}
			}
		}
	}
}

func BenchmarkTranspose(b *testing.B) {
	for _, sh := range [][2]int{{32, 196}, {64, 49}, {49, 64}, {196, 32}, {64, 16384}} {
		rows, cols := sh[0], sh[1]
		src := make([]float32, rows*cols)
		dst := make([]float32, rows*cols)
		b.Run(fmt.Sprintf("%dx%d", rows, cols), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				Transpose(dst, rows, src, cols, rows, cols)
			}
			b.ReportMetric(float64(rows*cols)*float64(b.N)/b.Elapsed().Seconds()/1e9, "Gelem/s")
		})
	}
}
