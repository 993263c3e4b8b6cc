package f32

import (
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/bottleneck-ml/bottleneck/internal/parallel"
)

// Blocking parameters (see the package doc for how they were chosen). They
// bound the packed buffers: a packed A block is at most mcMax×kcMax floats,
// packed B (all of k for a block of columns) at most bMax floats. kcMax also fixes how the k dimension is cut into
// blocks, and so the order in which every element of C is accumulated: it
// must not depend on the thread count.
const (
	kcMax = 256
	mcMax = 336
	bMax  = 1 << 20

	// parMinMACs is the smallest product (m·n·k multiply-adds) that is
	// split across the workers: about 10 µs of one core, a few times what
	// waking a parked worker costs on an idle machine. (With both cores
	// busy with other processes a hand-off can take milliseconds; not
	// splitting dense-tabular's products, all just under 4 Mi, made it
	// robust to that but slower at the usual, moderate contention: 0.5–0.66
	// against 0.5–1.04 M samples/s, alternating runs.) The split never
	// changes the result.
	parMinMACs = 1 << 21
)

// A kernel is a microkernel with its register tile size. fn computes the
// mr×nr tile t = float32(alpha * Ap·Bp) from an A micro-panel whose element
// (i, p) is a[i*rsa+p*csa] and a packed B micro-panel (kc steps of nr
// values), and stores it into c (row stride ldc) as c = t, or c = c + t when
// load is set. A packed A micro-panel has rsa = 1, csa = mr; rows of an
// untransposed A are read in place with rsa = lda, csa = 1. kc ≥ 1.
// Every element is accumulated in p order starting from zero, so a tile's
// values do not depend on where the tile sits in C.
type kernel struct {
	name   string
	mr, nr int
	fn     func(kc int, a []float32, rsa, csa int, b, c []float32, ldc int, alpha float32, load bool, bias []float32)
}

// gemmCtx holds the state of one Gemm call and its packing buffers. Contexts
// are reused (ctxFree), so steady-state calls allocate nothing.
type gemmCtx struct {
	kern           *kernel
	transA, transB bool
	m, n, k        int
	alpha, beta    float32
	a, b, c        []float32
	lda, ldb, ldc  int
	bias           []float32 // GemmBias: added to every row instead of beta·C
	act            Act       // applied to each row block of C after its last k block
	pre            *PackedB  // B packed ahead (GemmPacked): no packing, no waiting

	mc, nblocks int  // row blocks of C
	splitN      bool // workers split the B micro-panels, not the row blocks
	kcStep      int  // k block size; the last block may be shorter
	jc, nc      int  // current column block of C
	bPanels     int  // B micro-panels in the column block
	gen         uint64

	bp      []float32       // packed B for the column block, all k blocks; shared
	bpOwn   []float32       // the context's own bp while bp is a PackedB's
	claimed []atomic.Uint64 // claimed[s] == gen once a worker has taken B micro-panel s to pack
	ready   []atomic.Uint64 // ready[s] == gen once B micro-panel s is packed
	abort   atomic.Bool     // a worker panicked: the others stop waiting
	ap      [][]float32     // packed A block, per worker
	tmp     [][]float32     // edge tile, per worker

	task gemmTask
}

type gemmTask struct{ g *gemmCtx }

// ctxFree keeps idle contexts with their buffers. Unlike a sync.Pool it is
// not emptied by the garbage collector, so a training loop keeps its
// buffers however much the rest of the program allocates. It holds as many
// contexts as Gemm calls have run at once, up to its capacity.
var ctxFree = make(chan *gemmCtx, 8)

func getCtx() *gemmCtx {
	select {
	case g := <-ctxFree:
		return g
	default:
		g := new(gemmCtx)
		g.task.g = g
		return g
	}
}

func putCtx(g *gemmCtx) {
	if g.pre != nil {
		g.bp, g.bpOwn = g.bpOwn, nil // never pack into a PackedB's memory
	}
	g.a, g.b, g.c, g.bias, g.pre = nil, nil, nil, nil, nil
	select {
	case ctxFree <- g:
	default:
	}
}

