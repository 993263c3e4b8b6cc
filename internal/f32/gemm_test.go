package f32

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/bottleneck-ml/bottleneck/internal/parallel"
)

// pad is the number of guard cells after every row of a stored matrix (in
// addition to the stride slack) and after its end.
const pad = 3

// guarded is a stored matrix of r rows of c used columns with row stride ld,
// followed by guard cells; unused cells hold NaN.
type guarded struct {
	r, c, ld int
	data     []float32
}

func newGuarded(rng *rand.Rand, r, c, ld int) guarded {
	g := guarded{r: r, c: c, ld: ld, data: make([]float32, r*ld+pad)}
	for i := range g.data {
		g.data[i] = float32(math.NaN())
	}
	for i := 0; i < r; i++ {
		for j := 0; j < c; j++ {
			g.data[i*ld+j] = float32(rng.NormFloat64())
		}
	}
	return g
}

func (g guarded) clone() guarded {
	h := g
	h.data = append([]float32(nil), g.data...)
	return h
}

// checkGuards fails if any cell outside the used part is not NaN.
func (g guarded) checkGuards(t *testing.T, name string) {
	t.Helper()
	for i, v := range g.data {
		if row, col := i/g.ld, i%g.ld; row < g.r && col < g.c {
			continue
		}
		if !math.IsNaN(float64(v)) {
			t.Fatalf("%s: guard cell %d (row %d col %d, stride %d) overwritten with %v", name, i, i/g.ld, i%g.ld, g.ld, v)
		}
	}
}

type gemmCase struct {
	transA, transB bool
	m, n, k        int
	alpha, beta    float32
	extra          int // added to each leading dimension
}

func (tc gemmCase) String() string {
	t := func(b bool) string {
		if b {
			return "T"
		}
		return "N"
	}
	return fmt.Sprintf("%s%s/m=%d,n=%d,k=%d,alpha=%g,beta=%g,ld+%d", t(tc.transA), t(tc.transB), tc.m, tc.n, tc.k, tc.alpha, tc.beta, tc.extra)
}

type gemmFunc func(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int)

// runCase runs gemm and GemmNaive on the same random guarded inputs and
// compares the results with a tolerance scaled by k and the magnitudes.
func runCase(t *testing.T, rng *rand.Rand, tc gemmCase, gemm gemmFunc) {
	t.Helper()
	ar, ac := tc.m, tc.k
	if tc.transA {
		ar, ac = tc.k, tc.m
	}
	br, bc := tc.k, tc.n
	if tc.transB {
		br, bc = tc.n, tc.k
	}
	a := newGuarded(rng, ar, ac, max(ac, 1)+tc.extra)
	b := newGuarded(rng, br, bc, max(bc, 1)+tc.extra)
	c := newGuarded(rng, tc.m, tc.n, max(tc.n, 1)+tc.extra)
	if tc.beta == 0 {
		// BLAS semantics: C is not read when beta is 0.
		for i := range c.data {
			c.data[i] = float32(math.NaN())
		}
	}
	want := c.clone()
	if tc.beta == 0 {
		for i := 0; i < tc.m; i++ {
			clear(want.data[i*want.ld : i*want.ld+tc.n])
		}
	}
	GemmNaive(tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, a.data, a.ld, b.data, b.ld, tc.beta, want.data, want.ld)
	got := c.clone()
	gemm(tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, a.data, a.ld, b.data, b.ld, tc.beta, got.data, got.ld)
	got.checkGuards(t, tc.String())
	tol := 1e-5 * float64(tc.k+4) * (math.Abs(float64(tc.alpha))*3 + math.Abs(float64(tc.beta))*3 + 1)
	for i := 0; i < tc.m; i++ {
		for j := 0; j < tc.n; j++ {
			g, w := got.data[i*got.ld+j], want.data[i*want.ld+j]
			if d := math.Abs(float64(g - w)); !(d <= tol*math.Max(1, math.Abs(float64(w)))) {
				t.Fatalf("%v: C[%d][%d] = %v; want %v (tol %g)", tc, i, j, g, w, tol)
			}
		}
	}
}

var transCombos = [][2]bool{{false, false}, {false, true}, {true, false}, {true, true}}

// oddSizes covers 1…130 with every residue modulo the tile sizes in use.
var oddSizes = []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 13, 14, 15, 16, 17, 23, 24, 25, 31, 32, 33, 47, 48, 49, 63, 64, 65, 95, 96, 97, 127, 128, 129, 130}

