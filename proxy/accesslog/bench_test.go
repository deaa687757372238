package accesslog_test

import (
	"context"
	"io"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/zoneproxy/zoneproxy/proxy/accesslog"
)

func benchRecord() accesslog.Record {
	return accesslog.Record{
		RemoteAddr:     netip.MustParseAddr("192.0.2.7"),
		Method:         []byte("GET"),
		URI:            []byte("/api/v1/orders/12345?expand=items&limit=20"),
		Protocol:       []byte("HTTP/1.1"),
		Host:           []byte("api.example.com"),
		Referer:        []byte("https://www.example.com/orders"),
		UserAgent:      []byte("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36"),
		RequestID:      []byte("2f1c7a8e-4b7d-4c1e-9a55-0c2b8f1d3e4a"),
		Status:         200,
		BodyBytes:      4821,
		RequestTime:    3 * time.Millisecond,
		UpstreamAddr:   []byte("10.0.0.1:8080"),
		UpstreamStatus: 200,
		UpstreamTime:   2 * time.Millisecond,
		RouteID:        "orders",
	}
}

// BenchmarkAccessLog measures what Log costs a request: formatting and queueing one line, with a
// writer goroutine writing to io.Discard. The timer stops every 1024 lines until the writer has
// caught up, so that no line is dropped (a drop is cheaper and would flatter the figure).
func BenchmarkAccessLog(b *testing.B) {
	for _, format := range []string{accesslog.FormatCombined, accesslog.FormatJSON} {
		b.Run(format, func(b *testing.B) {
			l, err := accesslog.New(accesslog.Options{Format: format, Writer: io.Discard, FlushInterval: time.Millisecond})
			if err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- l.Run(ctx) }()
			rec := benchRecord()
			b.ReportAllocs()
			logged := uint64(0)
			for b.Loop() {
				l.Log(&rec)
				if logged++; logged%1024 == 0 {
					b.StopTimer()
					for l.Written()+l.Dropped() < logged {
						runtime.Gosched()
					}
					b.StartTimer()
				}
			}
			b.StopTimer()
			if d := l.Dropped(); d != 0 {
				b.Errorf("%d lines dropped", d)
			}
			cancel()
			if err := <-done; err != nil {
				b.Fatal(err)
			}
			l.Close()
		})
	}
}
