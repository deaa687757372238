package tcplisten

import (
	"context"
	"net"
	"runtime"
	"testing"
)

// TestReusePort: two listening sockets share one port when both set ReusePort, and a second
// socket without it cannot bind the port (Linux; elsewhere ReusePort changes nothing).
func TestReusePort(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("SO_REUSEPORT is set on Linux only")
	}
	listen := func(addr string, reuse bool) (net.Listener, error) {
		lc := Config()
		if reuse {
			ReusePort(&lc)
		}
		return lc.Listen(context.Background(), "tcp", addr)
	}
	first, err := listen("127.0.0.1:0", true)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	addr := first.Addr().String()
	if plain, err := listen(addr, false); err == nil {
		plain.Close()
		t.Fatalf("a socket without SO_REUSEPORT bound %s as well", addr)
	}
	second, err := listen(addr, true)
	if err != nil {
		t.Fatalf("a second socket with SO_REUSEPORT on %s: %v", addr, err)
	}
	second.Close()
}
