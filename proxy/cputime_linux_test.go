//go:build linux

package proxy

import (
	"syscall"
	"time"
)

// threadCPU is the CPU time the calling OS thread has used, user and system (getrusage,
// RUSAGE_THREAD); ok is false where it cannot be read. Benchmarks that lock their goroutine to
// its thread report it per op beside ns/op: on a shared machine, wall time counts the turns of
// the other processes too.
func threadCPU() (d time.Duration, ok bool) {
	const rusageThread = 1 // not in package syscall
	var ru syscall.Rusage
	if err := syscall.Getrusage(rusageThread, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}
