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
