// Package testutil holds helpers shared by the tests of several zoneproxy
// packages: polling a condition with a deadline (WaitFor, WaitForState),
// loopback listeners and ports (Listen, FreePorts), self-signed certificates
// (Cert), running workers so that they truly overlap in time
// (Concurrently), and the process's CPU time per benchmark op
// (ReportCPUPerOp).
//
// It is imported only from _test.go files and must not import any zoneproxy
// package, so that every package's tests can use it without an import
// cycle. Every helper takes the test's testing.TB, reports failures through
// it (t.Fatalf from the test's goroutine only) and releases what it opened
// with t.Cleanup.
//
// Concurrency: the helpers keep no state between calls; each call may run
// in parallel tests. WaitFor, WaitForState, Listen and FreePorts must be
// called from the test's goroutine, as they may call t.Fatalf.
package testutil
