package proxy

import (
	"io"
	"net"
	"syscall"
	"testing"
	"time"
)

// TestListenPlainTCP: the proxy's listening socket is IPPROTO_TCP, not the MPTCP socket that Go
// opens by default since 1.24 (nginx's default too), and defers accept (TCP_DEFER_ACCEPT).
func TestListenPlainTCP(t *testing.T) {
	for _, network := range []string{"tcp4", "tcp"} {
		ln, err := Listen(network, "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		proto := sockopt(t, ln.(*net.TCPListener), syscall.SOL_SOCKET, syscall.SO_PROTOCOL)
		deferred := sockopt(t, ln.(*net.TCPListener), syscall.IPPROTO_TCP, syscall.TCP_DEFER_ACCEPT)
		ln.Close()
		if proto != syscall.IPPROTO_TCP {
			t.Errorf("%s listener: SO_PROTOCOL = %d, want IPPROTO_TCP (%d)", network, proto, syscall.IPPROTO_TCP)
		}
		if deferred == 0 {
			t.Errorf("%s listener: TCP_DEFER_ACCEPT is off", network)
		}
	}
}

// TestListenDefersSilentConnections: a connection that has sent nothing is not accepted before
// one that connected after it and sent its request; the silent one, once it speaks, is served.
func TestListenDefersSilentConnections(t *testing.T) {
	ln, err := Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	silent, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	talker, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer talker.Close()
	if _, err := talker.Write([]byte("T")); err != nil {
		t.Fatal(err)
	}
	first := acceptByte(t, ln)
	if first != 'T' {
		t.Fatalf("the first connection accepted sent %q: the silent one was accepted before the one that spoke", first)
	}
	if _, err := silent.Write([]byte("S")); err != nil {
		t.Fatal(err)
	}
	if b := acceptByte(t, ln); b != 'S' {
		t.Fatalf("the second connection accepted sent %q, want S", b)
	}
}

// acceptByte accepts one connection and returns the first byte it sent.
func acceptByte(t *testing.T, ln net.Listener) byte {
	t.Helper()
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	var b [1]byte
	if _, err := io.ReadFull(c, b[:]); err != nil {
		t.Fatal(err)
	}
	return b[0]
}
