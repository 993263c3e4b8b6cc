package f32

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/bottleneck-ml/bottleneck/internal/parallel"
)

// ulps is the distance between a and b in units in the last place (0 for
// two NaNs, large when only one is NaN or the signs differ).
func ulps(a, b float32) int64 {
	if a != a || b != b {
		if a != a && b != b {
			return 0
		}
		return math.MaxInt64
	}
	ord := func(f float32) int64 {
		u := int64(math.Float32bits(f))
		if u&(1<<31) != 0 {
			return -(u &^ (1 << 31))
		}
		return u
	}
	d := ord(a) - ord(b)
	if d < 0 {
		d = -d
	}
	return d
}

func sweep() []float32 {
	xs := []float32{0, float32(math.Copysign(0, -1)), 1, -1, 1e-30, -1e-30, 1e-45, -1e-45,
		88.7, 88.72283, 88.72284, 88.8, 89, 100, -87.3, -87.34, -100, -103.9, -103.98, -104, -120,
		float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()), math.MaxFloat32, -math.MaxFloat32}
	for x := -110.0; x <= 95; x += 0.00137 {
		xs = append(xs, float32(x))
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		xs = append(xs, float32(rng.NormFloat64()*3))
	}
	return xs
}

// TestExpAccuracy checks Exp against math.Exp over a sweep of [-110, 95]
// and special values: within 2 ulp (also for subnormal results), 0 below
// -104, +Inf above 88.73, NaN for NaN.
func TestExpAccuracy(t *testing.T) {
	xs := sweep()
	got := make([]float32, len(xs))
	Exp(got, xs)
	var worst int64
	for i, x := range xs {
		want := float32(math.Exp(float64(x)))
		if g := expScalar(x); math.Float32bits(g) != math.Float32bits(got[i]) && !(g != g && got[i] != got[i]) {
			t.Fatalf("Exp(%g) = %g, expScalar = %g: asm and Go differ", x, got[i], g)
		}
		u := ulps(got[i], want)
		worst = max(worst, u)
		if u > 2 {
			t.Errorf("Exp(%g) = %g; want %g (%d ulp)", x, got[i], want, u)
		}
	}
	t.Logf("max error %d ulp over %d values", worst, len(xs))
}

// TestSigmoidAccuracy checks Sigmoid against the float64 logistic function:
// within 3 ulp everywhere, NaN for NaN.
func TestSigmoidAccuracy(t *testing.T) {
	xs := sweep()
	got := make([]float32, len(xs))
	Sigmoid(got, xs)
	var worst int64
	for i, x := range xs {
		xv := float64(x)
		var want float32
		if xv >= 0 {
			want = float32(1 / (1 + math.Exp(-xv)))
		} else {
			e := math.Exp(xv)
			want = float32(e / (1 + e))
		}
		if math.IsNaN(xv) {
			want = float32(math.NaN())
		}
		u := ulps(got[i], want)
		worst = max(worst, u)
		if u > 3 {
			t.Errorf("Sigmoid(%g) = %g; want %g (%d ulp)", x, got[i], want, u)
		}
		if s := SigmoidScalar(x); math.Float32bits(s) != math.Float32bits(got[i]) && !(s != s && got[i] != got[i]) {
			t.Fatalf("SigmoidScalar(%g) = %g, Sigmoid %g", x, s, got[i])
		}
	}
	t.Logf("max error %d ulp over %d values", worst, len(xs))
}

func randVec(rng *rand.Rand, n int, scale float64) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(rng.NormFloat64() * scale)
	}
	return v
}

// elemCase runs one elementwise op writing into its first argument.
type elemCase struct {
	name string
	nIn  int // inputs besides the destination
	run  func(dst []float32, in [][]float32)
}