func grow(s []float32, n int) []float32 {
	if cap(s) < n {
		return make([]float32, n)
	}
	return s[:n]
}

// ctxMax is the largest scratch any context has needed. When a call needs
// more than its context holds, every context grows to the new largest
// sizes at once, the idle ones too, and the pool is filled up to the
// thread count: which context a call gets depends on which calls overlap
// (nested GEMMs of a parallel region run on its workers, or one after
// another on the caller when it takes the chunks no worker has started),
// so contexts that grew one by one would allocate now and then long after
// the warm-up.
var ctxMax struct {
	sync.Mutex
	bp, ap, panels, workers, tmp int
}

// fits reports whether g holds scratch for the given sizes.
func (g *gemmCtx) fits(bp, ap, panels, workers, tmp int) bool {
	if cap(g.bp) < bp || len(g.ready) < panels || len(g.ap) < workers {
		return false
	}
	for w := 0; w < workers; w++ {
		if cap(g.ap[w]) < ap || cap(g.tmp[w]) < tmp {
			return false
		}
	}
	return true
}

// growTo grows g's scratch to ctxMax (held by the caller).
func (g *gemmCtx) growTo() {
	m := &ctxMax
	if cap(g.bp) < m.bp {
		g.bp = make([]float32, m.bp)
	}
	if len(g.ready) < m.panels {
		g.ready = make([]atomic.Uint64, m.panels)
		g.claimed = make([]atomic.Uint64, m.panels)
	}
	for len(g.ap) < m.workers {
		g.ap = append(g.ap, nil)
		g.tmp = append(g.tmp, nil)
	}
	for w := range g.ap {
		if cap(g.ap[w]) < m.ap {
			g.ap[w] = make([]float32, m.ap)
		}
		if cap(g.tmp[w]) < m.tmp {
			g.tmp[w] = make([]float32, m.tmp)
		}
	}
}

// fit makes g hold the given sizes (see ctxMax).
func (g *gemmCtx) fit(bp, ap, panels, workers, tmp int) {
	if g.fits(bp, ap, panels, workers, tmp) {
		return
	}
	m := &ctxMax
	m.Lock()
	defer m.Unlock()
	m.bp, m.ap, m.panels = max(m.bp, bp), max(m.ap, ap), max(m.panels, panels)
	m.workers, m.tmp = max(m.workers, workers), max(m.tmp, tmp)
	g.growTo()
	idle := len(ctxFree)
	for i := 0; i < idle; i++ {
		select {
		case c := <-ctxFree:
			c.growTo()
			putCtx(c)
		default:
		}
	}
	for i := idle + 1; i < min(parallel.Threads(), cap(ctxFree)); i++ {
		c := new(gemmCtx)
		c.task.g = c
		c.growTo()
		putCtx(c)
	}
}

