//go:build unix

package main

import (
	"log/slog"
	"net"
	"syscall"
	"testing"

	"github.com/zoneproxy/zoneproxy/config"
)

// TestListenNoKeepAliveProbes: connections accepted on node_listen get no TCP keep-alive probes
// (nginx's listen default, so_keepalive=off) and keep TCP_NODELAY.
func TestListenNoKeepAliveProbes(t *testing.T) {
	lns, err := listenAll([]config.ListenAddr{{IP: "127.0.0.1", Port: 0}}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer closeAll(lns)
	client, err := net.Dial("tcp", lns[0].Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	c, err := lns[0].Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	raw, err := c.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var keepAlive, noDelay int
	var kerr, nerr error
	if err := raw.Control(func(fd uintptr) {
		keepAlive, kerr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_KEEPALIVE)
		noDelay, nerr = syscall.GetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_NODELAY)
	}); err != nil {
		t.Fatal(err)
	}
	if kerr != nil || nerr != nil {
		t.Fatal(kerr, nerr)
	}
	if keepAlive != 0 {
		t.Errorf("SO_KEEPALIVE = %d on an accepted connection, want 0", keepAlive)
	}
	if noDelay == 0 {
		t.Error("TCP_NODELAY is off on an accepted connection")
	}
}
