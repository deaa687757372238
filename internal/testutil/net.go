package testutil

import (
	"bufio"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
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

// Server is a server that serves a listener until it is shut down, as fasthttp.Server.
type Server interface {
	Serve(ln net.Listener) error
	Shutdown() error
}

// Serve runs srv on ln until the test ends, then shuts it down and fails the test if serving or
// shutting down did.
func Serve(t testing.TB, srv Server, ln net.Listener) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		if err := srv.Shutdown(); err != nil {
			t.Errorf("shut down: %v", err)
		}
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
}

// TCPPair returns the two ends of a loopback TCP connection, both closed when the test ends.
func TCPPair(t testing.TB) (client, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen on 127.0.0.1:0: %v", err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatalf("dial %s: %v", ln.Addr(), err)
	}
	server = <-accepted
	if server == nil {
		client.Close()
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { _ = client.Close(); _ = server.Close() })
	return client, server
}

// FreePorts returns n distinct TCP ports on 127.0.0.1 that were free a
// moment ago, for a child process or a configuration that must bind them
// itself. Use it only where a net.Listener (Listen) cannot be handed over.
//
// The ports are drawn at random below the kernel's ephemeral range
// (net.ipv4.ip_local_port_range on Linux), from which the local ports of
// outgoing connections are taken: a port chosen with 127.0.0.1:0 comes from
// that range, and a client connection of the test itself (to etcd, to an
// upstream) may take it before the child binds it. Each port is bound to
// check that it is free, and all n stay bound until all n are chosen, so no
// two are the same. They are then released, and a window remains that this
// helper cannot close: until the caller's process binds a port, another
// process listening on a fixed or random port may take it. That is rare, not
// impossible. Where the ephemeral range cannot be read, or leaves no room
// below it, the kernel chooses (port 0) and the wider window above applies.
func FreePorts(t testing.TB, n int) []int {
	t.Helper()
	lo, hi := minPort, ephemeralLow()
	ports := make([]int, 0, n)
	lns := make([]net.Listener, 0, n)
	defer func() {
		for _, ln := range lns {
			_ = ln.Close()
		}
	}()
	for failed := 0; len(ports) < n; {
		port := 0 // the kernel chooses
		if hi-lo >= 1000 && failed < 100 {
			port = lo + rand.IntN(hi-lo)
		}
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			if port != 0 {
				failed++ // taken: try another
				continue
			}
			t.Fatalf("listen on 127.0.0.1:0: %v", err)
			return nil
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports
}

// minPort is the lowest port FreePorts chooses: above the well-known and
// most commonly configured ports.
const minPort = 20000

// ephemeralLow is the first port of the kernel's ephemeral range, or
// minPort when it is not known.
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return minPort
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return minPort
	}
	low, err := strconv.Atoi(f[0])
	if err != nil {
		return minPort
	}
	return low
}

// RawBackend is an upstream on loopback that hands each accepted connection to fn, with
// deadline as the connection's deadline, counting the connections in accepted (when not
// nil). It returns the address; the listener closes when the test ends.
func RawBackend(t testing.TB, accepted *atomic.Int64, deadline time.Duration, fn func(c net.Conn)) string {
	t.Helper()
	ln := Listen(t)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if accepted != nil {
				accepted.Add(1)
			}
			go func() {
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(deadline))
				fn(c)
			}()
		}
	}()
	return ln.Addr().String()
}

// ReadRequestHead reads one request head from br and returns its Content-Length (0 if none).
func ReadRequestHead(br *bufio.Reader) (int, error) {
	cl := 0
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return 0, err
		}
		if line == "\r\n" {
			return cl, nil
		}
		if k, v, ok := strings.Cut(line, ":"); ok && strings.EqualFold(k, "content-length") {
			cl, _ = strconv.Atoi(strings.TrimSpace(v))
		}
	}
}
