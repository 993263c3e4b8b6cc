// Package parallel runs index ranges on a persistent pool of worker
// goroutines sized to the cores.
//
// The pool is created once, so a training step starts no goroutines. Kernels
// that must not allocate use Run with a Task that is a pointer to a
// preallocated struct: the interface value holds only that pointer and is
// copied into a job slot, so nothing escapes to the heap. For takes a plain
// closure for convenience; the closure escapes (one small allocation when it
// captures variables) because it is handed to another goroutine.
package parallel

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// A Task is parallel work over an index range. Do is called once per chunk
// [lo, hi) with the chunk number worker in [0, chunks), chunks ≤ Threads();
// a task can use worker to pick per-worker scratch buffers. Chunks run
// concurrently, so Do must only write state owned by its chunk.
type Task interface {
	Do(worker, lo, hi int)
}

type job struct {
	task     Task
	worker   int
	lo, hi   int
	wg       *sync.WaitGroup
	panicked *atomic.Pointer[panicValue]
}

type panicValue struct{ v any }

type pool struct {
	mu       sync.Mutex // serialises Run calls: one parallel region at a time
	jobs     chan job
	wg       sync.WaitGroup
	panicked atomic.Pointer[panicValue]
	started  int
}

var global = &pool{jobs: make(chan job, 64)}

// ensure starts workers up to n-1 (the caller is the n-th worker).
func (p *pool) ensure(n int) {
	for p.started < n-1 {
		p.started++
		go func() {
			for j := range p.jobs {
				runJob(j)
			}
		}()
	}
}

func runJob(j job) {
	defer func() {
		if r := recover(); r != nil {
			j.panicked.CompareAndSwap(nil, &panicValue{r})
		}
		j.wg.Done()
	}()
	j.task.Do(j.worker, j.lo, j.hi)
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
// all chunks are done. The calling goroutine runs chunk 0 itself. A Run
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
	chunks := min((n+grain-1)/grain, Threads())
	if chunks <= 1 || !global.mu.TryLock() {
		t.Do(0, 0, n)
		return
	}
	defer func() {
		global.panicked.Store(nil)
		global.mu.Unlock()
	}()
	global.ensure(chunks)
	wg := &global.wg
	size := (n + chunks - 1) / chunks
	w := 1
	for lo := size; lo < n; lo += size {
		wg.Add(1)
		global.jobs <- job{task: t, worker: w, lo: lo, hi: min(lo+size, n), wg: wg, panicked: &global.panicked}
		w++
	}
	func() {
		defer wg.Wait()
		t.Do(0, 0, min(size, n))
	}()
	if p := global.panicked.Swap(nil); p != nil {
		panic(p.v)
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
