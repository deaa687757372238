package proxy

import (
	"bufio"
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/zoneproxy/zoneproxy/upstream"
)

// patternBlock is the period of pattern's bytes: pseudo-random, of a prime length so that it
// does not line up with any buffer size.
var patternBlock = func() []byte {
	b := make([]byte, 4093)
	x := uint32(2463534242)
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x)
	}
	return b
}()

// pattern is a deterministic, allocation-free byte source of n bytes.
type pattern struct{ n, off int64 }

func newPattern(n int64) *pattern { return &pattern{n: n} }

func (p *pattern) Read(b []byte) (int, error) {
	if p.off >= p.n {
		return 0, io.EOF
	}
	if rest := p.n - p.off; int64(len(b)) > rest {
		b = b[:rest]
	}
	n := 0
	for n < len(b) {
		n += copy(b[n:], patternBlock[(p.off+int64(n))%int64(len(patternBlock)):])
	}
	p.off += int64(n)
	return n, nil
}

func patternCRC(n int64) uint32 {
	h := crc32.NewIEEE()
	_, _ = io.Copy(h, newPattern(n))
	return h.Sum32()
}

// streamBackend: POST /up answers "<bytes> <crc32>" of the body it received and how it was
// framed; GET /down?n=N sends N pattern bytes, with a Content-Length unless chunked=1.
func streamBackend(t testing.TB) string {
	return backend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/up":
			h := crc32.NewIEEE()
			n, err := io.Copy(h, r.Body)
			if err != nil {
				w.WriteHeader(http.StatusBadRequest)
				return
			}
			fmt.Fprintf(w, "%d %d cl=%d te=%v", n, h.Sum32(), r.ContentLength, r.TransferEncoding)
		case "/down":
			n, _ := strconv.ParseInt(r.URL.Query().Get("n"), 10, 64)
			if r.URL.Query().Get("chunked") != "1" {
				w.Header().Set("Content-Length", strconv.FormatInt(n, 10))
			}
			_, _ = io.Copy(w, newPattern(n))
		}
	}))
}

// allocatedDuring reports the bytes the whole process allocated while fn ran.
func allocatedDuring(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestStreaming: bodies far larger than the buffers pass both ways intact, and the process
// allocates a small fraction of their size doing it: they are never held whole.
func TestStreaming(t *testing.T) {
	size := int64(32 << 20)
	if raceEnabled {
		size = 8 << 20
	}
	sum := patternCRC(size)
	h := start(t, Options{}, upstream.Options{}, "/apisix/routes/1", route("/*", "", "", streamBackend(t)))
	client := &http.Client{Timeout: waitFor}
	tests := []struct {
		name    string
		request func() (*http.Request, error)
		want    string // body prefix, "" to check the pattern instead
	}{
		{"upload with Content-Length", func() (*http.Request, error) {
			req, err := http.NewRequest(http.MethodPost, h.base+"/up", newPattern(size))
			if err == nil {
				req.ContentLength = size
			}
			return req, err
		}, fmt.Sprintf("%d %d cl=%d te=[]", size, sum, size)},
		{"upload chunked", func() (*http.Request, error) {
			return http.NewRequest(http.MethodPost, h.base+"/up", io.MultiReader(newPattern(size)))
		}, fmt.Sprintf("%d %d cl=-1 te=[chunked]", size, sum)},
		{"download with Content-Length", func() (*http.Request, error) {
			return http.NewRequest(http.MethodGet, h.base+"/down?n="+strconv.FormatInt(size, 10), nil)
		}, ""},
		{"download chunked", func() (*http.Request, error) {
			return http.NewRequest(http.MethodGet, h.base+"/down?chunked=1&n="+strconv.FormatInt(size, 10), nil)
		}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got string
			var n int64
			var crc uint32
			alloc := allocatedDuring(func() {
				req, err := tt.request()
				if err != nil {
					t.Fatal(err)
				}
				resp, err := client.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				if resp.StatusCode != 200 {
					t.Fatalf("status %d", resp.StatusCode)
				}
				if tt.want != "" {
					b, _ := io.ReadAll(resp.Body)
					got = string(b)
					return
				}
				h := crc32.NewIEEE()
				n, err = io.Copy(h, bufio.NewReader(resp.Body))
				if err != nil {
					t.Fatal(err)
				}
				crc = h.Sum32()
			})
			switch {
			case tt.want != "" && got != tt.want:
				t.Errorf("upstream received %q, want %q", got, tt.want)
			case tt.want == "" && (n != size || crc != sum):
				t.Errorf("client received %d bytes, crc %d; want %d, %d", n, crc, size, sum)
			}
			if alloc > uint64(size)/4 {
				t.Errorf("allocated %d MiB streaming %d MiB: the body was buffered", alloc>>20, size>>20)
			}
			t.Logf("allocated %d KiB for %d MiB", alloc>>10, size>>20)
		})
	}
}