var elemCases = []elemCase{
	{"Exp", 1, func(d []float32, in [][]float32) { Exp(d, in[0]) }},
	{"Sigmoid", 1, func(d []float32, in [][]float32) { Sigmoid(d, in[0]) }},
	{"SigmoidBackward", 2, func(d []float32, in [][]float32) { SigmoidBackward(d, in[0], in[1]) }},
	{"ReLU", 1, func(d []float32, in [][]float32) { ReLU(d, in[0]) }},
	{"ReLUBackward", 2, func(d []float32, in [][]float32) { ReLUBackward(d, in[0], in[1]) }},
	{"MSEGrad", 2, func(d []float32, in [][]float32) { MSEGrad(d, in[0], in[1], 0.37) }},
	{"Adam", 3, func(d []float32, in [][]float32) {
		h := AdamHyper{Decay: 0.999, L2: 0.01, B1: 0.9, C1: 0.1, B2: 0.999, C2: 0.001, Bc2Sqrt: 0.0447, Eps: 1e-8, NegStep: -0.0105}
		for i := range in[2] {
			in[2][i] = float32(math.Abs(float64(in[2][i]))) // v ≥ 0
		}
		Adam(d, in[0], in[1], in[2], &h)
	}},
	// Moments at the bottom of the float32 range, half of them with a zero
	// gradient: they land on, start from or decay into subnormals, which
	// the update flushes to zero.
	{"AdamSubnormal", 3, func(d []float32, in [][]float32) {
		h := AdamHyper{Decay: 1, B1: 0.9, C1: 0.1, B2: 0.999, C2: 0.001, Bc2Sqrt: 0.0447, Eps: 1e-8, NegStep: -0.0105}
		subnormalMoments(in[0], in[1], in[2])
		Adam(d, in[0], in[1], in[2], &h)
	}},
}

// subnormalMoments scales m and v into [0, ~4e-38], so that about a third
// of them are subnormal, and zeroes every other gradient.
func subnormalMoments(g, m, v []float32) {
	for i := range m {
		if i%2 == 0 && i < len(g) {
			g[i] = 0
		}
		m[i] *= 1e-38
	}
	for i := range v {
		v[i] = float32(math.Abs(float64(v[i]))) * 1e-38
	}
}

// runElem runs c on a copy of buf, with destination [off, off+n), and on
// copies of the inputs; it returns every output (the whole buffer and, for
// Adam, m and v).
func runElem(c elemCase, buf []float32, off, n int, in [][]float32) [][]float32 {
	d := append([]float32(nil), buf...)
	cp := make([][]float32, len(in))
	for i := range in {
		cp[i] = append([]float32(nil), in[i]...)
	}
	c.run(d[off:off+n], cp)
	return append([][]float32{d}, cp...)
}

func sameBits(a, b []float32) int {
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) && !(a[i] != a[i] && b[i] != b[i]) {
			return i
		}
	}
	return -1
}

// TestElemAsmGeneric compares every elementwise op with the assembly on and
// off, bit for bit, on lengths 0…130 and ones the workers split, at
// unaligned starts, with inputs longer than the destination and guard cells
// after it that must stay untouched; and with 1 and 2 threads.
func TestElemAsmGeneric(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	lens := []int{}
	for n := 0; n <= 130; n++ {
		lens = append(lens, n)
	}
	lens = append(lens, 1<<14+5, 1<<16+37, 1<<18+3)
	defer func(asm bool) { useElemAsm = asm }(useElemAsm)
	asm := useElemAsm
	for _, c := range elemCases {
		for _, n := range lens {
			off := n % 3
			buf := randVec(rng, n+off+pad, 4)
			for i := n + off; i < len(buf); i++ {
				buf[i] = float32(math.NaN())
			}
			in := make([][]float32, c.nIn)
			for i := range in {
				in[i] = randVec(rng, n+2, 4)[1:] // unaligned, longer than dst
			}
			if n > 4 {
				in[0][1], in[0][2], in[0][3] = float32(math.NaN()), float32(math.Copysign(0, -1)), 0
			}
			useElemAsm = false
			want := runElem(c, buf, off, n, in)
			useElemAsm = asm
			for _, threads := range []int{1, 2} {
				old := parallel.SetThreads(threads)
				got := runElem(c, buf, off, n, in)
				parallel.SetThreads(old)
				for i := n + off; i < len(buf); i++ {
					if !math.IsNaN(float64(got[0][i])) {
						t.Fatalf("%s n=%d: guard cell %d written", c.name, n, i-n-off)
					}
				}
				for k := range got {
					if i := sameBits(got[k], want[k]); i >= 0 {
						t.Fatalf("%s n=%d threads=%d: output %d [%d] = %v; generic %v", c.name, n, threads, k, i, got[k][i], want[k][i])
					}
				}
			}
		}
	}
}

