package parallel

import (
	"sync/atomic"
	"testing"
)

type countTask struct {
	hits    []atomic.Int32
	workers [64]atomic.Int32
}

func (c *countTask) Do(worker, lo, hi int) {
	c.workers[worker].Add(1)
	for i := lo; i < hi; i++ {
		c.hits[i].Add(1)
	}
}

func TestRunCoversRangeOnce(t *testing.T) {
	for _, th := range []int{1, 2, 3, 8} {
		old := SetThreads(th)
		for _, n := range []int{0, 1, 2, 3, 7, 100, 1001} {
			for _, grain := range []int{0, 1, 3, 50, 2000} {
				c := &countTask{hits: make([]atomic.Int32, n)}
				Run(n, grain, c)
				for i := range c.hits {
					if got := c.hits[i].Load(); got != 1 {
						t.Fatalf("threads=%d n=%d grain=%d: index %d ran %d times; want 1", th, n, grain, i, got)
					}
				}
				g := max(grain, 1)
				maxChunks := min(th, (n+g-1)/g)
				for w := range c.workers {
					if got := c.workers[w].Load(); got > 1 || (got == 1 && w >= max(maxChunks, 1)) {
						t.Fatalf("threads=%d n=%d grain=%d: worker %d ran %d chunks (max chunks %d)", th, n, grain, w, got, maxChunks)
					}
				}
			}
		}
		SetThreads(old)
	}
}

func TestForNested(t *testing.T) {
	old := SetThreads(2)
	defer SetThreads(old)
	var sum atomic.Int64
	For(10, 1, func(lo, hi int) {
		For(10, 1, func(lo2, hi2 int) {
			sum.Add(int64((hi - lo) * (hi2 - lo2)))
		})
	})
	if got := sum.Load(); got != 100 {
		t.Fatalf("nested For sum = %d; want 100", got)
	}
}

type panicTask struct{}

func (panicTask) Do(worker, lo, hi int) {
	if worker == 1 {
		panic("boom")
	}
}

func TestRunPanicPropagates(t *testing.T) {
	old := SetThreads(2)
	defer SetThreads(old)
	defer func() {
		if r := recover(); r != "boom" {
			t.Fatalf("recover() = %v; want boom", r)
		}
		// The pool must still work afterwards.
		c := &countTask{hits: make([]atomic.Int32, 10)}
		Run(10, 1, c)
		if c.hits[9].Load() != 1 {
			t.Fatal("pool broken after panic")
		}
	}()
	Run(10, 1, &panicTask{})
}

type sumTask struct{ out [2]int }

func (s *sumTask) Do(worker, lo, hi int) { s.out[worker] += hi - lo }

func TestRunNoAlloc(t *testing.T) {
	old := SetThreads(2)
	defer SetThreads(old)
	task := &sumTask{}
	Run(100, 1, task) // start workers
	if a := testing.AllocsPerRun(100, func() { Run(100, 1, task) }); a != 0 {
		t.Fatalf("Run allocates %v times per call; want 0", a)
	}
}
