// Package f32 holds the float32 kernels everything else stands on: GEMM and
// the vector loops of the layers and optimisers.
//
// Matrices are row-major. Gemm follows BLAS sgemm semantics:
//
//	C = alpha * op(A) * op(B) + beta * C
//
// where op(X) is X or Xᵀ, op(A) is m×k, op(B) is k×n and C is m×n. lda, ldb
// and ldc are the row strides of A, B and C as stored (before op).
//
// Gemm is the single entry point every layer calls; the implementation
// behind it (blocked pure Go, or assembly microkernels on amd64) can change
// without touching callers. GemmNaive is the reference it is tested against.
package f32

import "fmt"

const errPrefix = "f32: "

func checkGemm(transA, transB bool, m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int) {
	if m < 0 || n < 0 || k < 0 {
		panic(fmt.Sprintf(errPrefix+"negative dimension m=%d n=%d k=%d", m, n, k))
	}
	ar, ac := m, k
	if transA {
		ar, ac = k, m
	}
	br, bc := k, n
	if transB {
		br, bc = n, k
	}
	if lda < max(1, ac) || ldb < max(1, bc) || ldc < max(1, n) {
		panic(fmt.Sprintf(errPrefix+"bad leading dimension lda=%d ldb=%d ldc=%d", lda, ldb, ldc))
	}
	if ar > 0 && ac > 0 && len(a) < (ar-1)*lda+ac {
		panic(errPrefix + "insufficient length of a")
	}
	if br > 0 && bc > 0 && len(b) < (br-1)*ldb+bc {
		panic(errPrefix + "insufficient length of b")
	}
	if m > 0 && n > 0 && len(c) < (m-1)*ldc+n {
		panic(errPrefix + "insufficient length of c")
	}
}

// GemmNaive is the triple-loop reference implementation of Gemm, kept for
// tests. It accumulates in float64 per output element.
func GemmNaive(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	checkGemm(transA, transB, m, n, k, a, lda, b, ldb, c, ldc)
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s float64
			for p := 0; p < k; p++ {
				var av, bv float32
				if transA {
					av = a[p*lda+i]
				} else {
					av = a[i*lda+p]
				}
				if transB {
					bv = b[j*ldb+p]
				} else {
					bv = b[p*ldb+j]
				}
				s += float64(av) * float64(bv)
			}
			ci := &c[i*ldc+j]
			if beta == 0 {
				*ci = alpha * float32(s)
			} else {
				*ci = alpha*float32(s) + beta**ci
			}
		}
	}
}

// Gemm computes C = alpha*op(A)*op(B) + beta*C (see the package doc). As in
// BLAS, when beta is 0 the input C is not read (NaNs in it are ignored) and
// when alpha is 0 or k is 0, A and B are not read. The result does not depend
// on parallel.Threads().
func Gemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	checkGemm(transA, transB, m, n, k, a, lda, b, ldb, c, ldc)
	gemmBlocked(bestKernel, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}
