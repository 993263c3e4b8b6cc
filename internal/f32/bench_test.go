package f32

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/bottleneck-ml/bottleneck/internal/parallel"
)

type benchShape struct {
	name           string
	transA, transB bool
	m, n, k        int
}

func benchGemm(b *testing.B, sh benchShape, threads int, gemm gemmFunc) {
	old := parallel.SetThreads(threads)
	defer parallel.SetThreads(old)
	rng := rand.New(rand.NewPCG(1, 1))
	m, n, k := sh.m, sh.n, sh.k
	a := make([]float32, m*k)
	bm := make([]float32, k*n)
	c := make([]float32, m*n)
	for i := range a {
		a[i] = rng.Float32()
	}
	for i := range bm {
		bm[i] = rng.Float32()
	}
	lda, ldb := k, n
	if sh.transA {
		lda = m
	}
	if sh.transB {
		ldb = k
	}
	b.ReportAllocs()
	for b.Loop() {
		gemm(sh.transA, sh.transB, m, n, k, 1, a, lda, bm, ldb, 0, c, n)
	}
	b.ReportMetric(2*float64(m)*float64(n)*float64(k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

// BenchmarkGemm measures Gemm on square sizes and on the layer shapes of the
// dense MNIST autoencoder (batch 256, 784→512→256→64→256→512→784), at 1 and
// 2 threads.
func BenchmarkGemm(b *testing.B) {
	var shapes []benchShape
	for _, s := range []int{128, 256, 512, 1024, 2048} {
		shapes = append(shapes, benchShape{fmt.Sprintf("NN/%d", s), false, false, s, s, s})
	}
	const batch = 256
	dims := []int{784, 512, 256, 64, 256, 512, 784}
	seen := map[string]bool{}
	for l := 0; l+1 < len(dims); l++ {
		in, out := dims[l], dims[l+1]
		for _, sh := range []benchShape{
			{fmt.Sprintf("fwdNT/m=%d,n=%d,k=%d", batch, out, in), false, true, batch, out, in},
			{fmt.Sprintf("dxNN/m=%d,n=%d,k=%d", batch, in, out), false, false, batch, in, out},
			{fmt.Sprintf("dwTN/m=%d,n=%d,k=%d", out, in, batch), true, false, out, in, batch},
		} {
			if !seen[sh.name] {
				seen[sh.name] = true
				shapes = append(shapes, sh)
			}
		}
	}
	for _, sh := range shapes {
		for _, th := range []int{1, 2} {
			b.Run(fmt.Sprintf("%s/threads=%d", sh.name, th), func(b *testing.B) { benchGemm(b, sh, th, Gemm) })
		}
	}
}

// BenchmarkGemmBaseline is the reference point: the naive triple loop and
// the blocked driver with each microkernel, at 256 on one thread.
func BenchmarkGemmBaseline(b *testing.B) {
	sh := benchShape{"NN/256", false, false, 256, 256, 256}
	b.Run("naive", func(b *testing.B) { benchGemm(b, sh, 1, GemmNaive) })
	for _, kern := range kernels() {
		b.Run(kern.name, func(b *testing.B) {
			benchGemm(b, sh, 1, func(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, bm []float32, ldb int, beta float32, c []float32, ldc int) {
				gemmBlocked(kern, transA, transB, m, n, k, alpha, a, lda, bm, ldb, beta, c, ldc, nil, ActNone, nil)
			})
		})
	}
}
