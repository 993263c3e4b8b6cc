package f32

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/bottleneck-ml/bottleneck/internal/parallel"
)

// withQ8Asm runs f with the assembly int8 kernels on or off.
func withQ8Asm(on bool, f func()) {
	old := useQ8Asm
	useQ8Asm = on && old
	defer func() { useQ8Asm = old }()
	f()
}

// TestKernQ8MatchesGeneric compares the AVX512_VNNI tile with its Go twin,
// bit for bit, with and without a bias, on random bytes of the full range.
func TestKernQ8MatchesGeneric(t *testing.T) {
	if !useQ8Asm {
		t.Skip("no AVX512_VNNI kernel on this machine or build")
	}
	rng := rand.New(rand.NewPCG(31, 32))
	for _, k4 := range []int{0, 1, 2, 7, 196, 784} {
		lda := 4*k4 + 8
		a := make([]int8, 14*lda)
		b := make([]uint8, k4*32*4)
		for i := range a {
			a[i] = int8(rng.IntN(255) - 127)
		}
		for i := range b {
			b[i] = uint8(rng.IntN(256))
		}
		sx, sw, bias := make([]float32, 14), make([]float32, 32), make([]float32, 32)
		comp := make([]int32, 14)
		for i := range sx {
			sx[i] = rng.Float32() * 0.01
			comp[i] = int32(rng.IntN(1<<20)) - 1<<19
		}
		for j := range sw {
			sw[j] = rng.Float32() * 0.02
			bias[j] = float32(rng.NormFloat64())
		}
		for _, bs := range [][]float32{nil, bias} {
			const ldc = 40
			want, got := make([]float32, 14*ldc), make([]float32, 14*ldc)
			for i := range want {
				want[i], got[i] = -1, -1
			}
			kernQ8Generic(k4, a, lda, b, want, ldc, sx, comp, sw, bs)
			kernQ8(k4, a, lda, b, got, ldc, sx, comp, sw, bs)
			if i := sameBits(got, want); i >= 0 {
				t.Fatalf("k4=%d bias=%v: c[%d] = %v; want %v", k4, bs != nil, i, got[i], want[i])
			}
		}
	}
}

// TestQuantRowMatchesGeneric checks the assembly quantisation of a row
// (max |x|, then the int8 values and their sum) against the twins, with
// zeros, subnormals, halves that round to even, NaN and infinities.
func TestQuantRowMatchesGeneric(t *testing.T) {
	if !useQ8Asm {
		t.Skip("no AVX-512 quantisation on this machine or build")
	}
	rng := rand.New(rand.NewPCG(33, 34))
	special := []float32{0, float32(math.Copysign(0, -1)), 1e-40, -1e-40, 0.5, 1.5, 2.5, -0.5, -2.5, 126.5, -126.5, 127.49}
	for _, n := range []int{0, 1, 15, 16, 17, 64, 100, 784} {
		for _, mode := range []string{"random", "special", "nan", "inf", "zeros"} {
			x := make([]float32, n)
			for i := range x {
				switch mode {
				case "random":
					x[i] = float32(rng.NormFloat64() * 3)
				case "special":
					x[i] = special[i%len(special)]
				case "nan":
					x[i] = float32(rng.NormFloat64())
					if i%5 == 3 {
						x[i] = float32(math.NaN())
					}
				case "inf":
					x[i] = float32(rng.NormFloat64())
					if i == n/2 {
						x[i] = float32(math.Inf(-1))
					}
				}
			}
			var wantM, gotM float32
			withQ8Asm(false, func() { wantM = absMax(x) })
			gotM = absMax(x)
			if math.Float32bits(gotM) != math.Float32bits(wantM) {
				t.Fatalf("n=%d %s: absMax = %v; want %v", n, mode, gotM, wantM)
			}
			for _, inv := range []float32{0, 1, 127 / max(wantM, 1e-30), 254} {
				want, got := make([]int8, n), make([]int8, n)
				var ws, gs int32
				withQ8Asm(false, func() { ws = quantQ8(x, inv, want) })
				gs = quantQ8(x, inv, got)
				if ws != gs {
					t.Fatalf("n=%d %s inv=%v: sum %d; want %d", n, mode, inv, gs, ws)
				}
				for i := range want {
					if want[i] != got[i] {
						t.Fatalf("n=%d %s inv=%v: q[%d] = %d (x %v); want %d", n, mode, inv, i, got[i], x[i], want[i])
					}
				}
			}
		}
	}
}

