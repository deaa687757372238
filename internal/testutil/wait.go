package testutil

import (
	"testing"
	"time"
)

// PollInterval is how long WaitFor and WaitForState sleep between two
// evaluations of their condition. It is a polling period, not a wait for an
// event: the condition is what the test waits for.
const PollInterval = 5 * time.Millisecond

// WaitFor evaluates cond every PollInterval until it returns true, and fails
// the test with t.Fatalf("timed out after %v waiting for %s") if it has not
// within timeout. cond is evaluated at least once, also when timeout <= 0.
func WaitFor(t testing.TB, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	WaitForState(t, what, timeout, func() (bool, string) { return cond(), "" })
}

// WaitForState is WaitFor for a condition that also describes what it
// observed: on timeout the failure message ends with the state cond returned
// last ("; last: <state>"), so the log shows how far the test got.
func WaitForState(t testing.TB, what string, timeout time.Duration, cond func() (ok bool, state string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			if state == "" {
				t.Fatalf("timed out after %v waiting for %s", timeout, what)
			} else {
				t.Fatalf("timed out after %v waiting for %s; last: %s", timeout, what, state)
			}
			return // only reached when t.Fatalf returns (a fake testing.TB)
		}
		time.Sleep(PollInterval)
	}
}
