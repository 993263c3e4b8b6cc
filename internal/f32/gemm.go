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
// behind it can change without touching callers. GemmNaive is the reference
// it is tested against.
//
// # Algorithm
//
// Gemm is a GotoBLAS/BLIS-style blocked GEMM (gemm_blocked.go). C is cut
// into column blocks; for each, op(B) is packed, for all of k, into
// micro-panels of nr columns (kc rows × nr floats, contiguous, zero-padded),
// and k is cut into equal blocks of at most kcMax = 256. For each k block and
// each row block of at most mcMax = 336 rows, op(A) is packed into
// micro-panels of mr rows (kc × mr floats), except that the full panels of
// an untransposed A are read in place (its rows are contiguous in k, so
// packing only cost time: 30% of a 256×64×256 product). Packing is where the
// four transpose cases differ; nothing else sees them. A microkernel then
// computes each mr×nr tile of C with the tile held in registers: per k step
// it loads one row of the B micro-panel and broadcasts each of the mr A
// values. Edge tiles are computed into a scratch tile and added to C.
//
// GemmBias adds a bias row to every row of C in the kernel's store (the
// first k block stores alpha·acc + bias instead of alpha·acc), which is how
// nn.Dense's forward pass gets its bias without a separate pass over the
// output; the bits are those of filling C with the bias and using beta = 1.
// GemmBiasAct also applies a ReLU or a sigmoid to each block of rows of C
// as soon as its last k block is stored, while it is in cache (the bits of
// the elementwise kernel run afterwards). GemmPacked takes a B packed ahead
// by PackedB.Pack (a layer's weights at inference, packed once per model
// load: 8% of dense-mnist's forward pass was packing W per batch); it is
// one column block, so the workers neither pack nor wait.
//
// GemmQ8 (gemm_q8.go) is the int8 product of reduced-precision inference
// (AVX512_VNNI), with its Go twin. Gather and ScatterAdd (gather.go) are
// the index-table loops of the convolutions on small images, with AVX-512
// gathers and scatters.
// With AVX-512, packing a transposed B (Dense's forward, y = x·Wᵀ) goes
// through a 16×16 register transpose (packBT16, asmgen/transpose.go), and
// the row copies of packing an untransposed B or a transposed A are masked
// vector moves (copyRows) instead of a memmove call per row. Products below
// parMinMACs multiply-adds run on one thread.
//
// Kernels (generated into gemm_amd64.s by asmgen, picked from the CPU
// flags at start-up; gemm_generic.go is the portable one used with -tags
// noasm or off amd64):
//
//	avx512   mr=14 nr=32: 28 zmm accumulators, 2 for B, 1 broadcast
//	avx2     mr=6  nr=16: 12 ymm accumulators (AVX2 + FMA)
//	generic  mr=4  nr=4:  scalar Go
//
// Blocking, for AMD EPYC (Zen 5: 48 KiB L1d, 1 MiB L2 per core): the B
// micro-panel a kernel sweeps down a row block is 256×32×4 = 32 KiB and
// stays in L1; a packed A block (≤ 336×256×4 = 336 KiB) stays in L2; packed
// B for a column block is at most bMax = 4 MiB (L3). A sweep of kc in
// {192, 256, 320, 384} × mc in {126, 168, 252, 336} moved single-core
// throughput by less than the noise of the shared machine (±10%), so the
// BLIS-like 256 was kept.
//
// Threads (internal/parallel, one Run per column block, no allocation):
// the workers split either the row blocks of C, sharing the packed B (each
// packs a share of the panels; a panel of another share it needs first it
// packs itself if nobody has taken it yet, else waits for it: the chunks of
// a parallel.Run may run one after another on the caller), or its B
// micro-panels (each packing its own), whichever divides into more equal
// shares. k is never split: every element of C is
// accumulated in the same order whatever the thread count, so results are
// bit-identical for any parallel.SetThreads (tested). Packing buffers live
// in reused contexts (a free list the GC does not empty), so steady-state
// calls do not allocate.
//
// # Performance
//
// go test -run '^$' -bench Gemm -benchtime 20x -count 3 ./internal/f32/
// on the 2-core AMD EPYC dev machine, GFLOP/s, best of 3 to 6 runs. The
// machine is shared: while others build, the second core is mostly taken
// and 2-thread runs of the same shape range from 1.0× to 1.8× the 1-thread
// figure; small shapes (≈40 µs) gain nothing then.
//
//	                                 1 thread   2 threads
//	NN 128                              203        191
//	NN 256                              162        201
//	NN 512                              233        333
//	NN 1024                             202        289
//	NN 2048                             208        371
//	fwd NT m=256 n=512 k=784            186        303
//	dX  NN m=256 n=784 k=512            213        359
//	dW  TN m=512 n=784 k=256            225        370
//	fwd NT m=256 n=64  k=256            198        177
//	dX  NN m=256 n=256 k=64             224        213
//	dW  TN m=64  n=256 k=256            168        144
//	NN 256, avx2 kernel                 116
//	NN 256, generic kernel              4.5
//	NN 256, GemmNaive                   2.1
//
// The avx512 kernel alone, on a tile whose panels are in L1, runs at
// 250 GFLOP/s (about 2 FMA/cycle), so the blocked GEMM is at 85–93% of it
// on one core.
//
// # Elementwise kernels
//
// elem.go holds the vector loops of the layers, losses and optimisers: Exp,
// Sigmoid (and its backward), ReLU (and its backward), MSEGrad, SqDiffSum,
// ColSum (bias gradients) and Adam (the whole Adam/AdamW update in one pass,
// PyTorch's order of operations). Each has a portable Go twin and, on amd64
// with AVX-512, an assembly loop from asmgen (asmgen/elem.go) that does the
// same float32 operations in the same order (no FMA; the twins round each
// product explicitly), so the two give the same bits, which the tests
// check. Exp is Cephes' expf (Cody–Waite reduction, degree-6 polynomial,
// scaling by two powers of two so that subnormal results are right): within
// 1 ulp of math.Exp on the test sweep; Sigmoid within 2 ulp. Large arrays
// are split across the worker pool at multiples of 16 elements (Adam from
// 128 Ki elements, the activations from 64 Ki to 256 Ki); reductions
// (ColSum, SqDiffSum) never are, so no result depends on the thread count.
//
// go test -run '^$' -bench Elem ./internal/f32/ (1 thread, 256×784
// floats): Sigmoid 0.08 ms (the float64 math.Exp loop it replaced: about
// 2 ms), ReLU 14 µs, Adam over dense-mnist's 1.1 M parameters 0.3 ms (the
// scalar loop: 1.2 ms).
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
	gemmBlocked(bestKernel, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, nil, ActNone, nil)
}

