// Package sysmon keeps the Go runtime's system monitor from its deep sleep, which costs a proxy
// that is busy but not saturated about a tenth of its CPU.
//
// The runtime's sysmon thread sleeps 20 µs to 10 ms between rounds. When every P is idle it
// sleeps deeper, until the next system call of any goroutine wakes it (a futex wake from
// entersyscall); it then bets that more system calls will block and polls every 20 µs (about
// 0.1 ms with the kernel's timer slack) for the next 50 rounds. A proxy at 60–90 % of a CPU goes
// idle and busy again thousands of times a second, and each time sysmon starts another burst of
// wake-ups: on one pinned CPU, a request per connection (the bench's `close` row), 2,500
// wake-ups and 5,000 context switches a second, 11 % of the requests per CPU-second (golang/go
// issue 18236). The runtime skips the deep sleep only while GODEBUG's schedtrace is on, so the
// process runs itself again with schedtrace set to its largest period, 2^31-1 ms (24.8 days):
// sysmon then backs off to its 10 ms round when there is nothing to retake, and a scheduler line
// goes to standard error once that period of the host's uptime has passed, and every 24.8 days
// after, as do the scheduler's details on a fatal error.
//
// A GODEBUG that already names schedtrace is left as it is: GODEBUG=schedtrace=0 keeps the
// runtime's default.
package sysmon

import (
	"os"
	"runtime"
	"strings"
	"syscall"
)

// Setting is what the process adds to GODEBUG.
const Setting = "schedtrace=2147483647"

// Environ returns env with Setting added to GODEBUG, and whether it changed anything: not when
// GODEBUG already names schedtrace.
func Environ(env []string) ([]string, bool) {
	out := make([]string, 0, len(env)+1)
	found := false
	for _, kv := range env {
		v, ok := strings.CutPrefix(kv, "GODEBUG=")
		if !ok {
			out = append(out, kv)
			continue
		}
		if found {
			continue // the runtime reads the first; so does this
		}
		found = true
		for _, s := range strings.Split(v, ",") {
			if strings.HasPrefix(strings.TrimSpace(s), "schedtrace=") {
				return env, false
			}
		}
		if v == "" {
			out = append(out, "GODEBUG="+Setting)
		} else {
			out = append(out, "GODEBUG="+v+","+Setting)
		}
	}
	if !found {
		out = append(out, "GODEBUG="+Setting)
	}
	return out, true
}

// Reexec replaces the process with the same executable and arguments under Environ's
// environment, on Linux. It returns only when it did not: the setting is there already, another
// system, or the exec failed (no /proc, say), and then the process goes on as it is.
func Reexec() error {
	if runtime.GOOS != "linux" {
		return nil
	}
	env, changed := Environ(os.Environ())
	if !changed {
		return nil
	}
	return syscall.Exec("/proc/self/exe", os.Args, env)
}