func gemmCases(short bool) []gemmCase {
	var cases []gemmCase
	sizes := oddSizes
	if short {
		sizes = []int{1, 3, 7, 13, 17, 33, 65, 130}
	}
	i := 0
	scalars := [][2]float32{{1, 0}, {1, 1}, {0.5, -1.5}, {-2, 0}, {0, 2}, {1.25, 1}}
	for _, tr := range transCombos {
		for _, m := range sizes {
			for _, n := range sizes {
				// k runs over the sizes too, but not all k for every (m,
				// n): a rotating pick keeps the case count sane while every
				// residue of m, n and k meets every transpose pair.
				for _, k := range []int{sizes[i%len(sizes)], sizes[(i*7+3)%len(sizes)]} {
					s := scalars[i%len(scalars)]
					cases = append(cases, gemmCase{tr[0], tr[1], m, n, k, s[0], s[1], i % 3 * 5})
					i++
				}
			}
		}
		// Big shapes: several k blocks, several m blocks and threads.
		// {70, 1100, 1030} needs two column blocks of packed B.
		for _, sh := range [][3]int{{300, 260, 700}, {517, 33, 1030}, {65, 3100, 40}, {70, 1100, 1030}} {
			s := scalars[i%len(scalars)]
			cases = append(cases, gemmCase{tr[0], tr[1], sh[0], sh[1], sh[2], s[0], s[1], 1})
			i++
		}
		cases = append(cases, gemmCase{tr[0], tr[1], 0, 5, 5, 1, 1, 0}, gemmCase{tr[0], tr[1], 5, 0, 5, 1, 1, 0}, gemmCase{tr[0], tr[1], 5, 5, 0, 1, 0.5, 0})
	}
	return cases
}

func TestGemm(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, tc := range gemmCases(testing.Short()) {
		runCase(t, rng, tc, Gemm)
	}
}

// TestGemmKernels runs every microkernel this machine supports (assembly and
// the portable Go one) through the blocked driver against the reference.
func TestGemmKernels(t *testing.T) {
	for _, kern := range kernels() {
		t.Run(kern.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(3, 4))
			gemm := func(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
				gemmBlocked(kern, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, nil, ActNone, nil)
			}
			for _, tc := range gemmCases(true) {
				runCase(t, rng, tc, gemm)
			}
		})
	}
}

// TestKernelTile calls each microkernel directly on one tile and compares it
// with the portable Go arithmetic, for both store modes.
func TestKernelTile(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, kern := range kernels() {
		for _, kc := range []int{1, 2, 3, 4, 5, 7, 8, 64, 255} {
			for _, load := range []bool{false, true} {
				mr, nr := kern.mr, kern.nr
				a := make([]float32, kc*mr)
				b := make([]float32, kc*nr)
				for i := range a {
					a[i] = float32(rng.NormFloat64())
				}
				for i := range b {
					b[i] = float32(rng.NormFloat64())
				}
				ldc := nr + 3
				c := newGuarded(rng, mr, nr, ldc)
				want := c.clone()
				for i := 0; i < mr; i++ {
					for j := 0; j < nr; j++ {
						var s float64
						for p := 0; p < kc; p++ {
							s += float64(a[p*mr+i]) * float64(b[p*nr+j])
						}
						v := float32(0.75 * s)
						if load {
							v += want.data[i*ldc+j]
						}
						want.data[i*ldc+j] = v
					}
				}
				kern.fn(kc, a, 1, mr, b, c.data, ldc, 0.75, load, nil)
				c.checkGuards(t, kern.name)
				for i := 0; i < mr; i++ {
					for j := 0; j < nr; j++ {
						g, w := c.data[i*ldc+j], want.data[i*ldc+j]
						if math.Abs(float64(g-w)) > 1e-5*float64(kc+2)*math.Max(1, math.Abs(float64(w))) {
							t.Fatalf("%s kc=%d load=%v: c[%d][%d] = %v; want %v", kern.name, kc, load, i, j, g, w)
						}
					}
				}
			}
		}
	}
}

