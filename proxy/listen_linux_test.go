package proxy

import (
	"net"
	"syscall"
	"testing"
)

// TestListenPlainTCP: the proxy's listening socket is IPPROTO_TCP, not the MPTCP socket that Go
// opens by default since 1.24 (nginx's default too).
func TestListenPlainTCP(t *testing.T) {
	for _, network := range []string{"tcp4", "tcp"} {
		ln, err := Listen(network, "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		raw, err := ln.(*net.TCPListener).SyscallConn()
		if err != nil {
			t.Fatal(err)
		}
		var proto int
		var perr error
		if err := raw.Control(func(fd uintptr) {
			proto, perr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_PROTOCOL)
		}); err != nil {
			t.Fatal(err)
		}
		ln.Close()
		if perr != nil {
			t.Fatal(perr)
		}
		if proto != syscall.IPPROTO_TCP {
			t.Errorf("%s listener: SO_PROTOCOL = %d, want IPPROTO_TCP (%d)", network, proto, syscall.IPPROTO_TCP)
		}
	}
}
