//go:build unix

package proxy

import (
	"net"
	"syscall"
	"testing"
)

// TestListenNoKeepAliveProbes: connections accepted on a proxy listener get no TCP keep-alive
// probes (nginx's listen default, so_keepalive=off) and keep TCP_NODELAY.
func TestListenNoKeepAliveProbes(t *testing.T) {
	ln, err := Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	if _, err := client.Write([]byte("x")); err != nil { // accept is deferred until the client speaks
		t.Fatal(err)
	}
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	keepAlive := sockopt(t, c.(*net.TCPConn), syscall.SOL_SOCKET, syscall.SO_KEEPALIVE)
	noDelay := sockopt(t, c.(*net.TCPConn), syscall.IPPROTO_TCP, syscall.TCP_NODELAY)
	if keepAlive != 0 {
		t.Errorf("SO_KEEPALIVE = %d on an accepted connection, want 0", keepAlive)
	}
	if noDelay == 0 {
		t.Error("TCP_NODELAY is off on an accepted connection")
	}
}

// sockopt reads one integer option of a socket (a listener's or a connection's).
func sockopt(t *testing.T, sc syscall.Conn, level, opt int) int {
	t.Helper()
	raw, err := sc.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var v int
	var verr error
	if err := raw.Control(func(fd uintptr) { v, verr = syscall.GetsockoptInt(int(fd), level, opt) }); err != nil {
		t.Fatal(err)
	}
	if verr != nil {
		t.Fatal(verr)
	}
	return v
}
