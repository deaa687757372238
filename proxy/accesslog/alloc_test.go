//go:build !race

package accesslog_test

import (
	"io"
	"net"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/zoneproxy/zoneproxy/proxy/accesslog"
)

func TestZeroAllocs(t *testing.T) {
	const runs = 200
	var ctx fasthttp.RequestCtx
	ctx.Init(&fasthttp.Request{}, &net.TCPAddr{IP: net.IPv4(192, 0, 2, 7), Port: 5555}, nil)
	ctx.Request.SetRequestURI("/a?b=c")
	ctx.Request.Header.SetUserAgent("ua")
	ctx.Request.Header.Set("X-Request-Id", "id")
	ctx.Request.Header.Set("Authorization", "Basic YWxpY2U6cHc=")
	ctx.SetBodyString("hello")

	tests := []struct {
		name string
		opts accesslog.Options
	}{
		{"combined", accesslog.Options{}},
		{"json", accesslog.Options{Format: accesslog.FormatJSON,
			Fields: append(accesslog.DefaultFields(), "host", "referer", "user_agent", "remote_user", "protocol")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := tt.opts
			opts.BufferLines = 2 * runs // no writer: every line must fit
			opts.Writer = io.Discard
			l, err := accesslog.New(opts)
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			rec := benchRecord()
			if n := testing.AllocsPerRun(runs, func() { l.Log(&rec) }); n != 0 {
				t.Errorf("Log: %v allocations, want 0", n)
			}
			if n := testing.AllocsPerRun(runs/4, func() {
				var r accesslog.Record
				r.FromCtx(&ctx)
				l.Log(&r)
			}); n != 0 {
				t.Errorf("FromCtx and Log: %v allocations, want 0", n)
			}
			if l.Dropped() != 0 {
				t.Errorf("%d lines dropped", l.Dropped())
			}
		})
	}
}
