package proxy

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"runtime"
	"runtime/metrics"
	"testing"

	"github.com/zoneproxy/zoneproxy/upstream"
)

// idleMemory reads the Go runtime's stack and heap-object bytes in use.
func idleMemory() (stacks, objects uint64) {
	s := []metrics.Sample{{Name: "/memory/classes/heap/stacks:bytes"}, {Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64(), s[1].Value.Uint64()
}

// BenchmarkIdleConns opens idleBenchConns keep-alive connections to the proxy, sends one proxied
// request on each and leaves them idle, as the bench harness's idle10k scenario does, and reports
// what one idle connection costs the process: goroutine stack and heap bytes, first as the server
// left them and then after a garbage collection (which shrinks the stacks that grew while the
// request was proxied). The client side's share (a net.Conn each, no goroutine) is in the heap
// figure. Run it alone: go test -run XXX -bench IdleConns -benchtime 1x ./proxy/
func BenchmarkIdleConns(b *testing.B) {
	const idleBenchConns = 2000
	h := start(b, Options{}, upstream.Options{}, "/apisix/routes/1", route("/*", "", "", fastBackend(b)))
	raw := []byte("GET /idle HTTP/1.1\r\nHost: bench\r\n\r\n")
	for i := 0; i < b.N; i++ {
		runtime.GC()
		stacks0, objects0 := idleMemory()
		conns := make([]net.Conn, 0, idleBenchConns)
		for range idleBenchConns {
			c, err := net.Dial("tcp", h.addr)
			if err != nil {
				b.Fatal(err)
			}
			conns = append(conns, c)
			if _, err := c.Write(raw); err != nil {
				b.Fatal(err)
			}
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				b.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Fatalf("status %d", resp.StatusCode)
			}
		}
		stacks1, objects1 := idleMemory()
		runtime.GC()
		runtime.GC()
		stacks2, objects2 := idleMemory()
		perConn := func(after, before uint64) float64 {
			return float64(int64(after)-int64(before)) / idleBenchConns / 1024
		}
		b.ReportMetric(perConn(stacks1, stacks0), "stack-KiB/conn")
		b.ReportMetric(perConn(objects1, objects0), "heap-KiB/conn")
		b.ReportMetric(perConn(stacks2, stacks0), "stack-after-GC-KiB/conn")
		b.ReportMetric(perConn(objects2, objects0), "heap-after-GC-KiB/conn")
		for _, c := range conns {
			_ = c.Close()
		}
	}
}