// TestColSum compares ColSum with a plain loop over the rows, bit for bit,
// on odd shapes, leaving the cells after dst untouched.
func TestColSum(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	defer func(asm bool) { useElemAsm = asm }(useElemAsm)
	asm := useElemAsm
	for _, rows := range []int{0, 1, 2, 7, 64, 129} {
		for _, cols := range []int{1, 3, 15, 16, 17, 31, 32, 33, 64, 100, 130} {
			x := randVec(rng, rows*cols+3, 1)
			buf := randVec(rng, cols+pad, 1)
			for i := cols; i < len(buf); i++ {
				buf[i] = float32(math.NaN())
			}
			want := append([]float32(nil), buf...)
			for i := 0; i < rows; i++ {
				for j := 0; j < cols; j++ {
					want[j] += x[i*cols+j]
				}
			}
			for _, a := range []bool{false, asm} {
				useElemAsm = a
				got := append([]float32(nil), buf...)
				ColSum(got[:cols], x, rows)
				if i := sameBits(got, want); i >= 0 {
					t.Fatalf("ColSum rows=%d cols=%d asm=%v: [%d] = %v; want %v", rows, cols, a, i, got[i], want[i])
				}
			}
		}
	}
}

// TestSqDiffSum compares SqDiffSum with the assembly on and off, bit for
// bit, and with a plain float64 sum to rounding.
func TestSqDiffSum(t *testing.T) {
	rng := rand.New(rand.NewPCG(17, 18))
	defer func(a bool) { useElemAsm = a }(useElemAsm)
	asm := useElemAsm
	for _, n := range []int{0, 1, 15, 16, 17, 100, 1000, 200704} {
		p, q := randVec(rng, n, 1), randVec(rng, n+3, 1)
		var plain float64
		for i := range p {
			d := float64(p[i] - q[i])
			plain += d * d
		}
		useElemAsm = false
		want := SqDiffSum(p, q)
		useElemAsm = asm
		got := SqDiffSum(p, q)
		if got != want {
			t.Fatalf("SqDiffSum n=%d = %v; generic %v", n, got, want)
		}
		if math.Abs(got-plain) > 1e-12*math.Max(1, plain) {
			t.Fatalf("SqDiffSum n=%d = %v; plain sum %v", n, got, plain)
		}
	}
}

// TestAdamReference checks Adam against the update written out in float64
// for one step: agreement to float32 rounding.
func TestAdamReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	const n = 1000
	p, g := randVec(rng, n, 1), randVec(rng, n, 1)
	m, v := make([]float32, n), make([]float32, n)
	lr, b1, b2, eps := 1e-3, 0.9, 0.999, 1e-8
	h := AdamHyper{Decay: 1, B1: float32(b1), C1: float32(1 - b1), B2: float32(b2), C2: float32(1 - b2),
		Bc2Sqrt: float32(math.Sqrt(1 - b2)), Eps: float32(eps), NegStep: float32(-lr / (1 - b1))}
	want := make([]float64, n)
	for i := range p {
		gi := float64(g[i])
		mh := (1 - b1) * gi / (1 - b1)
		vh := (1 - b2) * gi * gi / (1 - b2)
		want[i] = float64(p[i]) - lr*mh/(math.Sqrt(vh)+eps)
	}
	Adam(p, g, m, v, &h)
	for i := range p {
		if d := math.Abs(float64(p[i]) - want[i]); d > 1e-6*math.Max(1, math.Abs(want[i])) {
			t.Fatalf("Adam p[%d] = %v; want %v", i, p[i], want[i])
		}
	}
}