// TestQuantRowsMatchesGeneric checks the one-call quantisation of a block
// of rows against quantRow row by row: the values, the padding of each
// int8 row (zeroed up to a multiple of 4), the scales and corrections, on
// rows with zeros, NaN, infinities and lengths around the vector size;
// guard bytes catch writes past the last row.
func TestQuantRowsMatchesGeneric(t *testing.T) {
	if !useQ8Asm {
		t.Skip("no AVX-512 quantisation on this machine or build")
	}
	rng := rand.New(rand.NewPCG(35, 36))
	for _, k := range []int{1, 3, 4, 15, 16, 17, 31, 64, 81, 95, 100, 288, 784} {
		const n = 7
		ldx, ldd := k+rng.IntN(5), (k+3)/4*4
		x := make([]float32, n*ldx)
		for i := range x {
			x[i] = float32(rng.NormFloat64() * 3)
		}
		x[1*ldx+k/2] = float32(math.NaN())
		x[2*ldx+k-1] = float32(math.Inf(1))
		clear(x[3*ldx : 3*ldx+k])
		x[4*ldx] = float32(math.NaN())
		if k > 1 {
			x[4*ldx+1] = float32(math.Inf(-1))
		}
		var dst [2][]int8
		var sx [2][]float32
		var comp [2][]int32
		for p, asm := range []bool{false, true} {
			dst[p] = make([]int8, n*ldd+8)
			for i := range dst[p] {
				dst[p][i] = 99 // the padding must be zeroed, the guard kept
			}
			sx[p], comp[p] = make([]float32, n), make([]int32, n)
			withQ8Asm(asm, func() { quantRows(x, ldx, n, k, dst[p][:n*ldd], ldd, sx[p], comp[p]) })
		}
		for i := range dst[0] {
			if dst[1][i] != dst[0][i] {
				t.Fatalf("k=%d: dst[%d] (row %d) = %d; want %d", k, i, i/ldd, dst[1][i], dst[0][i])
			}
		}
		for i := 0; i < n; i++ {
			if math.Float32bits(sx[1][i]) != math.Float32bits(sx[0][i]) || comp[1][i] != comp[0][i] {
				t.Fatalf("k=%d row %d: scale %v comp %d; want %v %d", k, i, sx[1][i], comp[1][i], sx[0][i], comp[0][i])
			}
		}
		if dst[0][n*ldd] != 99 || dst[0][ldd-1] != 0 && k%4 != 0 {
			t.Fatalf("k=%d: guard or padding wrong in the Go twin", k)
		}
	}
}

// TestGemmQ8 checks GemmQ8 on odd shapes, 1 and 2 threads, with and
// without bias and activation: the assembly and the Go twin give the same
// bits, and both stay within the quantisation error of the float64
// product: Σ_k |a|·hb + |b|·ha + ha·hb, ha and hb half a quantisation step
// of the row of A and the column of B.
func TestGemmQ8(t *testing.T) {
	defer parallel.SetThreads(parallel.Threads())
	rng := rand.New(rand.NewPCG(35, 36))
	for _, sh := range [][3]int{{1, 1, 1}, {3, 5, 7}, {14, 32, 16}, {15, 33, 17}, {29, 70, 300}, {100, 64, 784}, {256, 130, 64}} {
		m, n, k := sh[0], sh[1], sh[2]
		for _, transB := range []bool{false, true} {
			for _, act := range []Act{ActNone, ActReLU, ActSigmoid} {
				lda, ldc := k+3, n+2
				a := randVec(rng, m*lda, 1)
				ldb := n + 1
				if transB {
					ldb = k + 1
				}
				br := k
				if transB {
					br = n
				}
				b := randVec(rng, br*ldb, 1)
				bias := randVec(rng, n, 1)
				var q QuantB
				q.Quantize(transB, k, n, b, ldb)
				var ref []float32
				for _, th := range []int{1, 2} {
					parallel.SetThreads(th)
					for _, asm := range []bool{true, false} {
						c := newGuarded(rng, m, n, ldc)
						withQ8Asm(asm, func() { GemmQ8(m, a, lda, &q, bias, act, c.data, ldc) })
						c.checkGuards(t, "q8")
						if ref == nil {
							ref = c.data
							checkQ8Error(t, sh, transB, act, a, lda, b, ldb, bias, c.data, ldc)
							continue
						}
						if i := sameBits(c.data, ref); i >= 0 {
							t.Fatalf("%v transB=%v act=%d threads=%d asm=%v: c[%d] = %v; want %v", sh, transB, act, th, asm, i, c.data[i], ref[i])
						}
					}
				}
			}
		}
	}
}

func checkQ8Error(t *testing.T, sh [3]int, transB bool, act Act, a []float32, lda int, b []float32, ldb int, bias, c []float32, ldc int) {
	t.Helper()
	m, n, k := sh[0], sh[1], sh[2]
	bAt := func(p, j int) float64 {
		if transB {
			return float64(b[j*ldb+p])
		}
		return float64(b[p*ldb+j])
	}
	for i := 0; i < m; i++ {
		var sa float64 // half a quantisation step of row i
		for p := 0; p < k; p++ {
			sa = max(sa, math.Abs(float64(a[i*lda+p]))/254)
		}
		for j := 0; j < n; j++ {
			var sb float64
			for p := 0; p < k; p++ {
				sb = max(sb, math.Abs(bAt(p, j))/254)
			}
			var s, bound float64
			for p := 0; p < k; p++ {
				av, bv := float64(a[i*lda+p]), bAt(p, j)
				s += av * bv
				bound += math.Abs(av)*sb + math.Abs(bv)*sa + sa*sb
			}
			s += float64(bias[j])
			switch act {
			case ActReLU:
				s = max(s, 0)
			case ActSigmoid:
				s = 1 / (1 + math.Exp(-s))
			}
			if got := float64(c[i*ldc+j]); math.Abs(got-s) > bound*1.01+1e-5 {
				t.Fatalf("%v transB=%v act=%d: c[%d][%d] = %v; the float64 product is %v (bound %v)", sh, transB, act, i, j, got, s, bound)
			}
		}
	}
}
