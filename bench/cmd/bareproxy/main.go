// Command bareproxy is the ceiling row of `make bench`: the simplest reverse proxy fasthttp makes —
// no routing, no configuration, no header added — one fasthttp.HostClient forwarding every request
// to the backend and copying its response back. zoneproxy does everything this does and more, so
// the gap between the two is what zoneproxy's own work costs.
//
//	bareproxy -addr 127.0.0.1:PORT -upstream 127.0.0.1:PORT [-reuseport]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/zoneproxy/zoneproxy/internal/tcplisten"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	up := flag.String("upstream", "", "backend address host:port")
	reuse := flag.Bool("reuseport", false, "SO_REUSEPORT on the listening socket (several processes on one port)")
	flag.Parse()
	if *up == "" {
		fmt.Fprintln(os.Stderr, "bareproxy: -upstream is required")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := serve(ctx, *addr, *up, *reuse); err != nil {
		fmt.Fprintln(os.Stderr, "bareproxy:", err)
		os.Exit(1)
	}
}

func serve(ctx context.Context, addr, upstream string, reuse bool) error {
	// Plain TCP with accept deferred until the client speaks, as zoneproxy's listener, so that the
	// ceiling row does not pay what zoneproxy saves.
	lc := tcplisten.Config()
	if reuse {
		tcplisten.ReusePort(&lc)
	}
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("-addr: %w", err)
	}
	// The same keep-alive pool the bench gives zoneproxy's upstream (keepalive_pool size 320,
	// APISIX's default). With more client connections than that (the c1000 scenario) a request
	// waits for a pooled connection rather than failing at once, as fasthttp does without a wait
	// timeout.
	client := &fasthttp.HostClient{Addr: upstream, MaxConns: 320, MaxConnWaitTimeout: 10 * time.Second}
	srv := &fasthttp.Server{
		NoDefaultServerHeader: true,
		Handler: func(ctx *fasthttp.RequestCtx) {
			// The client's Connection: close ends its own connection, not the pooled upstream one
			// (HostClient would pass it on and dial anew for every request of the close scenario).
			closing := ctx.Request.Header.ConnectionClose()
			ctx.Request.Header.ResetConnectionClose()
			if err := client.Do(&ctx.Request, &ctx.Response); err != nil {
				ctx.Error("bad gateway", fasthttp.StatusBadGateway)
			}
			if closing {
				ctx.SetConnectionClose()
			}
		},
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	fmt.Printf("bareproxy: listening on %s\n", ln.Addr())
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		return srv.Shutdown()
	}
}
