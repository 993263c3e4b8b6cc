package f32

import (
	"fmt"
	"testing"

	"github.com/bottleneck-ml/bottleneck/internal/parallel"
)

// BenchmarkKernel measures each microkernel alone on one tile whose panels
// stay in L1 (kc = 256, packed A), GFLOP/s of one core: the ceiling of the
// blocked GEMM.
func BenchmarkKernel(b *testing.B) {
	for _, kern := range kernels() {
		b.Run(kern.name, func(b *testing.B) {
			const kc = 256
			a := make([]float32, kc*kern.mr)
			bp := make([]float32, kc*kern.nr)
			c := make([]float32, kern.mr*kern.nr)
			for i := range a {
				a[i] = float32(i%7) * 0.1
			}
			for i := range bp {
				bp[i] = float32(i%5) * 0.1
			}
			for b.Loop() {
				kern.fn(kc, a, 1, kern.mr, bp, c, kern.nr, 1, false, nil)
			}
			b.ReportMetric(2*float64(kc*kern.mr*kern.nr)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}

// BenchmarkKernelSweep runs the avx512-or-best kernel as the blocked GEMM's
// inner loops do for one k block (kc = 196) of a 266×512 product: for each
// of 16 B panels, over 19 packed A panels; C either one tile (in L1) or the
// whole 266×512 matrix.
func BenchmarkKernelSweep(b *testing.B) {
	kern := kernels()[0]
	const kc, mp, np = 196, 19, 16
	mr, nr := kern.mr, kern.nr
	a := make([]float32, mp*kc*mr)
	bp := make([]float32, np*kc*nr)
	cBig := make([]float32, mp*mr*np*nr)
	for i := range a {
		a[i] = float32(i%7) * 0.1
	}
	for i := range bp {
		bp[i] = float32(i%5) * 0.1
	}
	for _, tc := range []struct {
		name string
		big  bool
		load bool
	}{{"tile", false, false}, {"C", true, false}, {"C+=", true, true}} {
		b.Run(tc.name, func(b *testing.B) {
			ldc := np * nr
			for b.Loop() {
				for s := 0; s < np; s++ {
					for r := 0; r < mp; r++ {
						if tc.big {
							kern.fn(kc, a[r*kc*mr:], 1, mr, bp[s*kc*nr:], cBig[r*mr*ldc+s*nr:], ldc, 1, tc.load, nil)
						} else {
							kern.fn(kc, a[r*kc*mr:], 1, mr, bp[s*kc*nr:], cBig, nr, 1, tc.load, nil)
						}
					}
				}
			}
			b.ReportMetric(2*float64(kc*mr*nr*mp*np)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}

// BenchmarkGemmQ8 compares, on dense-mnist's forward shapes (batch 256),
// the int8 product (activations quantised per call) with the float32 one
// on weights packed ahead, 1 and 2 threads. GFLOP/s counts 2 per
// multiply-add for both.
func BenchmarkGemmQ8(b *testing.B) {
	for _, sh := range [][3]int{{256, 512, 784}, {256, 784, 512}, {256, 256, 512}, {256, 64, 122}, {256, 32, 64}, {256, 64, 32}, {256, 122, 64}, {256, 8, 32}, {256, 32, 8}} {
		m, n, k := sh[0], sh[1], sh[2]
		a := make([]float32, m*k)
		w := make([]float32, n*k)
		c := make([]float32, m*n)
		for i := range a {
			a[i] = float32(i%13) * 0.07
		}
		for i := range w {
			w[i] = float32(i%11)*0.05 - 0.25
		}
		var q QuantB
		q.Quantize(true, k, n, w, k)
		var p PackedB
		p.Pack(true, k, n, w, k)
		for _, th := range []int{1, 2} {
			name := fmt.Sprintf("m=%d,n=%d,k=%d/threads=%d", m, n, k, th)
			b.Run("int8/"+name, func(b *testing.B) {
				defer parallel.SetThreads(parallel.SetThreads(th))
				for b.Loop() {
					GemmQ8(m, a, k, &q, nil, ActNone, c, n)
				}
				b.ReportMetric(2*float64(m*n*k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
			b.Run("fp32/"+name, func(b *testing.B) {
				defer parallel.SetThreads(parallel.SetThreads(th))
				for b.Loop() {
					GemmPacked(false, m, a, k, &p, nil, ActNone, c, n)
				}
				b.ReportMetric(2*float64(m*n*k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}
