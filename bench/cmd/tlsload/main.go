// Command tlsload is the handshake load of `make bench` (package bench/tlsload): a new HTTPS
// connection per request, full handshakes or resumed ones. It prints one line as the harness's
// wrk.lua does: "ZPBENCH " and the totals as JSON.
//
//	tlsload -c 64 -d 10s [-resume] [-H 'Name: value'] https://127.0.0.1:PORT/path
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/zoneproxy/zoneproxy/bench/tlsload"
)

type headers []string

func (h *headers) String() string     { return strings.Join(*h, ", ") }
func (h *headers) Set(v string) error { *h = append(*h, v); return nil }

func main() {
	var o tlsload.Options
	var hs headers
	flag.IntVar(&o.Conns, "c", 64, "concurrent connections")
	flag.DurationVar(&o.Duration, "d", 10*time.Second, "duration")
	flag.BoolVar(&o.Resume, "resume", false, "offer the previous session back (resumed handshakes)")
	flag.DurationVar(&o.Timeout, "timeout", 5*time.Second, "timeout of one request")
	flag.Var(&hs, "H", "extra request header, repeatable")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: tlsload [flags] https://host:port/path")
		os.Exit(2)
	}
	o.URL, o.Headers = flag.Arg(0), hs
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	r, err := tlsload.Run(ctx, o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "tlsload:", err)
		os.Exit(1)
	}
	b, _ := json.Marshal(r)
	fmt.Printf("ZPBENCH %s\n", b)
}