// gemmBlocked is Gemm after the argument checks, with the given microkernel.
// With bias not nil (GemmBias), beta must be 0 and C = alpha·op(A)·op(B) +
// bias, the bias added to each row. act is applied to C at the end. With pre
// not nil, B is pre's (packed for kern, k and n) and b, ldb and transB are
// not used.
func gemmBlocked(kern *kernel, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int, bias []float32, act Act, pre *PackedB) {
	if m == 0 || n == 0 {
		return
	}
	if k == 0 || alpha == 0 {
		scaleC(m, n, beta, c, ldc)
		if bias != nil {
			for i := 0; i < m; i++ {
				copy(c[i*ldc:i*ldc+n], bias[:n])
			}
		}
		for i := 0; i < m; i++ {
			applyAct(act, c[i*ldc:i*ldc+n])
		}
		return
	}
	mr, nr := kern.mr, kern.nr
	threads := parallel.Threads()
	if m*n*k < parMinMACs {
		threads = 1 // handing work to a worker costs more than it saves
	}

	// The workers split either the rows of C (sharing the packed B) or its
	// columns (each packing its own B panels and reading all of A), which
	// ever divides into more equal shares: with m = 64 and 14-row panels,
	// a row split is 3 panels against 2.
	mPanels := (m + mr - 1) / mr
	nPanels := (n + nr - 1) / nr
	imbalance := func(p int) float64 { return float64((p+threads-1)/threads*threads) / float64(p) }
	splitN := threads > 1 && (imbalance(nPanels) < imbalance(mPanels) || imbalance(nPanels) == imbalance(mPanels) && nPanels > mPanels)

	// Cut m into blocks of at most mcMax rows; for a row split, a multiple
	// of the thread count so that the workers get equal shares.
	nblocks := (m + mcMax - 1) / mcMax
	if !splitN {
		nblocks = min((nblocks+threads-1)/threads*threads, mPanels)
	}
	mc := (mPanels + nblocks - 1) / nblocks * mr
	nblocks = (m + mc - 1) / mc
	workers := min(threads, nblocks)
	if splitN {
		workers = min(threads, nPanels)
	}

	// Cut k into equal blocks of at most kcMax. This alone fixes the
	// accumulation order of every element of C.
	kBlocks, kcStep := KBlocks(k)
	kPad := kBlocks * kcStep

	// Column blocks: B is packed for all of k at once, at most bMax floats.
	// A B packed ahead is one block.
	ncStep := min((n+nr-1)/nr*nr, max(nr, bMax/kPad/nr*nr))
	if pre != nil {
		ncStep = nPanels * nr
	}

	g := getCtx()
	g.kern = kern
	g.transA, g.transB = transA, transB
	g.m, g.n, g.k = m, n, k
	g.alpha, g.beta = alpha, beta
	g.a, g.b, g.c = a, b, c
	g.lda, g.ldb, g.ldc = lda, ldb, ldc
	g.bias, g.act, g.pre = bias, act, pre
	g.mc, g.nblocks, g.kcStep, g.splitN = mc, nblocks, kcStep, splitN
	bpNeed := kPad * ncStep
	if pre != nil {
		bpNeed = 0
	}
	g.fit(bpNeed, mc*kcStep, ncStep/nr, workers, mr*nr)
	if pre != nil {
		g.bpOwn, g.bp = g.bp, pre.data
	} else {
		g.bp = g.bp[:bpNeed]
	}
	for w := 0; w < workers; w++ {
		g.ap[w] = g.ap[w][:mc*kcStep]
		g.tmp[w] = g.tmp[w][:mr*nr]
	}
	g.abort.Store(false)

	for jc := 0; jc < n; jc += ncStep {
		g.jc, g.nc = jc, min(ncStep, n-jc)
		g.bPanels = (g.nc + nr - 1) / nr
		g.gen++
		if splitN {
			parallel.Run(g.bPanels, (g.bPanels+workers-1)/workers, &g.task)
		} else {
			parallel.Run(nblocks, (nblocks+workers-1)/workers, &g.task)
		}
	}
	putCtx(g)
}