// GemmBias computes C = alpha*op(A)*op(B) + bias, the n values of bias added
// to every row of C, in the output pass of the GEMM (the input C is not
// read). It gives the same bits as filling each row of C with bias and
// calling Gemm with beta = 1, without the extra pass over C.
func GemmBias(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, bias, c []float32, ldc int) {
	checkGemm(transA, transB, m, n, k, a, lda, b, ldb, c, ldc)
	if len(bias) < n {
		panic(errPrefix + "insufficient length of bias")
	}
	gemmBlocked(bestKernel, transA, transB, m, n, k, alpha, a, lda, b, ldb, 0, c, ldc, bias[:n], ActNone, nil)
}

// Act is an activation a GEMM applies to its output (GemmBiasAct,
// GemmPacked), with the bits of the elementwise kernel of the same name
// (ReLU, Sigmoid) run over C afterwards.
type Act uint8

// Activations of GemmBiasAct and GemmPacked.
const (
	ActNone Act = iota
	ActReLU
	ActSigmoid
)

// applyAct applies act to x in place.
func applyAct(act Act, x []float32) {
	switch act {
	case ActReLU:
		ReLU(x, x)
	case ActSigmoid:
		Sigmoid(x, x)
	}
}

// GemmBiasAct is GemmBias followed by act over C, applied to each block of
// rows of C as soon as it is final, while it is still in cache: the same
// bits as GemmBias then ReLU or Sigmoid over C, without the extra pass.
// bias may be nil (no bias: C = alpha*op(A)*op(B)).
func GemmBiasAct(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, bias []float32, act Act, c []float32, ldc int) {
	checkGemm(transA, transB, m, n, k, a, lda, b, ldb, c, ldc)
	if bias != nil {
		if len(bias) < n {
			panic(errPrefix + "insufficient length of bias")
		}
		bias = bias[:n]
	}
	gemmBlocked(bestKernel, transA, transB, m, n, k, alpha, a, lda, b, ldb, 0, c, ldc, bias, act, nil)
}

// PackedB is the B operand of a GEMM packed once, ahead of the products
// that use it: the weights of a layer at inference, which every batch
// multiplies unchanged. Packing is then no part of a call (8% of a
// dense-mnist forward pass). The zero value is empty; Pack fills it.
type PackedB struct {
	kern *kernel
	k, n int
	data []float32
}

