package testutil

import (
	"net"
	"testing"
)

// Listen returns a TCP listener bound to 127.0.0.1 on a port the kernel
// chose. It is closed when the test ends (closing it earlier is fine).
//
// Prefer it to FreePorts: a server in the test process that serves on this
// listener has its port from the start, so nothing can take the port between
// choosing it and binding it.
func Listen(t testing.TB) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen on 127.0.0.1:0: %v", err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	return ln
}

// FreePorts returns n distinct TCP ports on 127.0.0.1 that were free a
// moment ago, for a child process or a configuration that must bind them
// itself. Use it only where a net.Listener (Listen) cannot be handed over.
//
// All n ports are held open until all n are chosen, so the kernel cannot
// return the same port twice. The ports are then released, and a window
// remains that this helper cannot close: between its return and the moment
// the caller's process binds a port, another process (or another test) may
// take it. The kernel hands out ephemeral ports in a rotating order, which
// makes that rare, not impossible; a test using FreePorts can therefore
// fail with "address already in use" on a busy machine.
func FreePorts(t testing.TB, n int) []int {
	t.Helper()
	ports := make([]int, n)
	lns := make([]net.Listener, 0, n)
	defer func() {
		for _, ln := range lns {
			_ = ln.Close()
		}
	}()
	for i := range ports {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("listen on 127.0.0.1:0: %v", err)
			return nil
		}
		lns = append(lns, ln)
		ports[i] = ln.Addr().(*net.TCPAddr).Port
	}
	return ports
}
