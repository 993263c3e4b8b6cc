package f32

import (
	"math/rand/v2"
	"testing"
)

// TestGatherScatterAdd compares the AVX-512 gather and scatter-add with
// the sequential loops, bit for bit, on tables with repeats across blocks
// of 16 (never within one) and lengths that leave a tail.
func TestGatherScatterAdd(t *testing.T) {
	rng := rand.New(rand.NewPCG(51, 52))
	for _, n := range []int{0, 1, 15, 16, 17, 49, 196, 441, 1000} {
		const size = 64
		idx := make([]int32, n)
		for b := 0; b < n; b += 16 {
			perm := rng.Perm(size)
			for i := b; i < min(b+16, n); i++ {
				idx[i] = int32(perm[i-b])
			}
		}
		ix := NewIndex(idx)
		src := randVec(rng, max(n, size), 1)
		want, got := make([]float32, n), make([]float32, n)
		for i, o := range idx {
			want[i] = src[o]
		}
		Gather(got, src, ix)
		if i := sameBits(got, want); i >= 0 {
			t.Fatalf("n=%d: Gather[%d] = %v; want %v", n, i, got[i], want[i])
		}
		base := randVec(rng, size, 1)
		wantD, gotD := append([]float32(nil), base...), append([]float32(nil), base...)
		for i, o := range idx {
			wantD[o] += src[i]
		}
		ScatterAdd(gotD, src, ix)
		if i := sameBits(gotD, wantD); i >= 0 {
			t.Fatalf("n=%d: ScatterAdd[%d] = %v; want %v", n, i, gotD[i], wantD[i])
		}
	}
	for _, bad := range [][]int32{{1, 2, 1}, {-1}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("NewIndex(%v) did not panic", bad)
				}
			}()
			NewIndex(bad)
		}()
	}
}

// TestRows compares GatherRows and AddRows with their Go loops, bit for
// bit, on both paths, for widths around the vector size, skipped rows
// (offset -1) and rows that land on the same elements; guard values catch
// writes past the rows.
func TestRows(t *testing.T) {
	defer func(a bool) { useGatherAsm = a }(useGatherAsm)
	paths := []bool{false}
	if useGatherAsm {
		paths = append(paths, true)
	}
	rng := rand.New(rand.NewPCG(53, 54))
	for _, w := range []int{1, 5, 15, 16, 17, 32, 33, 64, 100} {
		for _, n := range []int{1, 3, 9, 40} {
			const size = 300
			off := make([]int32, n)
			for i := range off {
				off[i] = int32(rng.IntN(size - w + 1))
				if rng.IntN(4) == 0 {
					off[i] = -1
				}
			}
			src := randVec(rng, size, 1)
			rowsSrc := randVec(rng, n*w, 1)
			base := randVec(rng, size, 1)
			var gots [][]float32
			for _, asm := range paths {
				useGatherAsm = asm
				g := append(randVec(rng, n*w, 1), 7, 7) // guards
				GatherRows(g[:n*w], src, off, w)
				a := append(append([]float32(nil), base...), 7)
				AddRows(a[:size], off, rowsSrc, w)
				gots = append(gots, g, a)
			}
			wantG := make([]float32, n*w)
			wantA := append([]float32(nil), base...)
			for i, o := range off {
				for j := 0; j < w; j++ {
					if o >= 0 {
						wantG[i*w+j] = src[int(o)+j]
						wantA[int(o)+j] += rowsSrc[i*w+j]
					}
				}
			}
			for p := range paths {
				g, a := gots[2*p], gots[2*p+1]
				if i := sameBits(g[:n*w], wantG); i >= 0 || g[n*w] != 7 || g[n*w+1] != 7 {
					t.Fatalf("asm %v w=%d n=%d: GatherRows[%d] = %v; want %v (or a guard overwritten)", paths[p], w, n, i, g[max(i, 0)], wantG[max(i, 0)])
				}
				if i := sameBits(a[:size], wantA); i >= 0 || a[size] != 7 {
					t.Fatalf("asm %v w=%d n=%d: AddRows[%d] = %v; want %v (or a guard overwritten)", paths[p], w, n, i, a[max(i, 0)], wantA[max(i, 0)])
				}
			}
		}
	}
}
