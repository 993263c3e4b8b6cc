// Package parallel runs index ranges on a persistent pool of worker
// goroutines sized to the cores.
//
// The pool is created once, so a training step starts no goroutines. Kernels
// that must not allocate use Run with a Task that is a pointer to a
// preallocated struct: the interface value holds only that pointer, so
// nothing escapes to the heap. For takes a plain
// closure for convenience; the closure escapes (one small allocation when it
// captures variables) because it is handed to another goroutine.
package parallel

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// A Task is parallel work over an index range. Do is called once per chunk
// [lo, hi) with the chunk number worker in [0, chunks), chunks ≤ Threads();
// a task can use worker to pick per-worker scratch buffers (no two calls
// with the same worker overlap). Chunks may run concurrently, so Do must
// only write state owned by its chunk; they may also run one after another
// on one goroutine, in any order, so a chunk must never wait for another.
type Task interface {
	Do(worker, lo, hi int)
}

// pool runs one parallel region at a time. A region is published by
// writing its fields and then state; the chunks are claimed through state
// (generation<<32 | chunks<<16 | next chunk to claim), so a worker that wakes
// late can never claim a chunk of a later region. The caller runs chunk 0,
// then claims the chunks no worker has started (a worker the OS has not
// scheduled yet then costs the region nothing), then waits for the others.
type pool struct {
	mu    sync.Mutex // serialises Run calls: one parallel region at a time
	slots []*slot    // one per worker goroutine; grown under mu

	// the region in flight: written by the caller before state is
	// published, read by a worker only once it has claimed a chunk (the
	// region cannot end, and these cannot change, before that chunk is done)
	task Task
	n    int
	size int

	state    atomic.Uint64
	pending  atomic.Int64 // chunks not finished
	panicked atomic.Pointer[panicValue]
}

// slot is a worker's parking place.
type slot struct {
	sleeping atomic.Bool
	wake     chan struct{}
}

type panicValue struct{ v any }

// maxChunks bounds the chunks of a region (they are counted in 16 bits of
// the state).
const maxChunks = 1<<16 - 1

// spinFor is how long an idle worker polls for the next region before it
// parks: back-to-back regions (the layers of a network) then start without a
// scheduler round trip, which costs tens of microseconds, as much as the
// small GEMMs of a layer.
const spinFor = 100 * time.Microsecond

var global = &pool{}

// ensure starts workers up to n-1 (the caller is the n-th worker). Called
// with mu held.
func (p *pool) ensure(n int) {
	for len(p.slots) < n-1 {
		s := &slot{wake: make(chan struct{}, 1)}
		p.slots = append(p.slots, s)
		go p.worker(s)
	}
}

// worker runs chunks of the regions as they come, spinning for spinFor
// after each before it parks.
func (p *pool) worker(s *slot) {
	seen := p.state.Load() >> 32
	for {
		gen := p.state.Load() >> 32
		if gen == seen {
			t0 := time.Now()
			for spins := 1; gen == seen; spins++ {
				if spins%64 == 0 && time.Since(t0) > spinFor {
					break
				}
				gen = p.state.Load() >> 32
			}
		}
		if gen == seen {
			// Park. The caller stores state, then reads sleeping; this
			// stores sleeping, then reads state: one of the two sees the
			// other, so no region is missed (a token left over only costs
			// one more turn of the loop).
			s.sleeping.Store(true)
			if p.state.Load()>>32 == seen {
				<-s.wake
			}
			s.sleeping.Store(false)
			continue
		}
		seen = gen
		p.claim(gen)
	}
}

// claim runs unclaimed chunks of region gen until there are none left.
func (p *pool) claim(gen uint64) {
	for {
		v := p.state.Load()
		c, chunks := int(v&0xffff), int(v>>16&0xffff)
		if v>>32 != gen || c >= chunks {
			return
		}
		if p.state.CompareAndSwap(v, v+1) {
			p.runChunk(c)
		}
	}
}

func (p *pool) runChunk(c int) {
	defer func() {
		if r := recover(); r != nil {
			p.panicked.CompareAndSwap(nil, &panicValue{r})
		}
		p.pending.Add(-1)
	}()
	lo := c * p.size
	p.task.Do(c, lo, min(lo+p.size, p.n))
}

var threads atomic.Int64

func init() { threads.Store(int64(runtime.GOMAXPROCS(0))) }

// SetThreads sets how many goroutines Run and For use (at least 1). It
// returns the previous value. Results of every kernel are independent of this
// number unless the kernel documents otherwise.
func SetThreads(n int) int {
	if n < 1 {
		n = 1
	}
	return int(threads.Swap(int64(n)))
}

// Threads reports the number of goroutines Run and For use.
func Threads() int { return int(threads.Load()) }

// Run calls t.Do over [0, n) split into at most Threads() contiguous chunks
// of at least grain items (so at most ceil(n/grain) chunks), and returns when
// all chunks are done. The calling goroutine runs chunk 0 itself, then any
// chunk no worker has started yet (so a worker the OS is slow to schedule
// delays nothing), then waits for the rest. Idle workers poll for the next
// Run for about 100 µs before they park. A Run
// started while another is in flight (nested, or from another goroutine)
// runs serially as a single chunk, worker 0. A panic in any chunk is
// re-raised in the caller after all chunks have finished.
//
// Run does not allocate when t is a pointer.
func Run(n, grain int, t Task) {
	if n <= 0 {
		return
	}
	if grain < 1 {
		grain = 1
	}
	chunks := min((n+grain-1)/grain, Threads(), maxChunks)
	if chunks <= 1 || !global.mu.TryLock() {
		t.Do(0, 0, n)
		return
	}
	p := global
	defer p.mu.Unlock()
	size := (n + chunks - 1) / chunks
	chunks = (n + size - 1) / size // n = 9 in 4 chunks: size 3, so 3 chunks
	p.ensure(chunks)
	p.task, p.n, p.size = t, n, size
	p.pending.Store(int64(chunks))
	gen := p.state.Load()>>32 + 1
	p.state.Store(gen<<32 | uint64(chunks)<<16 | 1) // chunk 0 is the caller's
	for _, s := range p.slots[:chunks-1] {
		if s.sleeping.Load() {
			select {
			case s.wake <- struct{}{}:
			default:
			}
		}
	}
	p.runChunk(0)
	p.claim(gen)
	for spins := 0; p.pending.Load() != 0; spins++ {
		if spins > 64 {
			runtime.Gosched()
		}
	}
	p.task = nil
	if pv := p.panicked.Swap(nil); pv != nil {
		panic(pv.v)
	}
}

type funcTask func(lo, hi int)

func (f funcTask) Do(_, lo, hi int) { f(lo, hi) }

// For calls fn over [0, n) split into at most Threads() contiguous chunks of
// at least grain items, and returns when all chunks are done. It is Run for a
// closure; kernels that must not allocate use Run.
func For(n, grain int, fn func(lo, hi int)) {
	Run(n, grain, funcTask(fn))
}
