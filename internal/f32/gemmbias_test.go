package f32

import (
	"math/rand/v2"
	"testing"

	"github.com/bottleneck-ml/bottleneck/internal/parallel"
)

// TestGemmBias checks GemmBias, for every microkernel and 1 and 2 threads,
// against filling C's rows with the bias and calling Gemm with beta = 1:
// the same bits, on odd shapes (edge tiles), several k blocks, all
// transposes, with guard cells around C.
func TestGemmBias(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	shapes := [][3]int{{1, 1, 1}, {3, 5, 7}, {14, 32, 9}, {15, 33, 17}, {29, 70, 300}, {64, 130, 513}, {256, 64, 784}}
	defer parallel.SetThreads(parallel.Threads())
	for _, kern := range kernels() {
		for _, tr := range transCombos {
			for _, sh := range shapes {
				m, n, k := sh[0], sh[1], sh[2]
				lda, ldb, ldc := k+1, n+2, n+3
				if tr[0] {
					lda = m + 1
				}
				if tr[1] {
					ldb = k + 2
				}
				ar, br := m, k
				if tr[0] {
					ar = k
				}
				if tr[1] {
					br = n
				}
				a, b := randVec(rng, ar*lda, 1), randVec(rng, br*ldb, 1)
				bias := randVec(rng, n+1, 1)
				c := newGuarded(rng, m, n, ldc)
				want := c.clone()
				for i := 0; i < m; i++ {
					copy(want.data[i*ldc:i*ldc+n], bias[:n])
				}
				gemmBlocked(kern, tr[0], tr[1], m, n, k, 0.5, a, lda, b, ldb, 1, want.data, ldc, nil, ActNone, nil)
				for _, th := range []int{1, 2} {
					parallel.SetThreads(th)
					got := c.clone()
					gemmBlocked(kern, tr[0], tr[1], m, n, k, 0.5, a, lda, b, ldb, 0, got.data, ldc, bias[:n], ActNone, nil)
					got.checkGuards(t, kern.name)
					if i := sameBits(got.data, want.data); i >= 0 {
						t.Fatalf("%s trans=%v %v threads=%d: c[%d] = %v; want %v", kern.name, tr, sh, th, i, got.data[i], want.data[i])
					}
				}
			}
		}
	}
	c := make([]float32, 6)
	GemmBias(false, false, 2, 3, 0, 1, nil, 1, nil, 3, []float32{1, 2, 3}, c, 3)
	if c[3] != 1 || c[5] != 3 {
		t.Errorf("GemmBias with k = 0: %v; want the bias in every row", c)
	}
}

// TestGemmActPacked checks GemmBiasAct and GemmPacked, for every
// microkernel and 1 and 2 threads, against GemmBias (or Gemm, without a
// bias) followed by the activation over C: the same bits, on odd shapes,
// several k blocks, both transposes of A (and of B for packing), with guard
// cells around C.
func TestGemmActPacked(t *testing.T) {
	rng := rand.New(rand.NewPCG(23, 24))
	shapes := [][3]int{{1, 1, 1}, {3, 5, 7}, {14, 32, 9}, {15, 33, 17}, {29, 70, 300}, {64, 130, 513}, {256, 64, 784}}
	defer parallel.SetThreads(parallel.Threads())
	for _, kern := range kernels() {
		for _, tr := range transCombos {
			for _, sh := range shapes {
				for _, act := range []Act{ActNone, ActReLU, ActSigmoid} {
					for _, withBias := range []bool{true, false} {
						m, n, k := sh[0], sh[1], sh[2]
						lda, ldb, ldc := k+1, n+2, n+3
						if tr[0] {
							lda = m + 1
						}
						if tr[1] {
							ldb = k + 2
						}
						ar, br := m, k
						if tr[0] {
							ar = k
						}
						if tr[1] {
							br = n
						}
						a, b := randVec(rng, ar*lda, 1), randVec(rng, br*ldb, 1)
						var bias []float32
						if withBias {
							bias = randVec(rng, n+1, 1)[:n]
						}
						c := newGuarded(rng, m, n, ldc)
						want := c.clone()
						if withBias {
							gemmBlocked(kern, tr[0], tr[1], m, n, k, 1, a, lda, b, ldb, 0, want.data, ldc, bias, ActNone, nil)
						} else {
							gemmBlocked(kern, tr[0], tr[1], m, n, k, 1, a, lda, b, ldb, 0, want.data, ldc, nil, ActNone, nil)
						}
						for i := 0; i < m; i++ {
							applyAct(act, want.data[i*ldc:i*ldc+n])
						}
						var p PackedB
						p.pack(kern, tr[1], k, n, b, ldb)
						packed := append([]float32(nil), p.data...)
						defer func() {
							// later GEMMs must not pack into p's memory
							if i := sameBits(p.data, packed); i >= 0 {
								t.Errorf("PackedB %v changed by later GEMMs at %d", sh, i)
							}
						}()
						for _, th := range []int{1, 2} {
							parallel.SetThreads(th)
							got := c.clone()
							gemmBlocked(kern, tr[0], tr[1], m, n, k, 1, a, lda, b, ldb, 0, got.data, ldc, bias, act, nil)
							got.checkGuards(t, kern.name)
							if i := sameBits(got.data, want.data); i >= 0 {
								t.Fatalf("%s act %d bias %v trans=%v %v threads=%d: c[%d] = %v; want %v", kern.name, act, withBias, tr, sh, th, i, got.data[i], want.data[i])
							}
							got = c.clone()
							gemmPacked(kern, tr[0], m, a, lda, &p, bias, act, got.data, ldc)
							got.checkGuards(t, kern.name)
							if i := sameBits(got.data, want.data); i >= 0 {
								t.Fatalf("packed %s act %d bias %v trans=%v %v threads=%d: c[%d] = %v; want %v", kern.name, act, withBias, tr, sh, th, i, got.data[i], want.data[i])
							}
						}
					}
				}
			}
		}
	}
}
