package testutil

import (
	"sync"
	"sync/atomic"
)

// Concurrently runs workers goroutines at once and returns when all have
// stopped. Worker w calls step(w, i) for i = 0, 1, 2, …; it stops when step
// returns false, or once it has made at least min calls and every other
// worker has made min calls too (or stopped); min < 1 counts as 1.
//
// That is what a concurrency test needs and a plain loop of goroutines does
// not give: goroutines that each run a fixed number of iterations may run one
// after the other (a short loop can end before the next goroutine is even
// scheduled), and then the test proves nothing. Here every worker makes a
// call after every other worker's first call (unless one stopped early), so
// their calls overlap in time; they run in parallel when GOMAXPROCS > 1. The workers are all started
// before any is released, so none has a head start.
//
// step runs on the workers' goroutines: it must report failures with t.Error
// (not t.Fatal) and return false to stop its worker.
func Concurrently(workers, min int, step func(w, i int) bool) {
	min = max(min, 1)
	var behind atomic.Int64 // workers that have not made min calls yet and still run
	behind.Store(int64(workers))
	release := make(chan struct{})
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			counted := false
			caughtUp := func() {
				if !counted {
					counted = true
					behind.Add(-1)
				}
			}
			defer caughtUp() // a worker that stops early holds no one back
			<-release
			for i := 0; ; i++ {
				last := false
				if i >= min {
					caughtUp()
					// One more call after seeing every worker caught up: that
					// call comes after every other worker's first one.
					last = behind.Load() == 0
				}
				if !step(w, i) || last {
					return
				}
			}
		}()
	}
	close(release)
	wg.Wait()
}
