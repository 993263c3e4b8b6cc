package f32

import "github.com/bottleneck-ml/bottleneck/internal/parallel"

// Gemm computes C = alpha*op(A)*op(B) + beta*C (see the package doc).
// It splits the rows of C across the worker pool; each row block is computed
// by gemmBlock. The result does not depend on the number of threads: every
// element is accumulated in the same order whatever the split.
func Gemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	checkGemm(transA, transB, m, n, k, a, lda, b, ldb, c, ldc)
	if m == 0 || n == 0 {
		return
	}
	// Scale C by beta first; the kernels below then only accumulate.
	if beta != 1 {
		for i := 0; i < m; i++ {
			row := c[i*ldc : i*ldc+n]
			if beta == 0 {
				clear(row)
			} else {
				for j := range row {
					row[j] *= beta
				}
			}
		}
	}
	if k == 0 || alpha == 0 {
		return
	}
	grain := max(1, (1<<16)/max(1, n*k))
	parallel.For(m, grain, func(lo, hi int) {
		gemmRows(transA, transB, lo, hi, n, k, alpha, a, lda, b, ldb, c, ldc)
	})
}

// gemmRows accumulates rows [lo, hi) of alpha*op(A)*op(B) into C with a
// straightforward i-p-j loop order whose inner loop is an axpy over a row of
// B (or a dot product for the NT case). It is the portable kernel.
func gemmRows(transA, transB bool, lo, hi, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, c []float32, ldc int) {
	for i := lo; i < hi; i++ {
		crow := c[i*ldc : i*ldc+n]
		if transB {
			for j := 0; j < n; j++ {
				brow := b[j*ldb : j*ldb+k]
				var s float32
				if transA {
					for p, bv := range brow {
						s += a[p*lda+i] * bv
					}
				} else {
					s = Dot(a[i*lda:i*lda+k], brow)
				}
				crow[j] += alpha * s
			}
			continue
		}
		for p := 0; p < k; p++ {
			var av float32
			if transA {
				av = a[p*lda+i]
			} else {
				av = a[i*lda+p]
			}
			if av == 0 {
				continue
			}
			Axpy(alpha*av, b[p*ldb:p*ldb+n], crow)
		}
	}
}