// Pack packs op(B) (k×n; B is n×k when transB) into p, reusing p's memory,
// in the layout gemmBlocked packs a column block of B into: for each k
// block (as Gemm cuts k), the micro-panels of nr columns, zero-padded.
func (p *PackedB) Pack(transB bool, k, n int, b []float32, ldb int) {
	p.pack(bestKernel, transB, k, n, b, ldb)
}

func (p *PackedB) pack(kern *kernel, transB bool, k, n int, b []float32, ldb int) {
	if k < 0 || n < 0 {
		panic(errPrefix + "negative dimension")
	}
	br, bc := k, n
	if transB {
		br, bc = n, k
	}
	if ldb < max(1, bc) {
		panic(errPrefix + "bad leading dimension ldb")
	}
	if br > 0 && bc > 0 && len(b) < (br-1)*ldb+bc {
		panic(errPrefix + "insufficient length of b")
	}
	nr := kern.nr
	nPanels := (n + nr - 1) / nr
	kBlocks := max(1, (k+kcMax-1)/kcMax)
	kcStep := (k + kBlocks - 1) / kBlocks
	p.kern, p.k, p.n = kern, k, n
	p.data = grow(p.data, kBlocks*kcStep*nPanels*nr)
	ncPad := nPanels * nr
	for s := 0; s < nPanels; s++ {
		j0 := s * nr
		for pc := 0; pc < k; pc += kcStep {
			kc := min(kcStep, k-pc)
			off := pc*ncPad + s*kc*nr
			packB(p.data[off:off+kc*nr], transB, b, ldb, pc, kc, j0, min(nr, n-j0), nr)
		}
	}
}

// K and N are the shape of the packed op(B).
func (p *PackedB) K() int { return p.k }

// N is the number of columns of the packed op(B).
func (p *PackedB) N() int { return p.n }

// GemmPacked computes C = op(A)·B + bias, then act, with op(A) m×k and B
// packed by p (k×n): the bits of GemmBiasAct with alpha = 1 on the B that
// was packed. bias may be nil.
func GemmPacked(transA bool, m int, a []float32, lda int, p *PackedB, bias []float32, act Act, c []float32, ldc int) {
	gemmPacked(bestKernel, transA, m, a, lda, p, bias, act, c, ldc)
}

func gemmPacked(kern *kernel, transA bool, m int, a []float32, lda int, p *PackedB, bias []float32, act Act, c []float32, ldc int) {
	if p.kern != kern {
		panic(errPrefix + "PackedB packed for another kernel (or empty)")
	}
	n, k := p.n, p.k
	ar, ac := m, k
	if transA {
		ar, ac = k, m
	}
	switch {
	case m < 0:
		panic(fmt.Sprintf(errPrefix+"negative dimension m=%d", m))
	case lda < max(1, ac) || ldc < max(1, n):
		panic(fmt.Sprintf(errPrefix+"bad leading dimension lda=%d ldc=%d", lda, ldc))
	case ar > 0 && ac > 0 && len(a) < (ar-1)*lda+ac:
		panic(errPrefix + "insufficient length of a")
	case m > 0 && n > 0 && len(c) < (m-1)*ldc+n:
		panic(errPrefix + "insufficient length of c")
	}
	if bias != nil {
		if len(bias) < n {
			panic(errPrefix + "insufficient length of bias")
		}
		bias = bias[:n]
	}
	gemmBlocked(kern, transA, false, m, n, k, 1, a, lda, nil, 0, 0, c, ldc, bias, act, p)
}

// KBlocks returns how Gemm cuts the sum over k: blocks of step terms (the
// last one shorter). Each block's products are summed in registers and
// added to C block after block, so a caller that computes one product per
// block with beta = 0 (k = that block's length) and adds them to C in block
// order gets Gemm's bits: the blocks can be computed apart, on different
// cores, and the result does not depend on how many there were.
func KBlocks(k int) (blocks, step int) {
	if k <= 0 {
		return 0, 0
	}
	blocks = (k + kcMax - 1) / kcMax
	return blocks, (k + blocks - 1) / blocks
}

// PanelRows is the number of rows of C the GEMM's microkernel computes at
// once (14 with AVX-512). Splitting the rows of a product at multiples of
// it wastes no part of a register tile.
func PanelRows() int { return bestKernel.mr }