// Do computes a share of the current column block of C. For a row split,
// [lo, hi) are row blocks: the worker first packs its share of the B
// micro-panels (derived from [lo, hi), so the shares cover all panels
// whatever the number of chunks), then runs the k blocks over its rows,
// starting with its own B panels; a panel of another share that nobody has
// taken yet it packs itself (chunks may run one after another on one
// goroutine, see parallel.Task), one being packed it waits for. For a column
// split, [lo, hi) are B micro-panels: the worker packs them and computes them
// for all rows, sharing nothing.
func (t *gemmTask) Do(w, lo, hi int) {
	g := t.g
	defer func() {
		if r := recover(); r != nil {
			g.abort.Store(true)
			panic(r)
		}
	}()
	mr, nr := g.kern.mr, g.kern.nr
	bPanels, ncPad := g.bPanels, g.bPanels*nr
	s0, s1 := lo*bPanels/g.nblocks, hi*bPanels/g.nblocks
	b0, b1, todo := lo, hi, bPanels
	if g.splitN {
		s0, s1, b0, b1, todo = lo, hi, 0, g.nblocks, hi-lo
	}
	for s := s0; s < s1 && g.pre == nil; s++ {
		if g.splitN || g.claimed[s].Swap(g.gen) != g.gen {
			g.packPanel(s)
		}
	}

	ap, tmp := g.ap[w], g.tmp[w]
	fn := g.kern.fn
	for pc := 0; pc < g.k; pc += g.kcStep {
		kc := min(g.kcStep, g.k-pc)
		load := pc > 0 || g.beta != 0
		for blk := b0; blk < b1; blk++ {
			ic := blk * g.mc
			mc := min(g.mc, g.m-ic)
			if pc == 0 && g.beta != 0 && g.beta != 1 {
				j0, j1 := g.jc, g.jc+g.nc
				if g.splitN {
					j0, j1 = g.jc+s0*nr, min(g.jc+s1*nr, g.n)
				}
				for i := ic; i < ic+mc; i++ {
					Scale(g.beta, g.c[i*g.ldc+j0:i*g.ldc+j1])
				}
			}
			mPanels := (mc + mr - 1) / mr
			for r := 0; r < mPanels; r++ {
				// Full panels of an untransposed A are read in place (rows
				// are contiguous in p); the rest is packed.
				if i0 := ic + r*mr; g.transA || i0+mr > g.m {
					packA(ap[r*kc*mr:(r+1)*kc*mr], g.transA, g.a, g.lda, i0, min(mr, g.m-i0), pc, kc, mr)
				}
			}
			for ss := 0; ss < todo; ss++ {
				s := (s0 + ss) % bPanels
				if !g.splitN && pc == 0 && g.pre == nil {
					g.wait(s)
				}
				j0 := g.jc + s*nr
				nb := min(nr, g.n-j0)
				bp := g.bp[pc*ncPad+s*kc*nr:]
				for r := 0; r < mPanels; r++ {
					i0 := ic + r*mr
					mb := min(mr, g.m-i0)
					a, rsa, csa := ap[r*kc*mr:], 1, mr
					if !g.transA && mb == mr {
						a, rsa, csa = g.a[i0*g.lda+pc:], g.lda, 1
					}
					var bias []float32
					if !load && g.bias != nil {
						bias = g.bias[j0 : j0+nb]
					}
					if mb == mr && nb == nr {
						fn(kc, a, rsa, csa, bp, g.c[i0*g.ldc+j0:], g.ldc, g.alpha, load, bias)
						continue
					}
					fn(kc, a, rsa, csa, bp, tmp, nr, g.alpha, false, nil)
					for i := 0; i < mb; i++ {
						crow := g.c[(i0+i)*g.ldc+j0 : (i0+i)*g.ldc+j0+nb]
						trow := tmp[i*nr : i*nr+nb]
						switch {
						case load:
							for j, v := range trow {
								crow[j] += v
							}
						case bias != nil:
							for j, v := range trow {
								crow[j] = v + bias[j]
							}
						default:
							copy(crow, trow)
						}
					}
				}
			}
			if g.act != ActNone && pc+kc == g.k {
				// the rows are final: activate them while they are in cache
				j0, j1 := g.jc, g.jc+g.nc
				if g.splitN {
					j0, j1 = g.jc+s0*nr, min(g.jc+s1*nr, g.n)
				}
				for i := ic; i < ic+mc; i++ {
					applyAct(g.act, g.c[i*g.ldc+j0:i*g.ldc+j1])
				}
			}
		}
	}
}

// packPanel packs B micro-panel s of the current column block, for all k
// blocks, and marks it ready.
func (g *gemmCtx) packPanel(s int) {
	nr := g.kern.nr
	ncPad := g.bPanels * nr
	j0 := g.jc + s*nr
	for pc := 0; pc < g.k; pc += g.kcStep {
		kc := min(g.kcStep, g.k-pc)
		off := pc*ncPad + s*kc*nr
		packB(g.bp[off:off+kc*nr], g.transB, g.b, g.ldb, pc, kc, j0, min(nr, g.n-j0), nr)
	}
	g.ready[s].Store(g.gen)
}

