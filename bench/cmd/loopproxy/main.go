// Command loopproxy is the event-loop experiment of issue 22 (item 4), measured by `make bench` as
// the "loop" rows: the bare forwarder of bench/cmd/bareproxy rebuilt on epoll instead of a
// goroutine per connection. One event loop per GOMAXPROCS, each on a locked OS thread with its own
// SO_REUSEPORT listening socket, its clients and its pool of upstream keep-alive connections, all
// registered once, edge-triggered; request and response heads are parsed incrementally, hop-by-hop
// fields dropped, bodies (Content-Length or chunked) relayed as they arrive without being looked
// at beyond where they end, a response written with one write or writev where it came in one read.
//
// It is an experiment, not a server: no timeouts, no TLS, no HTTP/2, no upgrades, no routing, no
// configuration. It is correct for what the harness sends (see loopproxy_test.go) and refuses what
// it cannot frame.
//
//	loopproxy -addr 127.0.0.1:PORT -upstream 127.0.0.1:PORT
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"syscall"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	up := flag.String("upstream", "", "backend address host:port")
	loops := flag.Int("loops", runtime.GOMAXPROCS(0), "event loops (default GOMAXPROCS)")
	flag.BoolVar(&rawWait, "rawwait", rawWait, "wait in epoll_wait without the Go scheduler's syscall bookkeeping")
	flag.Parse()
	if *up == "" || *loops < 1 {
		fmt.Fprintln(os.Stderr, "loopproxy: -upstream is required and -loops must be positive")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	s, err := start(*addr, *up, *loops)
	if err != nil {
		fmt.Fprintln(os.Stderr, "loopproxy:", err)
		os.Exit(1)
	}
	fmt.Printf("loopproxy: listening on %s with %d loops\n", s.addr, len(s.loops))
	<-ctx.Done()
	s.close()
}
