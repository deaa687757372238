// Package testutil holds helpers shared by the tests of several zoneproxy
// packages: polling a condition with a deadline (WaitFor, WaitForState),
// loopback listeners, ports and connections (Listen, FreePorts, TCPPair),
// self-signed certificates (Cert), running workers so that they truly overlap
// in time (Concurrently), the process's CPU time per benchmark op
// (ReportCPUPerOp), and an HTTP/2 client's wait for a frame (NextFrame).
//
// It is imported only from _test.go files and must not import any zoneproxy
// package, so that every package's tests can use it without an import
// cycle. Every helper that can fail takes the test's testing.TB, reports
// failures through it (t.Fatalf from the test's goroutine only) and releases
// what it opened with t.Cleanup; NextFrame returns the connection's error for
// the test to judge.
//
// Concurrency: the helpers keep no state between calls; each call may run
// in parallel tests. WaitFor, WaitForState, Listen and FreePorts must be
// called from the test's goroutine, as they may call t.Fatalf.
package testutil