// TestAdamFlushesSubnormals checks that no moment is left subnormal (on
// the assembly's lanes and on the tail the Go code does), that zero
// gradients take subnormal moments to zero, and that the weights move as
// they would without the flush.
func TestAdamFlushesSubnormals(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	const n = 1000 + 7
	p, g, m, v := randVec(rng, n, 1), randVec(rng, n, 1), randVec(rng, n, 1), randVec(rng, n, 1)
	subnormalMoments(g, m, v)
	wasSub := make([]bool, n)
	subs := 0
	for i := range m {
		wasSub[i] = FlushSubnormal(m[i]) != m[i]
		if wasSub[i] {
			subs++
		}
	}
	if subs < n/10 {
		t.Fatalf("only %d of %d moments subnormal: the test does not test", subs, n)
	}
	h := AdamHyper{Decay: 1, B1: 0.9, C1: 0.1, B2: 0.999, C2: 0.001, Bc2Sqrt: 1, Eps: 1e-8, NegStep: -1e-3}
	p0 := append([]float32(nil), p...)
	Adam(p, g, m, v, &h)
	for i := range m {
		if FlushSubnormal(m[i]) != m[i] || FlushSubnormal(v[i]) != v[i] {
			t.Fatalf("element %d: m = %g, v = %g after the step; want no subnormal", i, m[i], v[i])
		}
		if g[i] == 0 && wasSub[i] && m[i] != 0 {
			t.Fatalf("element %d: zero gradient, subnormal m → %g; want 0", i, m[i])
		}
		if g[i] == 0 && p[i] != p0[i] {
			t.Fatalf("element %d: zero gradient moved p %v → %v", i, p0[i], p[i])
		}
	}
}

func TestElemNoAlloc(t *testing.T) {
	const n = 1<<18 + 5
	rng := rand.New(rand.NewPCG(9, 10))
	a, b, c, d := randVec(rng, n, 1), randVec(rng, n, 1), randVec(rng, n, 1), make([]float32, n)
	h := AdamHyper{Decay: 1, B1: 0.9, C1: 0.1, B2: 0.999, C2: 0.001, Bc2Sqrt: 1, Eps: 1e-8, NegStep: -1e-3}
	Adam(a, b, c, d, &h)
	if allocs := testing.AllocsPerRun(5, func() {
		Sigmoid(d, a)
		ReLUBackward(d, a, b)
		Adam(a, b, c, d, &h)
		ColSum(d[:100], a, 1000)
	}); allocs != 0 {
		t.Errorf("elementwise ops: %v allocations; want 0", allocs)
	}
}

func BenchmarkElem(b *testing.B) {
	rng := rand.New(rand.NewPCG(11, 12))
	const n = 256 * 784
	x, y, z := randVec(rng, n, 2), randVec(rng, n, 1), make([]float32, n)
	for _, c := range []struct {
		name string
		f    func()
	}{
		{"Sigmoid", func() { Sigmoid(z, x) }},
		{"ReLU", func() { ReLU(z, x) }},
		{"ReLUBackward", func() { ReLUBackward(z, x, y) }},
		{"ColSum", func() { ColSum(z[:784], x, 256) }},
	} {
		for _, asm := range []bool{true, false} {
			name := c.name
			if !asm {
				name += "/generic"
			}
			b.Run(name, func(b *testing.B) {
				defer func(a bool) { useElemAsm = a }(useElemAsm)
				useElemAsm = useElemAsm && asm
				b.ReportAllocs()
				for b.Loop() {
					c.f()
				}
				b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds()/1e9, "Gelem/s")
			})
		}
	}
	b.Run("SigmoidFloat64", func(b *testing.B) {
		// The loop nn.Sigmoid ran before: float64 math.Exp per element.
		for b.Loop() {
			for i, v := range x {
				if v >= 0 {
					z[i] = float32(1 / (1 + math.Exp(-float64(v))))
				} else {
					e := math.Exp(float64(v))
					z[i] = float32(e / (1 + e))
				}
			}
		}
	})
	for _, asm := range []bool{true, false} {
		name := "Adam1.1M"
		if !asm {
			name += "/generic"
		}
		b.Run(name, func(b *testing.B) {
			defer func(a bool) { useElemAsm = a }(useElemAsm)
			useElemAsm = useElemAsm && asm
			const n = 1_100_112
			p, g, m, v := randVec(rng, n, 1), randVec(rng, n, 1), make([]float32, n), make([]float32, n)
			h := AdamHyper{Decay: 1, B1: 0.9, C1: 0.1, B2: 0.999, C2: 0.001, Bc2Sqrt: 1, Eps: 1e-8, NegStep: -1e-3}
			b.ReportAllocs()
			for b.Loop() {
				Adam(p, g, m, v, &h)
			}
		})
	}
}

