package f32

import (
	"math"
	"sync"

	"github.com/bottleneck-ml/bottleneck/internal/parallel"
)

// # Int8 products (GemmQ8)
//
// Reduced-precision inference multiplies int8 weights by int8 activations
// with int32 sums (AVX512_VNNI's VPDPBUSD: 64 multiply-adds per
// instruction, four times the float32 FMA's 16; on this project's Xeon it
// issues as fast as an FMA, where AVX512_BF16's VDPBF16PS issues at a
// quarter of that rate, slower than float32: scripts/peak-dot.c). The
// scheme is the usual one of
// inference runtimes:
//
//   - weights per output column j: scale sw[j] = max|B[:,j]|/127,
//     w = clamp(RNE(B·127/max), ±127), stored as the uint8 w+128 (VPDPBUSD
//     multiplies an unsigned byte by a signed one);
//   - activations per row i, quantised as each product starts: scale
//     sx[i] = max|A[i,:]|/127, x = clamp(RNE(A·127/max), ±127), int8;
//   - C[i][j] = float32(Σ_k x·(w+128) − 128·Σ_k x) · sw[j] · sx[i] + bias[j],
//     each operation rounded to float32 in that order, then the activation.
//
// The sums are exact (|Σ| ≤ k·255·127 < 2³¹ for k < 66,000), so the
// assembly kernel and its Go twin (kernQ8Generic) give the same bits, which
// the tests check; without AVX512_VNNI (or with -tags noasm) the twin runs.

// q8MR and q8NR are the int8 register tile: 14 rows × 32 columns.
const (
	q8MR = 14
	q8NR = 32
	// q8MaxK bounds k: Σ of k products of 255·127 stays below 2³¹.
	q8MaxK = 65536
)

// QuantB is the B operand of a GEMM quantised to int8 per column and
// packed for GemmQ8 (the weights of a layer at inference). The zero value
// is empty; Quantize fills it.
type QuantB struct {
	k, n, k4 int
	panels   int
	data     []uint8   // per 32-column panel: k4 steps of 32 columns × 4 bytes, w+128
	scale    []float32 // per column, panels·32 (0 in the padding)
}

// K is the number of rows of the quantised op(B).
func (q *QuantB) K() int { return q.k }

// N is the number of columns of the quantised op(B).
func (q *QuantB) N() int { return q.n }