// TestSmallChunkedUploadBuffered: a chunked body that ends within RequestBufferSize is buffered
// and sent with a Content-Length (so that it can be replayed).
func TestSmallChunkedUploadBuffered(t *testing.T) {
	h := start(t, Options{}, upstream.Options{}, "/apisix/routes/1", route("/*", "", "", streamBackend(t)))
	req, _ := http.NewRequest(http.MethodPost, h.base+"/up", io.MultiReader(strings.NewReader("hello")))
	resp, body := do(t, req)
	want := fmt.Sprintf("5 %d cl=5 te=[]", crc32.ChecksumIEEE([]byte("hello")))
	if resp.StatusCode != 200 || body != want {
		t.Errorf("got %d %q, want %q", resp.StatusCode, body, want)
	}
}

// TestHTTP10Client: HTTP/1.0 has no chunked encoding; a body of unknown length reaches an
// HTTP/1.0 client unframed, ended by the connection's close, as nginx sends it.
func TestHTTP10Client(t *testing.T) {
	h := start(t, Options{}, upstream.Options{}, "/apisix/routes/1", route("/*", "", "", streamBackend(t)))
	tests := []struct {
		name, query string
		wantHead    []string
	}{
		{"chunked upstream body", "chunked=1&n=300000", []string{"Connection: close\r\n"}},
		{"known length", "n=300000", []string{"Content-Length: 300000\r\n"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, resp := rawExchange(t, h.addr, "GET /down?"+tt.query+" HTTP/1.0\r\nHost: x\r\n\r\n")
			head, body, _ := strings.Cut(resp, "\r\n\r\n")
			if strings.Contains(head, "Transfer-Encoding") || !strings.HasPrefix(head, "HTTP/1.1 200 OK\r\n") {
				t.Errorf("head %q", head)
			}
			for _, w := range tt.wantHead {
				if !strings.Contains(head+"\r\n", w) {
					t.Errorf("head %q lacks %q", head, w)
				}
			}
			if len(body) != 300000 || crc32.ChecksumIEEE([]byte(body)) != patternCRC(300000) {
				t.Errorf("body of %d bytes, want the 300000 sent", len(body))
			}
		})
	}
}

// TestEarlyResponse: an upstream that answers a large upload without reading it (a 413, a 401)
// and closes: its answer reaches the client, which is still uploading, and is not a 502.
func TestEarlyResponse(t *testing.T) {
	addr := backend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusRequestEntityTooLarge)
		_, _ = io.WriteString(w, "too much for me")
	}))
	h := start(t, Options{}, upstream.Options{}, "/apisix/routes/1", route("/*", "", "", addr))
	c, err := net.Dial("tcp", h.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(waitFor))
	const size = 16 << 20
	// Send everything before reading, as curl does: the proxy must keep reading the body.
	_, _ = fmt.Fprintf(c, "PUT /up HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", size)
	if _, err := io.Copy(c, newPattern(size)); err != nil {
		t.Errorf("upload cut short: %v", err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusRequestEntityTooLarge || string(body) != "too much for me" {
		t.Errorf("got %d %q, want the upstream's 413", resp.StatusCode, body)
	}
}