// TestPackBTranspose compares the packing of a transposed B with the
// register transpose on and off: panels of 16 and 32 columns, full and
// edge, kc 1…70 and 196, at offsets into b, guard cells after the panel.
func TestPackBTranspose(t *testing.T) {
	defer func(a bool) { useTransposeAsm = a }(useTransposeAsm)
	asm := useTransposeAsm
	rng := rand.New(rand.NewPCG(15, 16))
	const ldb = 203
	b := randVec(rng, 80*ldb, 1)
	kcs := []int{196, 256}
	for kc := 1; kc <= 70; kc++ {
		kcs = append(kcs, kc)
	}
	for _, nr := range []int{16, 32} {
		for _, kc := range kcs {
			for _, nb := range []int{nr, nr - 3} {
				p0, j0 := kc%5, nb%7
				if p0+kc > ldb {
					p0 = 0
				}
				var out [2][]float32
				for i, a := range []bool{false, asm} {
					useTransposeAsm = a
					dst := make([]float32, kc*nr+pad)
					for i := kc * nr; i < len(dst); i++ {
						dst[i] = float32(math.NaN())
					}
					packB(dst[:kc*nr], true, b, ldb, p0, kc, j0, nb, nr)
					for i := kc * nr; i < len(dst); i++ {
						if !math.IsNaN(float64(dst[i])) {
							t.Fatalf("nr=%d kc=%d nb=%d: guard cell %d written", nr, kc, nb, i-kc*nr)
						}
					}
					out[i] = dst
				}
				if i := sameBits(out[0], out[1]); i >= 0 {
					t.Fatalf("nr=%d kc=%d nb=%d: packed[%d] = %v; generic %v", nr, kc, nb, i, out[1][i], out[0][i])
				}
				for p := 0; p < kc; p++ {
					for j := 0; j < nr; j++ {
						want := float32(0)
						if j < nb {
							want = b[(j0+j)*ldb+p0+p]
						}
						if out[1][p*nr+j] != want {
							t.Fatalf("nr=%d kc=%d nb=%d: packed[%d][%d] = %v; want %v", nr, kc, nb, p, j, out[1][p*nr+j], want)
						}
					}
				}
			}
		}
	}
}

// TestPackCopy compares packing a transposed A and an untransposed B (row
// copies) with the masked-move assembly on and off, for panel widths 1…32,
// full and edge panels, with guard cells after the panel.
func TestPackCopy(t *testing.T) {
	defer func(a bool) { useTransposeAsm = a }(useTransposeAsm)
	asm := useTransposeAsm
	rng := rand.New(rand.NewPCG(19, 20))
	const ld = 77
	src := randVec(rng, 300*ld, 1)
	for w := 1; w <= 32; w++ {
		for _, kc := range []int{1, 2, 13, 196, 256} {
			for _, nb := range []int{w, w - 1} {
				if nb < 1 {
					continue
				}
				p0, j0 := kc%3, 40-w
				var out [2][2][]float32
				for i, a := range []bool{false, asm} {
					useTransposeAsm = a
					for which := 0; which < 2; which++ {
						dst := make([]float32, kc*w+pad)
						for i := range dst {
							dst[i] = float32(math.NaN())
						}
						if which == 0 {
							packA(dst[:kc*w], true, src, ld, j0, nb, p0, kc, w)
						} else {
							packB(dst[:kc*w], false, src, ld, p0, kc, j0, nb, w)
						}
						for i := kc * w; i < len(dst); i++ {
							if !math.IsNaN(float64(dst[i])) {
								t.Fatalf("w=%d kc=%d nb=%d: guard cell %d written", w, kc, nb, i-kc*w)
							}
						}
						for p := 0; p < kc; p++ {
							for j := 0; j < w; j++ {
								want := float32(0)
								if j < nb {
									want = src[(p0+p)*ld+j0+j]
								}
								if g := dst[p*w+j]; g != want {
									t.Fatalf("which=%d asm=%v w=%d kc=%d nb=%d: [%d][%d] = %v; want %v", which, a, w, kc, nb, p, j, g, want)
								}
							}
						}
						out[i][which] = dst
					}
				}
			}
		}
	}
}
