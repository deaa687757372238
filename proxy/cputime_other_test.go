//go:build !linux

package proxy

import "time"

// threadCPU is not read on this system (see cputime_linux_test.go).
func threadCPU() (time.Duration, bool) { return 0, false }
