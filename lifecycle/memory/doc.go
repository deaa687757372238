// Package memory is the process's memory policy: once the configuration stops changing, it runs
// a collection, hands free pages back to the operating system and drops the executable's
// read-only pages from the resident set; while the configuration stays quiet, it does so again
// after the process has allocated enough since (see Policy).
//
// Concurrency: Policy.Applied may be called from any goroutine; Run is the policy's one
// goroutine and stops when its context is done.
package memory
