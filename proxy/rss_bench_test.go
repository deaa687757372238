package proxy

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/zoneproxy/zoneproxy/upstream"
)

// streamBenchBytes is how much BenchmarkStreamRSS moves each way: 1 GiB, or
// ZONEPROXY_STREAM_BYTES.
func streamBenchBytes(b *testing.B) int64 {
	if v := os.Getenv("ZONEPROXY_STREAM_BYTES"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			b.Fatalf("ZONEPROXY_STREAM_BYTES=%q", v)
		}
		return n
	}
	return 1 << 30
}

// rssSampler records the peak resident set size of the process (VmRSS) and of the Go heap
// (HeapInuse) while it runs.
type rssSampler struct {
	stop      chan struct{}
	done      sync.WaitGroup
	rss, heap uint64
}

func sampleRSS() *rssSampler {
	s := &rssSampler{stop: make(chan struct{})}
	s.done.Add(1)
	go func() {
		defer s.done.Done()
		tk := time.NewTicker(20 * time.Millisecond)
		defer tk.Stop()
		var ms runtime.MemStats
		for {
			s.rss = max(s.rss, vmRSS())
			runtime.ReadMemStats(&ms)
			s.heap = max(s.heap, ms.HeapInuse)
			select {
			case <-s.stop:
				return
			case <-tk.C:
			}
		}
	}()
	return s
}

// end stops sampling and returns the peaks in MiB.
func (s *rssSampler) end() (rss, heap float64) {
	close(s.stop)
	s.done.Wait()
	return float64(s.rss) / (1 << 20), float64(s.heap) / (1 << 20)
}

// vmRSS is the process's resident set size from /proc/self/status (0 where there is none).
func vmRSS() uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range bytes.Split(b, []byte("\n")) {
		if v, ok := bytes.CutPrefix(line, []byte("VmRSS:")); ok {
			var kb uint64
			_, _ = fmt.Sscan(string(bytes.TrimSpace(bytes.TrimSuffix(bytes.TrimSpace(v), []byte("kB")))), &kb)
			return kb << 10
		}
	}
	return 0
}

// BenchmarkStreamRSS streams 1 GiB up and then down through the proxy (client, proxy and
// upstream all in this process) and reports the peak RSS of the process and of the Go heap.
// Run it alone: go test -run XXX -bench StreamRSS -benchtime 1x ./proxy/
func BenchmarkStreamRSS(b *testing.B) {
	size := streamBenchBytes(b)
	h := start(b, Options{}, upstream.Options{}, "/apisix/routes/1", route("/*", "", "", streamBackend(b)))
	client := &http.Client{}
	for _, dir := range []string{"upload", "download"} {
		b.Run(dir, func(b *testing.B) {
			runtime.GC()
			b.SetBytes(size)
			b.ReportAllocs()
			s := sampleRSS()
			for i := 0; i < b.N; i++ {
				var req *http.Request
				if dir == "upload" {
					req, _ = http.NewRequest(http.MethodPost, h.base+"/up", newPattern(size))
					req.ContentLength = size
				} else {
					req, _ = http.NewRequest(http.MethodGet, h.base+"/down?n="+strconv.FormatInt(size, 10), nil)
				}
				resp, err := client.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				n, err := io.Copy(io.Discard, bufio.NewReader(resp.Body))
				resp.Body.Close()
				if err != nil || resp.StatusCode != 200 || (dir == "download" && n != size) {
					b.Fatalf("status %d, %d bytes, %v", resp.StatusCode, n, err)
				}
			}
			rss, heap := s.end()
			b.ReportMetric(rss, "peak-RSS-MiB")
			b.ReportMetric(heap, "peak-heap-MiB")
		})
	}
}