// Quantize quantises op(B) (k×n; B is n×k when transB) into q, reusing
// its memory. k must be below 65,536.
func (q *QuantB) Quantize(transB bool, k, n int, b []float32, ldb int) {
	if k < 0 || n < 0 || k >= q8MaxK {
		panic(errPrefix + "QuantB: k out of range")
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
	at := func(p, j int) float32 {
		if transB {
			return b[j*ldb+p]
		}
		return b[p*ldb+j]
	}
	q.k, q.n, q.k4 = k, n, (k+3)/4
	q.panels = (n + q8NR - 1) / q8NR
	q.data = growBytes(q.data, q.panels*q.k4*q8NR*4)
	q.scale = growFloats(q.scale, q.panels*q8NR)
	for i := range q.data {
		q.data[i] = 128 // zero weights in the padding
	}
	clear(q.scale)
	for j := 0; j < n; j++ {
		var amax float32
		for p := 0; p < k; p++ {
			if a := abs32(at(p, j)); a > amax {
				amax = a
			}
		}
		if amax == 0 || math.IsInf(float64(amax), 0) {
			continue // all zeros (or unusable): scale 0
		}
		inv := 127 / amax
		q.scale[j] = amax / 127
		s, jj := j/q8NR, j%q8NR
		panel := q.data[s*q.k4*q8NR*4:]
		for p := 0; p < k; p++ {
			panel[(p/4)*q8NR*4+jj*4+p%4] = uint8(quant8(at(p, j)*inv) + 128)
		}
	}
}

func abs32(x float32) float32 { return math.Float32frombits(math.Float32bits(x) &^ (1 << 31)) }

// quant8 is VCVTPS2DQ (round to nearest even; NaN and out-of-range values
// give -2³¹) clamped to [-127, 127].
func quant8(p float32) int32 {
	f := float64(p)
	v := int32(math.MinInt32)
	if f == f && f > -2147483648.5 && f < 2147483647.5 {
		v = int32(math.RoundToEven(f))
	}
	return min(127, max(-127, v))
}

func growBytes(s []uint8, n int) []uint8 {
	if cap(s) < n {
		return make([]uint8, n)
	}
	return s[:n]
}

func growFloats(s []float32, n int) []float32 {
	if cap(s) < n {
		return make([]float32, n)
	}
	return s[:n]
}

// absMaxGeneric is max |x[i]|, NaNs skipped (absMaxAVX512's order: any
// order gives the same maximum).
func absMaxGeneric(m float32, x []float32) float32 {
	for _, v := range x {
		if a := abs32(v); a > m {
			m = a
		}
	}
	return m
}

// quantQ8Generic sets dst[i] = quant8(x[i]·inv) and returns their sum.
func quantQ8Generic(x []float32, inv float32, dst []int8) int32 {
	var s int32
	dst = dst[:len(x)]
	for i, v := range x {
		q := quant8(v * inv)
		dst[i] = int8(q)
		s += q
	}
	return s
}

// quantRow quantises the activations x (one row) into dst (len(x) rounded
// up to 4, the rest zeroed) and returns the scale and the correction
// 128·Σ dst.
func quantRow(x []float32, dst []int8) (scale float32, comp int32) {
	amax := absMax(x)
	clear(dst[len(x):])
	var inv float32
	if amax != 0 && !math.IsInf(float64(amax), 0) {
		inv = 127 / amax
		scale = amax / 127
	}
	return scale, 128 * quantQ8(x, inv, dst)
}

// quantRowsGeneric is quantRow over n rows of k floats of x (row stride
// ldx) into the rows of dst (stride ldd), sx and comp: the Go twin of
// quantRowsAVX512.
func quantRowsGeneric(x []float32, ldx, n, k int, dst []int8, ldd int, sx []float32, comp []int32) {
	for i := 0; i < n; i++ {
		sx[i], comp[i] = quantRow(x[i*ldx:i*ldx+k], dst[i*ldd:(i+1)*ldd])
	}
}

// kernQ8Generic is the Go twin of kernQ8AVX512: the 14×32 tile
// c[i][j] = float32(Σ a·b − comp[i])·sw[j]·sx[i] (+ bias[j]), a row i at
// a[i·lda:], b k4 steps of 32×4 bytes.
func kernQ8Generic(k4 int, a []int8, lda int, b []uint8, c []float32, ldc int, sx []float32, comp []int32, sw, bias []float32) {
	for i := 0; i < q8MR; i++ {
		row := a[i*lda : i*lda+4*k4]
		for j := 0; j < q8NR; j++ {
			var acc int32
			for q := 0; q < k4; q++ {
				bq := b[q*q8NR*4+j*4 : q*q8NR*4+j*4+4]
				aq := row[4*q : 4*q+4]
				acc += int32(aq[0])*int32(bq[0]) + int32(aq[1])*int32(bq[1]) + int32(aq[2])*int32(bq[2]) + int32(aq[3])*int32(bq[3])
			}
			v := float32(acc - comp[i])
			v = float32(v * sw[j])
			v = float32(v * sx[i])
			if bias != nil {
				v += bias[j]
			}
			c[i*ldc+j] = v
		}
	}
}

// q8Ctx is the scratch of one GemmQ8 call; reused through q8Free.
type q8Ctx struct {
	m, n, k4 int
	a        []float32
	lda      int
	q        *QuantB
	bias     []float32
	act      Act
	c        []float32
	ldc      int
	panels   int
	qa       [][]int8    // per worker: its rows quantised, row stride 4·k4
	sx       [][]float32 // per worker: row scales
	comp     [][]int32   // per worker: row corrections
	tmp      [][]float32 // per worker: an edge tile
}

var q8Free = make(chan *q8Ctx, 8)

// q8Max is the largest scratch any int8 product has needed; contexts grow
// to it all at once, as the float32 ones do (see ctxMax).
var q8Max struct {
	sync.Mutex
	rows, ld, workers int
}

func (g *q8Ctx) fits(rows, ld, workers int) bool {
	if len(g.qa) < workers {
		return false
	}
	for w := 0; w < workers; w++ {
		if cap(g.qa[w]) < rows*ld || cap(g.sx[w]) < rows {
			return false
		}
	}
	return true
}

func (g *q8Ctx) growTo() {
	m := &q8Max
	for len(g.qa) < m.workers {
		g.qa = append(g.qa, nil)
		g.sx = append(g.sx, nil)
		g.comp = append(g.comp, nil)
		g.tmp = append(g.tmp, make([]float32, q8MR*q8NR))
	}
	for w := range g.qa {
		if cap(g.qa[w]) < m.rows*m.ld {
			g.qa[w] = make([]int8, m.rows*m.ld)
		}
		if cap(g.sx[w]) < m.rows {
			g.sx[w], g.comp[w] = make([]float32, m.rows), make([]int32, m.rows)
		}
	}
}

func (g *q8Ctx) fit(rows, ld, workers int) {
	if g.fits(rows, ld, workers) {
		return
	}
	m := &q8Max
	m.Lock()
	defer m.Unlock()
	m.rows, m.ld, m.workers = max(m.rows, rows), max(m.ld, ld), max(m.workers, workers)
	g.growTo()
	idle := len(q8Free)
	for i := 0; i < idle; i++ {
		select {
		case c := <-q8Free:
			c.growTo()
			q8Free <- c
		default:
		}
	}
	for i := idle + 1; i < min(parallel.Threads(), cap(q8Free)); i++ {
		c := new(q8Ctx)
		c.growTo()
		select {
		case q8Free <- c:
		default:
		}
	}
}

// GemmQ8 computes C = A·B + bias, then act, with A (m×k, row-major, row
// stride lda) quantised per row as the product runs and B quantised by q
// (see QuantB); bias may be nil. The result does not depend on
// parallel.Threads().
func GemmQ8(m int, a []float32, lda int, q *QuantB, bias []float32, act Act, c []float32, ldc int) {
	n, k := q.n, q.k
	switch {
	case m < 0:
		panic(errPrefix + "negative dimension m")
	case lda < max(1, k) || ldc < max(1, n):
		panic(errPrefix + "bad leading dimension lda or ldc")
	case m > 0 && k > 0 && len(a) < (m-1)*lda+k:
		panic(errPrefix + "insufficient length of a")
	case m > 0 && n > 0 && len(c) < (m-1)*ldc+n:
		panic(errPrefix + "insufficient length of c")
	case bias != nil && len(bias) < n:
		panic(errPrefix + "insufficient length of bias")
	}
	if m == 0 || n == 0 {
		return
	}
	var g *q8Ctx
	select {
	case g = <-q8Free:
	default:
		g = new(q8Ctx)
	}
	g.m, g.n, g.k4, g.a, g.lda, g.q, g.bias, g.act, g.c, g.ldc = m, n, q.k4, a, lda, q, bias, act, c, ldc
	g.panels = (m + q8MR - 1) / q8MR
	threads := parallel.Threads()
	if m*n*k < 4*parMinMACs {
		threads = 1
	}
	workers := min(threads, g.panels)
	share := (g.panels + workers - 1) / workers
	// Every worker's scratch can hold all the rows: a Run nested in another
	// parallel region gives one worker every panel.
	g.fit(g.panels*q8MR, 4*g.k4, workers)
	parallel.Run(g.panels, share, g)
	g.a, g.q, g.bias, g.c = nil, nil, nil, nil
	select {
	case q8Free <- g:
	default:
	}
}

// Do computes the row panels [lo, hi): quantises their rows, then runs
// every column panel over them (each B panel stays in L1 while the rows
// pass), then applies the activation.
func (g *q8Ctx) Do(w, lo, hi int) {
	r0, r1 := lo*q8MR, min(hi*q8MR, g.m)
	ld := 4 * g.k4
	k := g.q.k
	rows := (hi - lo) * q8MR
	qa := g.qa[w][:rows*ld]
	sx, comp := g.sx[w][:rows], g.comp[w][:rows]
	quantRows(g.a[r0*g.lda:], g.lda, r1-r0, k, qa, ld, sx, comp)
	for i := r1 - r0; i < (hi-lo)*q8MR; i++ {
		clear(qa[i*ld : (i+1)*ld])
		sx[i], comp[i] = 0, 0
	}
	tmp := g.tmp[w]
	qb := g.q
	for s := 0; s < qb.panels; s++ {
		j0 := s * q8NR
		nb := min(q8NR, g.n-j0)
		bp := qb.data[s*qb.k4*q8NR*4 : (s+1)*qb.k4*q8NR*4]
		sw := qb.scale[j0 : j0+q8NR]
		var bias []float32
		if g.bias != nil {
			bias = g.bias[j0 : j0+nb]
		}
		for p := lo; p < hi; p++ {
			i0 := p * q8MR
			mb := min(q8MR, g.m-i0)
			off := (p - lo) * q8MR
			a := qa[off*ld:]
			if mb == q8MR && nb == q8NR {
				kernQ8(g.k4, a, ld, bp, g.c[i0*g.ldc+j0:], g.ldc, sx[off:], comp[off:], sw, bias)
				continue
			}
			kernQ8(g.k4, a, ld, bp, tmp, q8NR, sx[off:], comp[off:], sw, nil)
			for i := 0; i < mb; i++ {
				crow := g.c[(i0+i)*g.ldc+j0 : (i0+i)*g.ldc+j0+nb]
				trow := tmp[i*q8NR : i*q8NR+nb]
				if bias == nil {
					copy(crow, trow)
					continue
				}
				for j, v := range trow {
					crow[j] = v + bias[j]
				}
			}
		}
	}
	if g.act != ActNone {
		for i := r0; i < r1; i++ {
			applyAct(g.act, g.c[i*g.ldc:i*g.ldc+g.n])
		}
	}
}