// TestGemmThreadsBitIdentical checks that the result does not depend on the
// number of threads, bit for bit: k is never split across threads.
func TestGemmThreadsBitIdentical(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	old := parallel.Threads()
	defer parallel.SetThreads(old)
	for _, kern := range kernels() {
		for _, tr := range transCombos {
			for _, sh := range [][3]int{{256, 512, 784}, {256, 64, 256}, {512, 784, 256}, {37, 1000, 300}, {129, 65, 513}, {40, 1100, 1030}} {
				m, n, k := sh[0], sh[1], sh[2]
				a := make([]float32, m*k)
				b := make([]float32, k*n)
				c0 := make([]float32, m*n)
				for i := range a {
					a[i] = float32(rng.NormFloat64())
				}
				for i := range b {
					b[i] = float32(rng.NormFloat64())
				}
				for i := range c0 {
					c0[i] = float32(rng.NormFloat64())
				}
				lda, ldb := k, n
				if tr[0] {
					lda = m
				}
				if tr[1] {
					ldb = k
				}
				var results [][]float32
				for _, th := range []int{1, 2, 3} {
					parallel.SetThreads(th)
					c := append([]float32(nil), c0...)
					gemmBlocked(kern, tr[0], tr[1], m, n, k, 0.7, a, lda, b, ldb, 1.3, c, n, nil, ActNone, nil)
					results = append(results, c)
				}
				for r := 1; r < len(results); r++ {
					for i := range results[0] {
						if math.Float32bits(results[r][i]) != math.Float32bits(results[0][i]) {
							t.Fatalf("%s %v %v: C[%d] = %v with %d threads, %v with 1", kern.name, tr, sh, i, results[r][i], r+1, results[0][i])
						}
					}
				}
			}
		}
	}
}

func TestGemmNoAlloc(t *testing.T) {
	runtime.GC() // buffers must survive collections
	const m, n, k = 256, 512, 784
	a := make([]float32, m*k)
	b := make([]float32, k*n)
	c := make([]float32, m*n)
	for _, th := range []int{1, 2} {
		old := parallel.SetThreads(th)
		for _, tr := range transCombos {
			lda, ldb := k, n
			if tr[0] {
				lda = m
			}
			if tr[1] {
				ldb = k
			}
			f := func() { Gemm(tr[0], tr[1], m, n, k, 1, a, lda, b, ldb, 1, c, n) }
			f() // warm up: sizes the reused buffers
			if allocs := testing.AllocsPerRun(10, f); allocs != 0 {
				t.Errorf("threads=%d trans=%v: Gemm allocates %v times per call; want 0", th, tr, allocs)
			}
		}
		parallel.SetThreads(old)
	}
}

// TestGemmTransposeIdentity checks (AB)ᵀ = BᵀAᵀ through the fast path.
func TestGemmTransposeIdentity(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	const m, n, k = 70, 45, 90
	a := newGuarded(rng, m, k, k).data
	b := newGuarded(rng, k, n, n).data
	ab := make([]float32, m*n)
	btat := make([]float32, n*m)
	Gemm(false, false, m, n, k, 1, a, k, b, n, 0, ab, n)
	Gemm(true, true, n, m, k, 1, b, n, a, k, 0, btat, m)
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			if d := math.Abs(float64(ab[i*n+j] - btat[j*m+i])); d > 1e-4 {
				t.Fatalf("(AB)[%d][%d] = %v, (BᵀAᵀ)[%d][%d] = %v", i, j, ab[i*n+j], j, i, btat[j*m+i])
			}
		}
	}
}

func TestGemmPanics(t *testing.T) {
	for _, tc := range []struct {
		name string
		f    func()
	}{
		{"short a", func() {
			Gemm(false, false, 2, 2, 2, 1, make([]float32, 3), 2, make([]float32, 4), 2, 0, make([]float32, 4), 2)
		}},
		{"short c", func() {
			Gemm(false, false, 2, 2, 2, 1, make([]float32, 4), 2, make([]float32, 4), 2, 0, make([]float32, 3), 2)
		}},
		{"bad ldc", func() {
			Gemm(false, false, 2, 2, 2, 1, make([]float32, 4), 2, make([]float32, 4), 2, 0, make([]float32, 4), 1)
		}},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", tc.name)
				}
			}()
			tc.f()
		}()
	}
}

// TestGemmConcurrent runs Gemm from several goroutines at once: all but one
// find the worker pool busy and run serially. Run it with -race.
func TestGemmConcurrent(t *testing.T) {
	const m, n, k = 100, 90, 300
	rng := rand.New(rand.NewPCG(11, 12))
	a := newGuarded(rng, m, k, k).data
	b := newGuarded(rng, k, n, n).data
	want := make([]float32, m*n)
	Gemm(false, false, m, n, k, 1, a, k, b, n, 0, want, n)
	errs := make(chan string, 4)
	for g := 0; g < 4; g++ {
		go func() {
			c := make([]float32, m*n)
			for it := 0; it < 20; it++ {
				Gemm(false, false, m, n, k, 1, a, k, b, n, 0, c, n)
				for i := range c {
					if c[i] != want[i] {
						errs <- fmt.Sprintf("C[%d] = %v; want %v", i, c[i], want[i])
						return
					}
				}
			}
			errs <- ""
		}()
	}
	for g := 0; g < 4; g++ {
		if e := <-errs; e != "" {
			t.Error(e)
		}
	}
}
