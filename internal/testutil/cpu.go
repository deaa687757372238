//go:build unix

package testutil

import (
	"syscall"
	"testing"
	"time"
)

// ProcessCPU is the process's user and system CPU time so far (getrusage RUSAGE_SELF), every
// thread included.
func ProcessCPU(tb testing.TB) time.Duration {
	tb.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// ReportCPUPerOp starts counting the process's CPU time; the func it returns, called once the
// benchmark's loop is done, reports it per op as cpu-ns/op. Beside a RunParallel benchmark's
// ns/op (wall time per op), cpu-ns/op ÷ ns/op is how many CPUs the run really had: on a shared
// machine, -cpu 2 may get one, and then shows no contention.
func ReportCPUPerOp(b *testing.B) (stop func()) {
	b.Helper()
	cpu0 := ProcessCPU(b)
	return func() { b.ReportMetric(float64(ProcessCPU(b)-cpu0)/float64(b.N), "cpu-ns/op") }
}
