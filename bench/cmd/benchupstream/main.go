// Command benchupstream is the upstream of `make bench`: a keep-alive fasthttp server answering a fixed
// JSON body (100 bytes; 1 KiB on paths ending in /1k, 64 KiB on /64k). It stops on SIGTERM or Ctrl-C.
//
//	benchupstream -addr 127.0.0.1:PORT
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/valyala/fasthttp"

	"github.com/zoneproxy/zoneproxy/bench/upstream"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := serve(ctx, *addr); err != nil {
		fmt.Fprintln(os.Stderr, "benchupstream:", err)
		os.Exit(1)
	}
}

func serve(ctx context.Context, addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("-addr: %w", err)
	}
	srv := &fasthttp.Server{
		Handler:               upstream.New().Handler,
		NoDefaultServerHeader: true,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	fmt.Printf("benchupstream: listening on %s\n", ln.Addr())
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		return srv.Shutdown()
	}
}
