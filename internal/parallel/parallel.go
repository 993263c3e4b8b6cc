// Package parallel runs index ranges on a persistent pool of worker
// goroutines sized to the cores.
//
// Kernels split work with For; the pool is created once, so a training step
// starts no goroutines and allocates nothing (a closure that does not escape
// is passed through a preallocated job slot).
package parallel

import (
	"runtime"
	"sync"
	"sync/atomic"
)

type job struct {
	fn     func(lo, hi int)
	lo, hi int
	wg     *sync.WaitGroup
}

type pool struct {
	mu      sync.Mutex // serialises For calls: one parallel region at a time
	threads int
	jobs    chan job
	wg      sync.WaitGroup
	started int
}

var global = newPool(runtime.GOMAXPROCS(0))

func newPool(n int) *pool {
	if n < 1 {
		n = 1
	}
	p := &pool{threads: n, jobs: make(chan job, 64)}
	return p
}

// ensure starts workers up to n-1 (the caller is the n-th worker).
func (p *pool) ensure(n int) {
	for p.started < n-1 {
		p.started++
		go func() {
			for j := range p.jobs {
				j.fn(j.lo, j.hi)
				j.wg.Done()
			}
		}()
	}
}

var threads atomic.Int64

func init() { threads.Store(int64(runtime.GOMAXPROCS(0))) }

// SetThreads sets how many goroutines For uses (at least 1). It returns the
// previous value. Results of every kernel are independent of this number
// unless the kernel documents otherwise.
func SetThreads(n int) int {
	if n < 1 {
		n = 1
	}
	return int(threads.Swap(int64(n)))
}

// Threads reports the number of goroutines For uses.
func Threads() int { return int(threads.Load()) }

// For calls fn over [0, n) split into at most Threads() contiguous chunks of
// at least grain items, and returns when all chunks are done. The calling
// goroutine runs the first chunk itself. Nested For calls run serially.
func For(n, grain int, fn func(lo, hi int)) {
	if n <= 0 {
		return
	}
	if grain < 1 {
		grain = 1
	}
	t := Threads()
	chunks := (n + grain - 1) / grain
	if chunks > t {
		chunks = t
	}
	if chunks <= 1 || !global.mu.TryLock() {
		fn(0, n)
		return
	}
	defer global.mu.Unlock()
	global.ensure(chunks)
	wg := &global.wg
	size := (n + chunks - 1) / chunks
	first := size
	for lo := size; lo < n; lo += size {
		hi := min(lo+size, n)
		wg.Add(1)
		global.jobs <- job{fn: fn, lo: lo, hi: hi, wg: wg}
	}
	fn(0, first)
	wg.Wait()
}