// wait returns once B micro-panel s of the current column block is packed,
// packing it itself if no worker has taken it.
func (g *gemmCtx) wait(s int) {
	if g.ready[s].Load() == g.gen {
		return
	}
	if g.claimed[s].Swap(g.gen) != g.gen {
		g.packPanel(s)
		return
	}
	for spins := 0; g.ready[s].Load() != g.gen; spins++ {
		if g.abort.Load() {
			panic(errPrefix + "gemm worker failed")
		}
		if spins > 64 {
			runtime.Gosched()
		}
	}
}

// scaleC sets C = beta*C (C = 0 when beta is 0, ignoring NaNs in C).
func scaleC(m, n int, beta float32, c []float32, ldc int) {
	if beta == 1 {
		return
	}
	for i := 0; i < m; i++ {
		row := c[i*ldc : i*ldc+n]
		if beta == 0 {
			clear(row)
		} else {
			Scale(beta, row)
		}
	}
}

// packA packs rows [i0, i0+mb) and columns [p0, p0+kc) of op(A) into dst as
// kc groups of mr values, padding rows mb..mr-1 with zeros.
func packA(dst []float32, trans bool, a []float32, lda, i0, mb, p0, kc, mr int) {
	dst = dst[:kc*mr]
	if trans {
		// op(A)[i][p] = a[p*lda+i]: each group is contiguous in a.
		if mb == mr && copyRows(dst, a[p0*lda+i0:], lda, kc, mr) {
			return
		}
		for p := 0; p < kc; p++ {
			d := dst[p*mr : p*mr+mr]
			copy(d, a[(p0+p)*lda+i0:(p0+p)*lda+i0+mb])
			clear(d[mb:])
		}
		return
	}
	for i := 0; i < mb; i++ {
		row := a[(i0+i)*lda+p0 : (i0+i)*lda+p0+kc]
		for p, v := range row {
			dst[p*mr+i] = v
		}
	}
	if mb < mr {
		for p := 0; p < kc; p++ {
			clear(dst[p*mr+mb : p*mr+mr])
		}
	}
}

// packB packs rows [p0, p0+kc) and columns [j0, j0+nb) of op(B) into dst as
// kc groups of nr values, padding columns nb..nr-1 with zeros.
func packB(dst []float32, trans bool, b []float32, ldb, p0, kc, j0, nb, nr int) {
	dst = dst[:kc*nr]
	if !trans {
		if nb == nr && copyRows(dst, b[p0*ldb+j0:], ldb, kc, nr) {
			return
		}
		for p := 0; p < kc; p++ {
			d := dst[p*nr : p*nr+nr]
			copy(d, b[(p0+p)*ldb+j0:(p0+p)*ldb+j0+nb])
			clear(d[nb:])
		}
		return
	}
	// op(B)[p][j] = b[j*ldb+p]. Full panels go through the 16×16
	// register transpose where there is one, for the first kc/16*16 rows.
	if p16 := kc &^ 15; nb == nr && p16 > 0 && nr%16 == 0 && useTransposeAsm {
		for h := 0; h < nr; h += 16 {
			_, _ = b[(j0+h+15)*ldb+p0+p16-1], dst[(p16-1)*nr+h+15]
			packBT16(dst[h:], b[(j0+h)*ldb+p0:], ldb, p16/16, nr)
		}
		if p16 == kc {
			return
		}
		for j := 0; j < nb; j++ {
			col := b[(j0+j)*ldb+p0+p16 : (j0+j)*ldb+p0+kc]
			for p, v := range col {
				dst[(p16+p)*nr+j] = v
			}
		}
		return
	}
	for j := 0; j < nb; j++ {
		col := b[(j0+j)*ldb+p0 : (j0+j)*ldb+p0+kc]
		for p, v := range col {
			dst[p*nr+j] = v
		}
	}
	if nb < nr {
		for p := 0; p < kc; p++ {
			clear(dst[p*nr+nb : p*nr+nr])
		}
	}
}
